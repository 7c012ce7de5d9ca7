"""The download stage's settings: where the data comes from and its checksums (dataset.yaml's
`dataset` section: facts about the data set), and how long to wait for a mirror (params.yaml's
`download` section: a knob)."""

import re
import urllib.parse
from typing import Annotated

import pydantic
from pydantic import Field

from stages.shared import fashion_mnist
from stages.shared.params import Allowed, Section, Unit, rule

MAX_TIMEOUT = 3600
# One file from one mirror may take this many timeouts in all: 10 minutes at 30 s, enough for the
# largest file (26 MB gzipped) at 44 KB/s; a mirror slower than that is left for the next source.
DEADLINE_PER_TIMEOUT = 20
MAX_PORT = 65535


def is_url(source: str) -> bool:
    """Whether `source` is an HTTP(S) mirror; any other string is a directory."""
    return source.startswith(("http://", "https://"))


def url_problem(url: str) -> str:
    """What makes `url` unusable as a mirror, in words; "" if it has a host and a valid port."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as error:  # a bracket left open, a port that is no number or too large
        return str(error)
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    return ""


class Download(Section):
    """How long to wait for an HTTP(S) mirror."""

    timeout: Annotated[
        float,
        Field(
            gt=0,
            le=MAX_TIMEOUT,
            description="Seconds for an HTTP connection, and for each read; a file still "
            f"arriving from one mirror after {DEADLINE_PER_TIMEOUT} × `timeout` in all (10 "
            "minutes at 30) is given up for the next source.",
        ),
        Unit("seconds"),
    ]

    @property
    def deadline(self) -> float:
        """Seconds that one file may take in all from one HTTP(S) mirror."""
        return DEADLINE_PER_TIMEOUT * self.timeout


class Dataset(Section):
    """Where the four raw files come from, and how each is checked."""

    sources: Annotated[
        list[str],
        Field(
            min_length=1,
            description="Tried in order for each file: local directories (`~` expands) holding "
            "the `.gz` files, then HTTP(S) mirrors; the first verified copy wins. A source "
            "starting `http://` or `https://` is a URL, with a host and any port in [1, 65535]; "
            "any other is a directory.",
        ),
        Allowed("at least one directory or http(s) URL"),
    ]
    sha256: Annotated[
        dict[str, str],
        Field(
            description="SHA-256 of each file's decompressed content, by file name: mirrors "
            "gzip differently (and Zalando's MD5 sums are for the `.gz` files), the content is "
            "the same.",
            json_schema_extra={
                "propertyNames": {"enum": list(fashion_mnist.RAW_FILES)},
                "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "minProperties": len(fashion_mnist.RAW_FILES),
            },
        ),
    ]

    @pydantic.model_validator(mode="after")
    def _checksums_of_the_four_files(self) -> "Dataset":
        rule(
            sorted(self.sha256) == sorted(fashion_mnist.RAW_FILES),
            "sha256",
            f"exactly the keys {', '.join(fashion_mnist.RAW_FILES)}",
        )
        for name, digest in self.sha256.items():
            rule(bool(re.fullmatch(r"[0-9a-f]{64}", digest)), f"sha256.{name}", "64 hex digits")
        return self

    @pydantic.model_validator(mode="after")
    def _urls_that_parse(self) -> "Dataset":
        for i, source in enumerate(self.sources):
            problem = url_problem(source) if is_url(source) else ""
            rule(
                not problem,
                f"sources.{i}",
                f"an http(s) URL with a host and a port in [1, {MAX_PORT}] ({problem}), or a "
                "directory",
            )
        return self

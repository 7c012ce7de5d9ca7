"""The download section of params.yaml."""

import re
from typing import Annotated

import pydantic
from pydantic import Field

from stages.shared import fashion_mnist
from stages.shared.params import Allowed, Section, Unit, rule

MAX_TIMEOUT = 3600


class Download(Section):
    """Where the four raw files come from, and how each is checked."""

    sources: Annotated[
        list[str],
        Field(
            min_length=1,
            description="Tried in order for each file: local directories (`~` expands) holding "
            "the `.gz` files, then HTTP(S) mirrors; the first verified copy wins.",
        ),
        Allowed("at least one directory or http(s) URL"),
    ]
    sha256: Annotated[
        dict[str, str],
        Field(
            description="SHA-256 of each file's decompressed content (mirrors gzip differently; "
            "the content is the same), by file name.",
            json_schema_extra={
                "propertyNames": {"enum": list(fashion_mnist.RAW_FILES)},
                "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "minProperties": len(fashion_mnist.RAW_FILES),
            },
        ),
    ]
    timeout: Annotated[
        float,
        Field(
            gt=0,
            le=MAX_TIMEOUT,
            description="Seconds for an HTTP connection, and for each read.",
        ),
        Unit("seconds"),
    ]

    @pydantic.model_validator(mode="after")
    def _checksums_of_the_four_files(self) -> "Download":
        rule(
            sorted(self.sha256) == sorted(fashion_mnist.RAW_FILES),
            "sha256",
            f"exactly the keys {', '.join(fashion_mnist.RAW_FILES)}",
        )
        for name, digest in self.sha256.items():
            rule(bool(re.fullmatch(r"[0-9a-f]{64}", digest)), f"sha256.{name}", "64 hex digits")
        return self

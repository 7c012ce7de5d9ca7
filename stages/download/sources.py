"""Where the raw files come from: each source (a local directory of `.gz` files, or an HTTP(S)
mirror) tried in order, each file decompressed and verified against its SHA-256."""

import contextlib
import gzip
import hashlib
import http.client
import logging
import socket
import threading
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import tqdm

from stages.download import settings
from stages.shared import idx
from stages.shared.errors import DataError

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
HOW_TO_GET_THE_DATA = (
    "to get the data without internet, install Debian's package "
    "(`sudo apt-get install dataset-fashion-mnist`, which `make setup` does), or copy the four "
    "*.gz files into ~/.keras/datasets/fashion-mnist, or add a directory or mirror that has them "
    "to dataset.yaml's `sources`; then run `dvc repro download` again"
)


class _Deadline:
    """A download's deadline: once `seconds` have passed, every connection it made is shut down,
    which wakes whatever waits on it (the headers, the next bytes of the body) at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.expired = seconds, False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _watched(connection_class: type, deadline: _Deadline) -> type:
    """`connection_class` (http.client's), its socket handed to `deadline` once connected (for
    HTTPS: after the TLS handshake, which `timeout` alone bounds)."""

    class Watched(connection_class):
        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)

    return Watched


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """urllib's opener (proxies, redirects), every connection it makes watched by `deadline`."""

    class Handler(urllib.request.HTTPHandler):
        def do_open(self, http_class: type, request: object, **kwargs: object) -> object:
            return super().do_open(_watched(http_class, deadline), request, **kwargs)

    class SecureHandler(urllib.request.HTTPSHandler):
        def do_open(self, http_class: type, request: object, **kwargs: object) -> object:
            return super().do_open(_watched(http_class, deadline), request, **kwargs)

    return urllib.request.build_opener(Handler, SecureHandler)


def _reason(error: Exception) -> str:
    """A source's failure in one line: urllib's reason ("[Errno 111] Connection refused"), an HTTP
    status, or the exception's class and message (a malformed URL, an answer that is not HTTP)."""
    if isinstance(error, urllib.error.HTTPError):
        text = f"HTTP {error.code} {error.reason}"
    elif isinstance(error, urllib.error.URLError):
        text = str(error.reason)
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split())


@contextlib.contextmanager
def _source_failures(deadline: _Deadline) -> Iterator[None]:
    """Whatever the source does wrong (no answer, an HTTP error, an answer that is not HTTP, a
    malformed URL, the deadline passed) as a DataError: the next source is tried."""
    try:
        yield
    except (OSError, http.client.HTTPException, ValueError) as error:
        if deadline.expired:
            raise DataError(_too_slow(deadline)) from error
        raise DataError(_reason(error)) from error


def _too_slow(deadline: _Deadline) -> str:
    return (
        f"still arriving after {deadline.seconds:g} s, the deadline for one file "
        f"({settings.DEADLINE_PER_TIMEOUT} × download.timeout)"
    )


def fetch_url(url: str, dest: Path, timeout: float, deadline: float, limit: int) -> None:
    """Stream `url` to `dest` with a progress bar; `timeout` bounds connecting and each read,
    `deadline` the whole file. DataError if the source fails in any way, sends more than `limit`
    bytes, or is still sending after `deadline` seconds."""
    with _Deadline(deadline) as watch, dest.open("wb") as out:
        with _source_failures(watch):
            response = _opener(watch).open(url, timeout=timeout)
        size, total = 0, response.length or None
        with (
            response,
            tqdm.tqdm(total=total, unit="B", unit_scale=True, desc=url, disable=None) as bar,
        ):
            while chunk := _read(response, watch):
                size += len(chunk)
                if size > limit:
                    raise DataError(f"more than {limit:,} bytes: larger than the real file")
                # A full disk raises OSError here: the machine's fault, not the source's.
                out.write(chunk)
                bar.update(len(chunk))
        if watch.expired:  # the shut connection ended the body early
            raise DataError(_too_slow(watch))


def _read(response: http.client.HTTPResponse, deadline: _Deadline) -> bytes:
    """The next bytes of the body, as soon as any arrive; b"" at its end."""
    with _source_failures(deadline):
        return response.read1(_CHUNK)


def decompressed_chunks(gz_path: Path) -> Iterator[bytes]:
    """The decompressed content of `gz_path`, a chunk at a time; DataError if it is corrupt."""
    try:
        with gzip.open(gz_path, "rb") as src:
            while chunk := src.read(_CHUNK):
                yield chunk
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
        raise DataError(f"not a complete gzip file ({error})") from error


def decompress_verified(gz_path: Path, dest: Path, name: str, sha256: str) -> None:
    """Decompress raw file `name` from `gz_path` into `dest` if its content has SHA-256 `sha256`;
    else DataError. Reading stops as soon as the content outgrows what its IDX header declares,
    so a decompression bomb writes no more than a real file would."""
    digest, size, expected = hashlib.sha256(), 0, None
    try:
        with dest.open("wb") as out:
            for chunk in decompressed_chunks(gz_path):
                expected = expected or idx.raw_size(chunk, name)
                size += len(chunk)
                if size > expected:
                    raise DataError(
                        f"decompresses to more than the {expected:,} bytes its header declares"
                    )
                digest.update(chunk)
                out.write(chunk)  # a full disk raises OSError: the machine's fault, not the file's
        if digest.hexdigest() != sha256:
            raise DataError(f"SHA-256 {digest.hexdigest()[:12]}… does not match {sha256[:12]}…")
    except DataError:
        dest.unlink(missing_ok=True)
        raise


def fetch_verified(
    name: str, source: str, sha256: str, out_dir: Path, timeout: float, deadline: float
) -> None:
    """Bring `name` from one source into `out_dir`, verified and decompressed; else DataError."""
    if not settings.is_url(source):
        try:
            gz_path = Path(source).expanduser() / f"{name}.gz"
        except RuntimeError as error:  # ~user of no such user
            raise DataError(f"cannot expand {source} ({error})") from error
        if not gz_path.is_file():
            raise DataError(f"no file {gz_path}")
        decompress_verified(gz_path, out_dir / name, name, sha256)
        return
    gz_path = out_dir / f"{name}.gz.part"
    # gzip never grows a file by more than a few bytes per 16 KB block: the raw size, plus 1%.
    limit = idx.max_raw_size(name) * 101 // 100
    try:
        fetch_url(f"{source.rstrip('/')}/{name}.gz", gz_path, timeout, deadline, limit)
        decompress_verified(gz_path, out_dir / name, name, sha256)
    finally:
        gz_path.unlink(missing_ok=True)


def fetch_from_first_source(
    name: str, dataset: settings.Dataset, cfg: settings.Download, out_dir: Path
) -> str:
    """Try each source of `dataset` in order for `name`; return the one that worked, or raise
    DataError naming every source with its reason."""
    failures = []
    for source in dataset.sources:
        try:
            fetch_verified(name, source, dataset.sha256[name], out_dir, cfg.timeout, cfg.deadline)
        except DataError as error:
            logger.info("%s: not from %s: %s", name, source, error)
            failures.append(f"  - {source}: {error}")
            continue
        return source
    raise DataError(
        f"{name}: no source has a verified copy:\n"
        + "\n".join(failures)
        + f"\n{HOW_TO_GET_THE_DATA}"
    )

"""Where the raw files come from: each source (a local directory of `.gz` files, or an HTTP(S)
mirror) tried in order, each file decompressed and verified against its SHA-256."""

import gzip
import hashlib
import logging
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
    "*.gz files into ~/.keras/datasets/fashion-mnist; then run `dvc repro download` again"
)


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch_url(url: str, dest: Path, timeout: float, limit: int) -> None:
    """Stream `url` to `dest` with a progress bar; `timeout` bounds connecting and each read;
    DataError as soon as more than `limit` bytes arrive."""
    with urllib.request.urlopen(url, timeout=timeout) as response, dest.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        size = 0
        with tqdm.tqdm(total=total, unit="B", unit_scale=True, desc=url, disable=None) as bar:
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise DataError(f"more than {limit:,} bytes: larger than the real file")
                out.write(chunk)
                bar.update(len(chunk))


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


def fetch_verified(name: str, source: str, sha256: str, out_dir: Path, timeout: float) -> None:
    """Bring `name` from one source into `out_dir`, verified and decompressed; else DataError."""
    if not is_url(source):
        gz_path = Path(source).expanduser() / f"{name}.gz"
        if not gz_path.is_file():
            raise DataError(f"no file {gz_path}")
        decompress_verified(gz_path, out_dir / name, name, sha256)
        return
    gz_path = out_dir / f"{name}.gz.part"
    # gzip never grows a file by more than a few bytes per 16 KB block: the raw size, plus 1%.
    limit = idx.max_raw_size(name) * 101 // 100
    try:
        fetch_url(f"{source.rstrip('/')}/{name}.gz", gz_path, timeout, limit)
        decompress_verified(gz_path, out_dir / name, name, sha256)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise DataError(str(getattr(error, "reason", error))) from error
    finally:
        gz_path.unlink(missing_ok=True)


def fetch_from_first_source(name: str, cfg: settings.Download, out_dir: Path) -> str:
    """Try each source in order for `name`; return the one that worked, or raise DataError naming
    every source with its reason."""
    failures = []
    for source in cfg.sources:
        try:
            fetch_verified(name, source, cfg.sha256[name], out_dir, cfg.timeout)
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

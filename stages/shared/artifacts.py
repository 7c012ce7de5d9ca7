"""A stage's outputs, written all or none: each is written to a temporary file beside it, and all
are renamed into place together once every one is complete. A reader (or `dvc repro` after a
failure) sees the previous outputs or the new ones, never half of one nor half of the set."""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stages.shared import record
from stages.shared.errors import PipelineError

if TYPE_CHECKING:
    import pandas as pd  # the caller's: importing it takes 0.2–0.3 s that `--help` would pay

# Faults of the machine, not of the code: reported in one line with the fix, like a user error.
_ENVIRONMENT_FIXES = {
    errno.ENOSPC: "free some space on that disk",
    errno.EDQUOT: "free some space within your disk quota",
    errno.EROFS: "the file system is mounted read-only: make it writable or work elsewhere",
    errno.EACCES: "make it writable for you (chmod/chown)",
    errno.EPERM: "make it writable for you (chmod/chown)",
}
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class OutputError(PipelineError):
    """An output cannot be written: a full disk, a read-only file system, no permission."""


class InterruptedAfterWriting(KeyboardInterrupt):
    """Ctrl-C or SIGTERM arrived while the outputs were being renamed into place: they are all
    new, but the program that ran the stage (e.g. `dvc repro`) has not recorded them."""


def environment_error(error: OSError, where: Iterable[Path]) -> OutputError | None:
    """The one-line OutputError for an OSError that is the machine's fault, else None."""
    fix = _ENVIRONMENT_FIXES.get(error.errno)
    if fix is None:
        return None
    place = ", ".join(sorted({str(p.parent) for p in where})) or error.filename or "."
    return OutputError(f"cannot write {place}: {error.strerror}; {fix}, then run again")


def check_place(path: Path, kind: str) -> None:
    """OutputError if `path` cannot become a `kind` ("file" or "directory"): a file stands where
    one of its folders must be, or the other kind stands at `path` itself. Checked when an output
    is staged, before the stage's work, not when it is renamed into place after it."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            raise OutputError(
                f"cannot write {path}: {parent} is a file, where a directory must be; move it "
                "away, then run again"
            )
    is_dir = path.is_dir() and not path.is_symlink()
    if path.exists() and is_dir != (kind == "directory"):
        found = "directory" if is_dir else "file"
        raise OutputError(
            f"cannot write {path}: a {found} is there, where the stage writes a {kind}; move it "
            "away, then run again"
        )


def _prefix(path: Path) -> str:
    """Temporary files are `.<name>.<pid>.<random>.tmp[<suffix>]`: the pid tells a stale one (its
    process is gone) from one being written right now. `.gitignore` ignores the pattern."""
    return f".{path.name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(path: Path) -> None:
    """Delete what a killed run (`kill -9`, a power cut) left beside `path`: temporary files and
    directories whose writing process is gone."""
    for leftover in _left_by_dead_processes(path, r"\.[^.]+\.tmp(\..*)?"):
        _remove(leftover)


def _left_by_dead_processes(path: Path, tail: str) -> list[Path]:
    """The entries beside `path` named `.<path's name>.<pid><tail>` (a regular expression)
    whose process `pid` is gone."""
    if not path.parent.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+){tail}")
    return [
        candidate
        for candidate in path.parent.iterdir()
        if (match := pattern.fullmatch(candidate.name)) and not _alive(int(match[1]))
    ]


def _remove(path: Path) -> None:
    """Delete file or directory `path`, if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _kept(path: Path) -> Path:
    """Where a live directory's last complete run waits while a new run logs into `path`."""
    return path.parent / f"{_prefix(path)}kept"


def restore_kept(path: Path) -> None:
    """Put back the last complete run of live directory `path` that a killed run (`kill -9`)
    kept aside: call it first thing, before any check can stop the stage."""
    for kept in _left_by_dead_processes(path, r"\.kept"):
        _put_back(kept, path)


def _put_back(kept: Path, path: Path) -> None:
    """Make `path` what `kept` holds: its directory, or no directory if `kept` is a file (the
    marker of a run that had none); nothing if nothing was kept aside. Each step is a rename,
    so a kill between two leaves `kept` for `restore_kept`."""
    if not kept.exists():
        return
    _trash(path, path)
    if kept.is_dir():
        os.replace(kept, path)
    else:
        kept.unlink()


class Outputs:
    """The outputs of one run, staged beside their final paths until `commit`."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []  # (temporary, final)
        self._finals: list[Path] = []  # every output asked for, staged or not (yet)
        self._live: list[Path] = []  # live directories: written in place, the last run kept

    def file(self, path: Path) -> Path:
        """A new empty temporary file to write `path`'s content into. It keeps the suffix:
        Keras and matplotlib choose the format by it."""
        self._prepare(path, "file")
        fd, name = tempfile.mkstemp(
            dir=path.parent, prefix=_prefix(path), suffix=f".tmp{path.suffix}"
        )
        os.close(fd)
        self._staged.append((Path(name), path))
        return Path(name)

    def directory(self, path: Path) -> Path:
        """A new empty temporary directory to fill with `path`'s content."""
        self._prepare(path, "directory")
        name = tempfile.mkdtemp(dir=path.parent, prefix=_prefix(path), suffix=".tmp")
        self._staged.append((Path(name), path))
        return Path(name)

    def live_directory(self, path: Path) -> Path:
        """`path` itself, emptied, for a logger that writes into it as the run goes (dvclive: so
        that `dvc exp show`, `dvc plots` and the VS Code extension follow every epoch). The last
        complete run's directory is kept aside: it comes back if this run does not commit, or at
        the start of the next run if this one is killed (`restore_kept`)."""
        self._prepare(path, "directory")
        restore_kept(path)
        self._live.append(path)  # first: an interrupt from here on puts back what was kept
        kept = _kept(path)
        if path.exists():
            os.replace(path, kept)
        else:
            kept.touch()  # there was none: a failed run leaves none either
        path.mkdir()
        return path

    def finals(self) -> list[Path]:
        return list(self._finals)

    def _prepare(self, path: Path, kind: str) -> None:
        self._finals.append(path)
        check_place(path, kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)

    def commit(self) -> None:
        """Rename every staged output into place, with Ctrl-C and SIGTERM held back meanwhile so
        that the set is never left half-renamed; first, check that the params and code the stage
        ran with are still what `dvc repro` will record (stages/shared/record.py)."""
        record.check()
        for tmp, _ in self._staged:
            # mkstemp and mkdtemp create for their owner only; artifacts are shared files.
            tmp.chmod(0o755 if tmp.is_dir() else 0o644)
        with _signals_held_back() as received:
            for tmp, final in self._staged:
                if tmp.is_dir():
                    _replace_directory(tmp, final)
                else:
                    os.replace(tmp, final)
            for path in self._live:  # the new run is complete: the last one goes
                _trash(_kept(path), path)
            self._live.clear()
        if received:
            raise InterruptedAfterWriting(f"signal {received[0]}")

    def discard(self) -> None:
        for tmp, _ in self._staged:
            _remove(tmp)
        for path in self._live:  # not committed: the last complete run comes back
            _put_back(_kept(path), path)


def _trash(path: Path, output: Path) -> None:
    """Delete `path`, a file or directory beside `output`. A directory is first renamed to a
    temporary of `output`: a kill midway leaves one that the next run removes, never half of
    `path`."""
    if path.is_dir() and not path.is_symlink():
        _remove(_aside(path, output))
    else:
        path.unlink(missing_ok=True)


def _aside(path: Path, output: Path) -> Path:
    """Rename directory `path` to a new temporary of `output` (which `remove_stale_temporaries`
    deletes if the process dies), and return it."""
    aside = Path(tempfile.mkdtemp(dir=output.parent, prefix=_prefix(output), suffix=".tmp"))
    os.replace(path, aside)  # onto the empty directory just made
    return aside


def _replace_directory(tmp: Path, final: Path) -> None:
    """Swap directory `tmp` in for `final`; the old one goes aside first, then is deleted."""
    old = _aside(final, final) if final.exists() else None
    os.replace(tmp, final)
    if old is not None:
        _remove(old)


@contextlib.contextmanager
def _signals_held_back() -> Iterator[list[int]]:
    """Record Ctrl-C and SIGTERM instead of acting on them, within the block (main thread only:
    Python runs signal handlers there, whichever thread the signal reached)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {
        s: signal.signal(s, lambda signum, _: received.append(signum)) for s in _STOP_SIGNALS
    }
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def outputs() -> Iterator[Outputs]:
    """Stage outputs with `.file(path)` / `.directory(path)`; commit them all if the block
    succeeds, delete every temporary otherwise. A full disk, a read-only file system or a missing
    permission becomes a one-line OutputError."""
    staged = Outputs()
    try:
        yield staged
        staged.commit()
    except OSError as error:
        clear = environment_error(error, staged.finals())
        if clear is None:
            raise
        raise clear from error
    finally:
        staged.discard()


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """One file written all or none: `outputs()` with a single file."""
    with outputs() as staged:
        yield staged.file(path)


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """One directory written all or none: `outputs()` with a single directory."""
    with outputs() as staged:
        yield staged.directory(path)


def write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Mapping, sort_keys: bool = True) -> None:
    """Write `data` as indented JSON, its keys sorted so that diffs stay small and stable, or
    (`sort_keys=False`) in the order a reader wants them: `dvc exp show` keeps the file's."""
    write_text(path, json.dumps(data, indent=2, sort_keys=sort_keys) + "\n")


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_table(path: Path, table: pd.DataFrame, index: bool = True) -> None:
    """Write `table` as CSV with 6-decimal floats: precise enough, and stable across reruns."""
    table.to_csv(path, index=index, float_format="%.6f")

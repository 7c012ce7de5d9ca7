"""What a stage run started with: its params section as it read it, and its code. DVC hashes both
when the stage ends, not when it starts, so an edit made during a long run (the next experiment's
learning rate, a fix to the stage's code) would be recorded in dvc.lock for outputs made with the
old values. The stage therefore checks, just before its outputs replace the last good ones, that
the params section and every code file are still what it ran; if not, it keeps the last good
outputs and stops in one line.

`cli.run` starts the record for a stage run by DVC or by hand (`python -m stages.<stage>`),
`params.load` adds the section it read, and `artifacts.outputs` checks it before committing."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path

from stages.shared.errors import PipelineError

STAGES = Path(__file__).resolve().parents[1]
_current: ContextVar[Record | None] = ContextVar("record", default=None)


class ChangedDuringRun(PipelineError):
    """The params or code that a stage ran with changed before its outputs were written."""


@dataclasses.dataclass
class Section:
    """A params section as read at the start: where it came from and its values."""

    path: Path
    name: str
    values: object
    reread: Callable[[Path], object]  # reads the file again, as the stage did


@dataclasses.dataclass
class Record:
    """The code files (by content hash) and params sections that a stage run started with."""

    code: dict[Path, str]
    sections: list[Section] = dataclasses.field(default_factory=list)

    def check(self) -> None:
        """ChangedDuringRun naming the first change, if anything changed since the start."""
        for path, digest in self.code.items():
            if _digest(path) != digest:
                raise ChangedDuringRun(
                    f"{_shown(path)} changed during the run; the outputs of the code that ran "
                    "are not written: run `dvc repro` again"
                )
        for section in self.sections:
            try:
                document = section.reread(section.path)
            except PipelineError:
                document = None
            now = document.get(section.name) if isinstance(document, dict) else None
            if now != section.values:
                change = first_change(section.values, now)
                raise ChangedDuringRun(
                    f"{section.path.name}'s {section.name} section changed during the run "
                    f"({change}); the outputs of the values that ran are not written: run "
                    "`dvc repro` again"
                )


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _shown(path: Path) -> str:
    return (
        str(path.relative_to(STAGES.parent)) if path.is_relative_to(STAGES.parent) else str(path)
    )


def first_change(old: object, new: object, key: str = "") -> str:
    """The first difference between two params values, as `key old → new`."""
    if isinstance(old, dict) and isinstance(new, dict):
        for name in [*old, *(k for k in new if k not in old)]:
            if old.get(name, _MISSING) != new.get(name, _MISSING):
                return first_change(
                    old.get(name, _MISSING), new.get(name, _MISSING), f"{key}.{name}".lstrip(".")
                )
    where = key or "the section"
    if isinstance(old, dict) and not isinstance(new, dict):
        return f"{where} is gone" if new in (None, _MISSING) else f"{where} → {new!r}"
    shown = [("(none)" if v is _MISSING else repr(v)) for v in (old, new)]
    return f"{where} {shown[0]} → {shown[1]}"


_MISSING = object()


def stage_code(stage: str) -> dict[Path, str]:
    """The code a stage runs, as dvc.yaml lists it: every file of its package's folder (but
    compiled caches) and every shared module it has imported, by content hash."""
    folder = STAGES / stage
    files = [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    shared = [
        Path(module.__file__)
        for name, module in list(sys.modules.items())
        if name.startswith("stages.shared.") and getattr(module, "__file__", None)
    ]
    return {path: _digest(path) for path in sorted({*files, *shared})}


@contextlib.contextmanager
def recording(stage: str) -> Iterator[Record]:
    """Within the block, what stage `stage` starts with is recorded and checked before outputs
    are written."""
    record = Record(stage_code(stage))
    token = _current.set(record)
    try:
        yield record
    finally:
        _current.reset(token)


def note_section(path: Path, name: str, values: object, reread: Callable[[Path], object]) -> None:
    """Record a params section as the stage read it (no-op outside `recording`)."""
    record = _current.get()
    if record is not None:
        record.sections.append(Section(Path(path), name, values, reread))


def check() -> None:
    """ChangedDuringRun if what the running stage started with has changed (no-op outside
    `recording`)."""
    record = _current.get()
    if record is not None:
        record.check()

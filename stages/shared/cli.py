"""Runs a stage's `main` as a command: logging, clean exits on user errors and on SIGTERM, SIGHUP
or the end of the DVC process that runs it, and the record of what the stage started with."""

import contextlib
import logging
import signal
import sys
from collections.abc import Callable

from stages.shared import artifacts, lifeline, record
from stages.shared.errors import PipelineError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _stage_of(main: Callable) -> str | None:
    """The stage whose `main` this is (`stages.<stage>.__main__`), or None for a tool."""
    spec = getattr(main, "__globals__", {}).get("__spec__")
    parts = (getattr(spec, "name", "") or "").split(".")
    return (
        parts[1] if len(parts) == 3 and parts[0] == "stages" and parts[2] == "__main__" else None
    )


def run(main: Callable[[], int | None]) -> None:
    """Call `main` and exit with the code it returns; report a PipelineError in one line and exit
    2: no traceback hides the fix."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    # SIGTERM (a killed `dvc repro`, CI cancelling) unwinds like Ctrl-C, so the `finally` blocks
    # that delete temporary files run and no half-written artifact is left behind.
    for signum in (signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal was closed
        signal.signal(signum, _raise_keyboard_interrupt)
    lifeline.hold()
    stage = _stage_of(main)
    try:
        with record.recording(stage) if stage else contextlib.nullcontext():
            code = main()
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except OSError as error:
        # Outputs are mapped where they are written (artifacts.outputs); this catches the
        # machine's faults anywhere else, e.g. a temporary file of a library on a full disk.
        clear = artifacts.environment_error(error, [])
        if clear is None:
            raise
        print(f"error: {clear}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except artifacts.InterruptedAfterWriting:
        print(
            "interrupted after every output was written; run it again so that `dvc repro` "
            "records them",
            file=sys.stderr,
        )
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        stopped = lifeline.runner_stopped()
        why = f"{stopped}, so this stage stops too" if stopped else "interrupted"
        print(f"{why}: every output is as it was before this run", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code or 0)

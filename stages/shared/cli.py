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
# Ctrl-C; a killed `dvc repro`, CI cancelling, the lifeline; the terminal was closed.
INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, frame: object) -> None:
    """Unwind like Ctrl-C, once: the first signal starts the clean-up and later ones are ignored,
    so that they cannot cut it short. They come in bursts: Ctrl-C pressed twice, or Ctrl-C that
    also ends the shell DVC runs the command in (dash dies of SIGINT), whose end sends SIGTERM
    through the lifeline while the stage is still putting its outputs back."""
    for each in INTERRUPTS:
        # Not SIG_IGN: a signal already pending would then print "ignored due to race condition".
        signal.signal(each, _already_stopping)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _already_stopping(signum: int, frame: object) -> None:
    """A later interrupt: the stage is already stopping."""


def _exit_interrupted(message: str) -> None:
    print(message, file=sys.stderr)
    # Python restores the default handlers as it shuts down: a late signal of a burst would then
    # kill it, and turn exit 130 into death by signal.
    for each in INTERRUPTS:
        signal.signal(each, signal.SIG_IGN)
    sys.exit(EXIT_INTERRUPTED)


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
    # Every interrupt unwinds like Ctrl-C, so the `finally` blocks that delete temporary files
    # run and no half-written artifact is left behind.
    for signum in INTERRUPTS:
        # An interrupt ignored by whoever started us stays ignored: `nohup` (SIGHUP), or a
        # shell's background job (SIGINT).
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _interrupt)
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
        _exit_interrupted(
            "interrupted after every output was written; run it again so that `dvc repro` "
            "records them"
        )
    except KeyboardInterrupt as interrupt:
        stopped = None if interrupt.args == ("SIGINT",) else lifeline.runner_stopped()
        why = f"{stopped}, so this stage stops too" if stopped else "interrupted"
        _exit_interrupted(f"{why}: every output is as it was before this run")
    sys.exit(code or 0)

"""DVC and git (and any other command) as subprocesses, one way for the tools, the benchmark and
the tests: the command's output (or, for a long run, its output streamed to ours), or a
PipelineError that shows the command and what it said."""

import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from stages.shared.errors import PipelineError


class CommandError(PipelineError):
    """A command exited non-zero; the message holds the command and its output."""

    def __init__(self, argv: Sequence[str], result: subprocess.CompletedProcess) -> None:
        if result.stdout is None and result.stderr is None:  # streamed (`stream`), not kept
            said = "; its output is above"
        else:
            said = ":\n" + "".join(part for part in (result.stdout, result.stderr) if part).strip()
        super().__init__(f"`{shown(argv)}` failed (exit {result.returncode}){said}")
        self.result = result


def dvc_argv(*args: str) -> list[str]:
    """DVC as this Python runs it: the same environment, whatever the PATH says."""
    return [sys.executable, "-m", "dvc", *args]


def shown(argv: Sequence[str]) -> str:
    """`argv` as a person would type it: `dvc …` for DVC run through this Python."""
    if list(argv[:3]) == [sys.executable, "-m", "dvc"]:
        argv = ["dvc", *argv[3:]]
    return " ".join(argv)


def attempt(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture_stdout: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """Run `argv` and return what happened, whatever its exit code. stderr is always kept; stdout
    too, unless `capture_stdout` is false (then it streams to ours, as a progress bar should).
    After `timeout` seconds the command is killed and subprocess.TimeoutExpired raised."""
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdout=subprocess.PIPE if capture_stdout else None,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )


def run(argv: Sequence[str], **options) -> str:
    """Run `argv`; its stdout, or CommandError if it exits non-zero."""
    result = attempt(argv, **options)
    if result.returncode != 0:
        raise CommandError(argv, result)
    return result.stdout


def stream(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> None:
    """Run `argv` with its stdout and stderr going straight to ours, each line as it prints it (a
    `dvc exp run` that trains for minutes shows every epoch's line when the stage logs it);
    CommandError if it exits non-zero, its output being already on the screen. Interrupted, it
    waits for the command to stop on its own, as DVC does for its stages: Ctrl-C reached it too
    (the same process group), and another signal is passed on."""
    with subprocess.Popen(list(argv), cwd=cwd, env=None if env is None else dict(env)) as process:
        try:
            code = process.wait()
        except KeyboardInterrupt as interrupt:  # stages.shared.cli turns signals into this
            name = interrupt.args[0] if interrupt.args else "SIGINT"
            if name != "SIGINT" and name in signal.Signals.__members__:
                process.send_signal(signal.Signals[name])
            process.wait()
            raise
    if code != 0:
        raise CommandError(argv, subprocess.CompletedProcess(argv, code))


def dvc(*args: str, **options) -> str:
    return run(dvc_argv(*args), **options)


def git(*args: str, **options) -> str:
    return run(["git", *args], **options)

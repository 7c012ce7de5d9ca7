"""Commands for the processes the tests interrupt, started as a terminal's foreground job is:
with the default action for the signals a terminal sends. A test run may have inherited them
ignored (`nohup make test` ignores SIGHUP; a shell script's `make test &` ignores SIGINT), and a
child inherits what is ignored, so a stage would rightly keep ignoring them (as `nohup` asks)
and a test of what an interrupt does would see none."""

from collections.abc import Sequence

TERMINAL_SIGNALS = ("INT", "TERM", "HUP")


def as_terminal_job(argv: Sequence[str], ignoring: Sequence[str] = ()) -> list[str]:
    """`argv` run through coreutils' env with each terminal signal at its default action, but
    those in `ignoring` (names without SIG, as `nohup` would have them) ignored; env execs the
    command, so the process keeps its pid."""
    defaults = ",".join(name for name in TERMINAL_SIGNALS if name not in ignoring)
    ignored = [f"--ignore-signal={','.join(ignoring)}"] if ignoring else []
    return ["env", f"--default-signal={defaults}", *ignored, *argv]

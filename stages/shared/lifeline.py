"""A stage run by DVC (`dvc repro`, `dvc exp run`, a queue worker) stops when DVC stops.

DVC dies without stopping the stage it runs when it gets SIGTERM (`timeout`, `kill`, a CI job's
cancel, a closed terminal) or SIGKILL (`subprocess.run(…, timeout=…)`): the stage would be
re-parented to PID 1, train on, and write outputs that no dvc.lock records. So a stage under DVC
asks for SIGTERM when its runner dies: on Linux from the kernel (PR_SET_PDEATHSIG), at once;
everywhere from a thread that checks the runner once a second. SIGTERM then unwinds the stage as
Ctrl-C does (stages/shared/cli.py): every output stays as it was."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

import psutil

# DVC sets it in the environment of every command it runs (dvc/env.py).
DVC_STAGE = "DVC_STAGE"
SHELLS = {"sh", "dash", "bash", "zsh", "fish", "ksh"}  # DVC runs each command with $SHELL -c
_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 1.0

# The runner being watched and this process's parent when the watch began (None: no watch).
_held: tuple[psutil.Process, int] | None = None


def runner() -> psutil.Process | None:
    """The process that runs this stage: the parent, or the parent's parent if the parent is
    the shell DVC started the command in; None if there is none."""
    try:
        parent = psutil.Process(os.getppid())
        if parent.name() in SHELLS and parent.ppid() > 1:
            return psutil.Process(parent.ppid())
        return parent
    except psutil.Error:
        return None


def _ask_the_kernel() -> None:
    """SIGTERM to this process when its parent dies (Linux only)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _alive(watched: psutil.Process, parent: int) -> bool:
    try:
        running = watched.is_running() and watched.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        running = False
    return running and os.getppid() == parent


def _watch(watched: psutil.Process, parent: int) -> None:
    while _alive(watched, parent):
        time.sleep(_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def runner_stopped() -> str | None:
    """Why this stage must stop, if the command that runs it has stopped; else None."""
    if _held is None or _alive(*_held):
        return None
    return f"the command that ran this stage (pid {_held[0].pid}) stopped"


def hold(environ: dict[str, str] | os._Environ = os.environ) -> None:
    """If DVC runs this stage, stop it (SIGTERM) when DVC stops; otherwise do nothing."""
    global _held
    if DVC_STAGE not in environ:
        return
    watched = runner()
    if watched is None:
        return
    parent = os.getppid()
    _held = (watched, parent)
    _ask_the_kernel()
    if not _alive(watched, parent):  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=_watch, args=(watched, parent), daemon=True).start()

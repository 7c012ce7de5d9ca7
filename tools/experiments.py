"""DVC experiments as the presets and the frontier search use them: named sets of params
overrides (YAML files of dotted keys), run now or queued with `dvc exp run -S …`, DVC's output
streamed as it prints it, and their results read back from `dvc exp show --json`: accuracy from
the pipeline's metrics, training time from metrics/time.json (which the train stage writes beside
them, and no dvc.lock holds)."""

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stages.shared import params
from stages.shared.errors import PipelineError
from tools import commands

# The metrics files an experiment's result is read from, as `dvc exp show --json` names them.
EVAL_METRICS = "metrics/eval.json"
TRAIN_METRICS = "metrics/train/metrics.json"
TIME_METRICS = "metrics/time.json"
# What an earlier experiment of the same name is renamed to while its replacement runs.
EARLIER_SUFFIX = "-earlier"
# The states of a queued experiment that `dvc exp run --run-all` runs.
WAITING = ("queued", "running")
# DVC's executors of the experiments run at once (`dvc exp run`, `--temp`), not by the queue.
NOT_QUEUED = ("workspace", "tempdir")


def read_overrides(path: Path) -> dict:
    """A YAML mapping of dotted params keys to values, read by DVC's YAML parser."""
    overrides = params.read_yaml(path)
    if not isinstance(overrides, dict):
        raise PipelineError(f"{path}: expected a mapping of dotted params keys to values")
    return overrides


def set_arguments(overrides: dict) -> list[str]:
    """`dvc exp run` arguments that set each key; values in YAML flow style (JSON is YAML)."""
    return [
        arg for key, value in overrides.items() for arg in ("-S", f"{key}={json.dumps(value)}")
    ]


def environment() -> dict[str, str]:
    """This process's environment with this Python's directory first on the PATH: DVC's queue
    starts its workers as `dvc`, and the stages run as `python`, both found on the PATH."""
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path}


def experiment_ref(name: str) -> str:
    """The git ref DVC keeps the experiment `name` of the current commit in."""
    head = commands.git("rev-parse", "HEAD").strip()
    return f"refs/exps/{head[:2]}/{head[2:]}/{name}"


def exists(ref: str) -> bool:
    return commands.attempt(["git", "rev-parse", "--verify", "--quiet", ref]).returncode == 0


@contextmanager
def replacing(name: str) -> Iterator[None]:
    """Make way for a new run of the experiment `name` on this commit, which DVC refuses while
    one exists (and `dvc exp run -f` would also rerun every stage): an earlier one is set aside,
    then removed if the new run is recorded, or put back if it is not (failed, interrupted)."""
    ref = experiment_ref(name)
    if not exists(ref):
        yield
        return
    print(
        f"{name}: this commit has an experiment {name} already; this run replaces it", flush=True
    )
    aside = f"{ref}{EARLIER_SUFFIX}"
    commands.dvc("exp", "rename", "--force", ref, aside.rsplit("/", 1)[1])
    try:
        yield
    finally:
        if exists(ref):
            commands.dvc("exp", "remove", aside)
            print(f"{name}: replaced the earlier experiment {name} of this commit", flush=True)
        else:
            commands.dvc("exp", "rename", aside, name)
            print(f"{name}: the run did not finish; the earlier experiment is kept", flush=True)


def run(name: str, overrides: dict, *, temp: bool, force: bool = False) -> None:
    """Run one experiment named `name` now (in a temporary copy if `temp`; every stage rerun
    if `force`), its output streamed; it replaces an earlier experiment of that name on this
    commit."""
    flags = [*(["--temp"] if temp else []), *(["--force"] if force else [])]
    argv = ["exp", "run", "-n", name, *flags, *set_arguments(overrides)]
    with replacing(name):
        commands.stream(commands.dvc_argv(*argv), env=environment())


def queue(name: str, overrides: dict, *, force: bool = False) -> None:
    """Add one experiment to DVC's queue, to run later with `run_queue`; with `force`, every
    stage reruns and the run replaces an experiment of that name on this commit."""
    flags = ["--force"] if force else []
    commands.dvc("exp", "run", "--queue", "-n", name, *flags, *set_arguments(overrides))


def run_queue() -> list[dict]:
    """Run every queued experiment, one at a time (timings stay comparable), their logs
    streamed; when the queue is empty, what became of each, as `read_queue` gives it, oldest
    queued first."""
    waiting = {task: entry for task, entry in queue_tasks().items() if entry["state"] in WAITING}
    commands.stream(commands.dvc_argv("exp", "run", "--run-all", "--jobs", "1"), env=environment())
    done = queue_tasks()
    return [done.get(task, entry) for task, entry in reversed(waiting.items())]


def read_show(baselines: list[dict]) -> dict[str, dict]:
    """{experiment name: {"baseline", "params", "metrics": {path: data}}} of every finished
    experiment in `dvc exp show --json`'s answer, the first of a name kept. Experiments still
    queued, running or failed are left out; so are metrics files DVC could not read."""
    found = {}
    for baseline in baselines:
        for experiment in baseline.get("experiments") or []:
            state = (experiment.get("executor") or {}).get("state", "success")
            for rev in experiment["revs"]:
                if state != "success" or not rev.get("name") or not rev.get("data"):
                    continue
                found.setdefault(rev["name"], read_rev(baseline, rev["data"]))
    return found


def read_rev(baseline: dict, data: dict) -> dict:
    """{"baseline", "params", "metrics": {path: data}} of one experiment's `data` in `dvc exp
    show --json`'s answer; the metrics files DVC could not read are left out."""
    return {
        "baseline": baseline["rev"],  # the commit it ran from: its code
        "params": data["params"]["params.yaml"]["data"],
        "metrics": {path: m["data"] for path, m in data["metrics"].items() if "data" in m},
    }


def read_queue(baselines: list[dict]) -> dict[str, dict]:
    """{task: {"name", "state", "log", "experiment"}} of every experiment DVC's queue holds or
    has run, in `dvc exp show --json`'s answer (newest first), by the commit DVC queued it as:
    its state ("queued", "running", "success", "failed"), the file DVC keeps its log in (None
    until it starts), and, once it succeeded, the experiment as `read_show` gives it."""
    found = {}
    for baseline in baselines:
        for experiment in baseline.get("experiments") or []:
            executor = experiment.get("executor") or {}
            local, rev = executor.get("local") or {}, experiment["revs"][0]
            if not local.get("task_id") or executor.get("name") in NOT_QUEUED:
                continue
            succeeded = executor["state"] == "success" and rev.get("data")
            found[local["task_id"]] = {
                "name": rev.get("name") or local["task_id"][:7],
                "state": executor["state"],
                "log": local.get("log"),
                "experiment": read_rev(baseline, rev["data"]) if succeeded else None,
            }
    return found


def queue_tasks() -> dict[str, dict]:
    """`read_queue` of every commit (`dvc exp show --json --all-commits`): the queue runs the
    experiments of every commit."""
    return read_queue(json.loads(commands.dvc("exp", "show", "--json", "--all-commits")))


def shown() -> dict[str, dict]:
    """`read_show` of every commit (`dvc exp show --json --all-commits`), newest first: a search
    outlives commits, and a rerun replaces an older run."""
    return read_show(json.loads(commands.dvc("exp", "show", "--json", "--all-commits")))


def shown_here(name: str) -> dict:
    """The experiment `name` of the current commit, as `read_show` gives it."""
    found = read_show(json.loads(commands.dvc("exp", "show", "--json")))
    if name not in found:
        raise PipelineError(f"no finished experiment {name} on this commit (`dvc exp show`)")
    return found[name]


def result(name: str, experiment: dict) -> dict:
    """What an experiment measured: accuracies (the shipped model's, as evaluate scores it: with
    an average of the weights or flip TTA, not what dvclive logged per epoch), epochs, size,
    its training time and the cores it kept busy."""
    metrics, commit = experiment["metrics"], experiment["baseline"][:7]
    try:
        test, val = metrics[EVAL_METRICS]["test"], metrics[EVAL_METRICS]["val"]
        training, time = metrics[TRAIN_METRICS], metrics[TIME_METRICS]
        return {
            "commit": commit,
            "val_accuracy": val["accuracy"],
            "test_accuracy": test["accuracy"],
            "macro_f1": test["macro_f1"],
            "epochs_run": training["epochs_run"],
            "parameters": training["parameters"],
            "train_seconds": time["train_seconds"],
            "seconds_per_epoch": time["seconds_per_epoch"],  # the median epoch
            "images_per_second": time["images_per_second"],
            "cores_used": time["cores_used"],
        }
    except (KeyError, TypeError) as error:
        raise PipelineError(
            f"experiment {name} (from commit {commit}): its metrics hold no {error}, so it ran "
            "before the pipeline recorded it; run it again"
        ) from None


def summary(name: str, measured: dict) -> str:
    """One line: the experiment, its test accuracy and its training time."""
    seconds, epochs = measured["train_seconds"], measured["epochs_run"]
    took = f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"
    epochs_run = f"{epochs} epoch" if epochs == 1 else f"{epochs} epochs"
    return (
        f"{name}: test accuracy {measured['test_accuracy']:.4f}, trained in {took} "
        f"({epochs_run}, the median {measured['seconds_per_epoch']:g} s)"
    )

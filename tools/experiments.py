"""DVC experiments as the presets and the frontier search use them: named sets of params
overrides (YAML files of dotted keys), queued or run with `dvc exp run -S …`, their results read
back from `dvc exp show --json` and the train stage's timing records
(stages/train/timing.py: timings stay out of the tracked metrics)."""

import json
import os
import statistics
import sys
from pathlib import Path

from stages.shared import params
from stages.shared.errors import PipelineError
from stages.train import timing
from tools import commands

# Where the train stage of every experiment run by these tools writes its timing record: DVC's
# own git-ignored scratch directory, so that queued runs in temporary copies write here too.
TIMINGS = Path(".dvc/tmp/timings")


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


def timed_environment() -> dict[str, str]:
    """This process's environment, plus where the train stage writes its timing record, with
    this Python's directory first on the PATH: DVC's queue starts its workers as `dvc`, and the
    stages run as `python`, both found on the PATH."""
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, timing.TIMINGS_ENV: str(TIMINGS.resolve())}


def run(name: str, overrides: dict, *, temp: bool) -> None:
    """Run one experiment named `name` now (in a temporary copy if `temp`), timed."""
    argv = ["exp", "run", "-n", name, *(["--temp"] if temp else []), *set_arguments(overrides)]
    commands.dvc(*argv, env=timed_environment())


def queue(name: str, overrides: dict) -> None:
    """Add one experiment to DVC's queue, to run later with `run_queue`."""
    commands.dvc("exp", "run", "--queue", "-n", name, *set_arguments(overrides))


def run_queue() -> None:
    """Run every queued experiment, one at a time (timings stay comparable), timed; return when
    the queue is empty."""
    commands.dvc("exp", "run", "--run-all", "--jobs", "1", env=timed_environment())


def shown() -> dict[str, dict]:
    """{experiment name: {"params": params.yaml, "metrics": {path: data}}} of every finished
    experiment of every commit (`dvc exp show --json --all-commits`): a search outlives commits.
    Experiments still queued, running or failed are left out."""
    found = {}
    for baseline in json.loads(commands.dvc("exp", "show", "--json", "--all-commits")):
        for experiment in baseline.get("experiments") or []:
            state = (experiment.get("executor") or {}).get("state", "success")
            for rev in experiment["revs"]:
                if state != "success" or not rev.get("name") or not rev.get("data"):
                    continue
                data = rev["data"]
                found.setdefault(  # newest commit first: a rerun replaces an older run
                    rev["name"],
                    {
                        "baseline": baseline["rev"],  # the commit it ran from: its code
                        "params": data["params"]["params.yaml"]["data"],
                        "metrics": {path: m["data"] for path, m in data["metrics"].items()},
                    },
                )
    return found


def result(name: str, experiment: dict) -> dict:
    """What an experiment measured: accuracies, epochs, size and time (its timing record)."""
    metrics = experiment["metrics"]
    evaluation, training = metrics["metrics/eval.json"], metrics["metrics/train/metrics.json"]
    record = timing.read_timing(TIMINGS, name)
    return {
        "commit": experiment["baseline"][:7],
        "val_accuracy": training["eval"]["accuracy"],
        "test_accuracy": evaluation["accuracy"],
        "macro_f1": evaluation["macro_f1"],
        "epochs_run": training["epochs_run"],
        "parameters": training["parameters"],
        "train_seconds": record.train_seconds,
        # The median: an epoch slowed by another process on the machine does not move it.
        "seconds_per_epoch": round(statistics.median(record.epoch_seconds), 2),
        "images_per_second": round(record.images_per_second),
    }

"""Parallel experiments through DVC's own queue: a grid of `-S` sweeps queued, then two workers."""

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.project import file_tree
from tests.helpers.repo import Repo
from tools import commands

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EPOCHS = (1, 2)
LEARNING_RATES = (0.05, 0.1)
TIMEOUT = 300  # seconds for the whole queue


def experiments(exp_show_json: list) -> list[dict]:
    """{name, train params, eval metrics} of every experiment in `dvc exp show --json`."""
    found = []
    for baseline in exp_show_json:
        for experiment in baseline.get("experiments") or []:
            for rev in experiment["revs"]:
                data = rev["data"]
                found.append(
                    {
                        "name": rev["name"],
                        "train": data["params"]["params.yaml"]["data"]["train"],
                        "eval": data["metrics"]["metrics/eval.json"]["data"],
                    }
                )
    return found


def workspace(repo: Repo) -> dict[str, bytes]:
    """What a user sees and commits: every file but git's and DVC's own state."""
    return {
        path: content
        for path, content in file_tree(repo.root).items()
        if not re.match(r"\.(git|dvc)/", path)
    }


def worker_pids(repo: Repo) -> list[int]:
    """The queue workers DVC started here (it records each in a JSON file)."""
    files = (repo.root / ".dvc/tmp/exps/celery").glob("dvc-exp-worker-*.json")
    return [json.loads(f.read_text())["pid"] for f in files]


@pytest.fixture
def queue_repo(repo: Repo) -> Iterator[Repo]:
    """`repo`, and at the end no queue worker left running. A worker that DVC told to stop can
    hang in its shutdown (treeverse/dvc#10398, seen here once after every task had succeeded)."""
    yield repo
    for pid in worker_pids(repo):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            time.sleep(5)


def start_queue(repo: Repo, jobs: int, log: Path) -> str:
    """`dvc queue start -j jobs`; its output. The workers are daemons that inherit its stdout,
    which must therefore be a file: a pipe would stay open as long as they live (which is why
    it runs here, not through tools.commands, which captures into pipes)."""
    with open(log, "w+") as out:
        subprocess.run(
            commands.dvc_argv("queue", "start", "-j", str(jobs)),
            cwd=repo.root,
            env=repo.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=60,
        )
        out.seek(0)
        return out.read()


def wait_for_queue(repo: Repo) -> str:
    """Poll `dvc queue status` until no task is queued or running; the last status."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        status = repo.dvc("queue", "status")
        if not re.search(r"\b(Queued|Running)\b", status):
            return status
        if time.monotonic() > deadline:
            logs = "".join(
                p.read_text() for p in (repo.root / ".dvc/tmp/exps/celery").glob("*.out")
            )
            pytest.fail(f"the queue did not finish in {TIMEOUT} s:\n{status}\n{logs}")
        time.sleep(2)


def test_a_queued_sweep_runs_on_two_workers_and_leaves_the_workspace_alone(
    queue_repo: Repo, tmp_path: Path
):
    repo = queue_repo
    repo.repro()
    repo.commit("baseline")
    before = workspace(repo)

    epochs = ",".join(map(str, EPOCHS))
    rates = ",".join(map(str, LEARNING_RATES))
    repo.dvc(
        "exp",
        "run",
        "--queue",
        "-S",
        f"train.epochs={epochs}",
        "-S",
        f"train.learning_rate={rates}",
    )
    queued = repo.dvc("queue", "status")
    assert queued.count("Queued") == len(EPOCHS) * len(LEARNING_RATES), queued

    started = start_queue(repo, 2, tmp_path / "queue-start.log")
    assert "Started '2' new experiments task queue workers" in started, started

    status = wait_for_queue(repo)
    assert status.count("Success") == len(EPOCHS) * len(LEARNING_RATES), status
    assert "Failed" not in status and "Queued" not in status and "Running" not in status
    ran = experiments(json.loads(repo.dvc("exp", "show", "--json")))
    grid = sorted((e["train"]["epochs"], e["train"]["learning_rate"]) for e in ran)
    assert grid == sorted((n, rate) for n in EPOCHS for rate in LEARNING_RATES)
    for experiment in ran:
        assert 0 <= experiment["eval"]["test"]["accuracy"] <= 1, experiment
    assert len({e["name"] for e in ran}) == len(ran)
    assert workspace(repo) == before
    assert repo.run("git", "status", "--porcelain") == ""


def running_steps(exp_show_json: list) -> list[int]:
    """The dvclive step of every running experiment in `dvc exp show --json`, as DVC reads it
    from the experiment's temporary workspace."""
    steps = []
    for baseline in exp_show_json:
        for experiment in baseline.get("experiments") or []:
            if (experiment.get("executor") or {}).get("state") != "running":
                continue
            data = experiment["revs"][0].get("data") or {}
            summary = (data.get("metrics") or {}).get("metrics/train/metrics.json") or {}
            if "step" in (summary.get("data") or {}):
                steps.append(summary["data"]["step"])
    return steps


def this_runs_steps(seen: list[int], committed_step: int) -> list[int]:
    """The readings that belong to the queued run: until its train stage starts, the
    experiment's workspace holds the committed run's metrics, so DVC shows their last step."""
    start = 0
    while start < len(seen) and seen[start] == committed_step:
        start += 1
    return seen[start:]


def test_dvc_exp_show_follows_a_queued_experiment_epoch_by_epoch(queue_repo: Repo, tmp_path: Path):
    repo = queue_repo
    repo.repro()
    repo.commit("baseline")
    committed_step = json.loads((repo.root / "metrics/train/metrics.json").read_text())["step"]
    repo.dvc("exp", "run", "--queue", "-n", "long", "-S", "train.epochs=400")
    start_queue(repo, 1, tmp_path / "queue-start.log")
    seen: list[int] = []
    deadline = time.monotonic() + TIMEOUT
    while len(set(this_runs_steps(seen, committed_step))) < 3:
        assert time.monotonic() < deadline, (seen, repo.dvc("queue", "status"))
        seen += running_steps(json.loads(repo.dvc("exp", "show", "--json")))
    steps = this_runs_steps(seen, committed_step)
    assert steps == sorted(steps), seen  # rising, while the experiment runs
    repo.dvc("queue", "kill", "long")

"""Parallel experiments through DVC's own queue: a grid of `-S` sweeps queued, then two workers."""

import json
import re

import pytest

from tests.conftest import Repo, file_tree

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EPOCHS = (1, 2)
LEARNING_RATES = (0.05, 0.1)


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


def test_a_queued_sweep_runs_on_two_workers_and_leaves_the_workspace_alone(repo: Repo):
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

    repo.dvc("exp", "run", "--run-all", "--jobs", "2")  # waits for every queued experiment

    status = repo.dvc("queue", "status")
    assert status.count("Success") == len(EPOCHS) * len(LEARNING_RATES), status
    assert "Failed" not in status and "Queued" not in status and "Running" not in status
    ran = experiments(json.loads(repo.dvc("exp", "show", "--json")))
    grid = sorted((e["train"]["epochs"], e["train"]["learning_rate"]) for e in ran)
    assert grid == sorted((n, rate) for n in EPOCHS for rate in LEARNING_RATES)
    for experiment in ran:
        assert 0 <= experiment["eval"]["accuracy"] <= 1, experiment
    assert len({e["name"] for e in ran}) == len(ran)
    assert workspace(repo) == before
    assert repo.run("git", "status", "--porcelain") == ""

import json
import re
import sys

import pytest

from stages.shared import params
from stages.shared.errors import PipelineError
from tests.helpers.project import REPO, apply_overrides, committed_params, file_tree, write_yaml
from tools import experiments, frontier, params_reference, presets


def _run(seconds: float, val: float, test: float = 0.9) -> dict:
    return {
        "train_seconds": seconds,
        "seconds_per_epoch": seconds / 4,
        "epochs_run": 4,
        "images_per_second": 1000,
        "val_accuracy": val,
        "test_accuracy": test,
        "parameters": 1234,
        "commit": "abc1234",
    }


RESULTS = {
    "slow-good": _run(800, 0.94),
    "slow-worse": _run(900, 0.93),
    "fast": _run(100, 0.90),
    "middle": _run(400, 0.92, test=0.99),  # the best test accuracy must not sway a choice
    "middle-worse": _run(300, 0.89),
}


def test_pareto_keeps_the_runs_no_faster_run_beats_on_validation():
    assert frontier.pareto(RESULTS) == ["fast", "middle", "slow-good"]


@pytest.mark.parametrize(
    ("budget", "chosen"),
    [(100, "fast"), (850, "slow-good"), (10_000, "slow-good"), (400, "middle")],
)
def test_choose_takes_the_best_validation_accuracy_within_the_budget(budget, chosen):
    assert frontier.choose(RESULTS, budget) == chosen


def test_choose_refuses_a_budget_no_run_met():
    with pytest.raises(PipelineError, match="no run trained within 50 s"):
        frontier.choose(RESULTS, 50)


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """A checkout whose metrics/frontier.json and plot record RESULTS; every candidate has a
    finished experiment (no DVC runs: `dvc exp show` is stubbed)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "frontier").mkdir()
    (tmp_path / "metrics").mkdir()
    (tmp_path / frontier.RESULTS).write_text(json.dumps(RESULTS))
    (tmp_path / frontier.PLOT).write_bytes(b"\x89PNG the committed plot")
    monkeypatch.setattr(experiments, "shown", lambda: {name: {} for name in RESULTS})
    monkeypatch.setattr(experiments, "result", lambda name, _: RESULTS[name])
    return tmp_path


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ("", "frontier/candidates.yaml: names no candidate; add one"),
        ("# every candidate deleted\n", "frontier/candidates.yaml: names no candidate; add one"),
        (
            "fast: {train.epochs: 1}\nmiddle: {train.epochs: 2}\n",
            "metrics/frontier.json records 5 runs and frontier/candidates.yaml names 2 "
            "(not middle-worse, slow-good, slow-worse): collecting would replace the frontier "
            "by less",
        ),
    ],
    ids=["empty", "comments-only", "fewer"],
)
def test_collect_refuses_to_replace_the_frontier_by_less(recorded, candidates, message):
    (recorded / frontier.CANDIDATES).write_text(candidates)
    before = file_tree(recorded / "metrics")

    with pytest.raises(PipelineError, match=re.escape(message)):
        frontier.main(["collect"])

    assert file_tree(recorded / "metrics") == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "metrics/frontier.json: missing; run `make frontier`"),
        ("{ not json", "metrics/frontier.json: not valid JSON (Expecting property name"),
        ("[1, 2]", "metrics/frontier.json: expected a mapping of runs to results"),
        ('{"fast": 3}', "metrics/frontier.json: expected a mapping of runs to results"),
        ("{}", "metrics/frontier.json: records no run"),
        ('{"fast": {"val_accuracy": 0.9}}', "run 'fast' has no numeric train_seconds"),
        ('{"fast": {"train_seconds": 1, "val_accuracy": "0.9"}}', "no numeric val_accuracy"),
        ('{"fast": {"train_seconds": NaN, "val_accuracy": 0.9}}', "no numeric train_seconds"),
    ],
    ids=["missing", "not-json", "a-list", "not-runs", "empty", "no-time", "text", "nan"],
)
def test_choose_without_a_readable_frontier_names_the_fix(recorded, content, message):
    if content is None:
        (recorded / frontier.RESULTS).unlink()
    else:
        (recorded / frontier.RESULTS).write_text(content)

    with pytest.raises(PipelineError, match=re.escape(message)) as raised:
        frontier.main(["choose", "900"])

    error = str(raised.value)
    assert "\n" not in error and "git checkout -- metrics/frontier.json" in error


def test_table_lists_runs_fastest_first_with_the_frontier_in_bold():
    lines = frontier.table(RESULTS).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == [
        "| **`fast`**",
        "| `middle-worse`",
        "| **`middle`**",
        "| **`slow-good`**",
        "| `slow-worse`",
    ]
    assert lines[2] == (
        "| **`fast`** | 1.7 min | 25.0 | 4 | 1,000 | 0.9000 | 0.9000 | 1,234 | abc1234 |"
    )


def test_the_figure_marks_every_run_and_the_presets(tmp_path):
    from stages.shared import figures

    fig = frontier.figure(RESULTS, {"cnn": _run(600, 0.93, test=0.935)})
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(texts) == sorted([*RESULTS, "preset cnn"])
    figures.save(fig, tmp_path / "frontier.png")
    assert (tmp_path / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_candidate_gives_valid_params(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    candidates = frontier.candidates()
    assert candidates
    for overrides in candidates.values():
        document = apply_overrides(committed_params(), overrides)
        path = write_yaml(tmp_path / "params.yaml", document)
        for section in params_reference.SECTIONS:
            params.load(path, section)


# Each CNN preset, its time budget, and the frontier run it was chosen as.
CHOSEN = {"cnn-fast": (180, "cnn1-7e"), "cnn": (900, "cnn2-14e")}


@pytest.mark.parametrize("preset", CHOSEN)
def test_each_cnn_preset_is_the_committed_frontier_choice_within_its_budget(preset, monkeypatch):
    monkeypatch.chdir(REPO)
    budget, run = CHOSEN[preset]
    results = json.loads(frontier.RESULTS.read_text())
    assert frontier.choose(results, budget) == run
    committed = committed_params()
    assert apply_overrides(committed, presets.load_preset(preset)) == (
        apply_overrides(committed, results[run]["overrides"])
    )


def test_experiments_run_with_this_python_first_on_the_path(monkeypatch):
    import os
    import sys

    monkeypatch.setenv("PATH", "/usr/bin")
    env = experiments.environment()
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)


@pytest.mark.slow
@pytest.mark.e2e
def test_the_search_runs_through_dvc_queue_and_collects_a_frontier(repo):
    """A real search in a temporary repository: two tiny candidates queued, run one at a time by
    DVC's queue (its logs streamed), collected from `dvc exp show`: accuracy and training time
    from each experiment's metrics."""
    (repo.root / "frontier").mkdir()
    write_yaml(
        repo.root / "frontier/candidates.yaml",
        {"one-epoch": {"train.epochs": 1}, "two-epochs": {"train.epochs": 2}},
    )
    (repo.root / "presets").mkdir()
    write_yaml(repo.root / "presets/short.yaml", {"train.epochs": 1, "train.batch_size": 16})
    repo.commit("candidates and a preset")
    params_before = (repo.root / "params.yaml").read_bytes()

    for command in ("queue", "run", "collect"):
        output = repo.run(sys.executable, "-m", "tools.frontier", command)
        if command == "run":  # every epoch of both, as the stages logged them
            assert len(re.findall(r" epoch \d/\d ", output)) == 3, output

    results = json.loads((repo.root / "metrics/frontier.json").read_text())
    assert sorted(results) == ["one-epoch", "two-epochs"]
    shown = experiments_shown(repo)
    for name, result in results.items():
        assert result["train_seconds"] == shown[name]["train_seconds"] > 0
        assert result["epochs_run"] == shown[name]["epochs"]
        assert result["test_accuracy"] == shown[name]["accuracy"]
    assert results["two-epochs"]["overrides"] == {"train.epochs": 2}
    assert (repo.root / "metrics/frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (repo.root / "params.yaml").read_bytes() == params_before  # the workspace untouched

    chosen = repo.run(sys.executable, "-m", "tools.frontier", "choose", "3600").strip()
    # The best validation accuracy; on a tie (tiny data), the faster run.
    assert chosen == max(
        results, key=lambda n: (results[n]["val_accuracy"], -results[n]["train_seconds"])
    )

    output = repo.run(sys.executable, "-m", "tools.presets", "measure")
    measured = json.loads((repo.root / "metrics/presets.json").read_text())
    assert list(measured) == ["short"] and measured["short"]["epochs_run"] == 1
    assert measured["short"]["train_seconds"] > 0
    assert experiments.summary("short", measured["short"]) in output.splitlines()


def experiments_shown(repo) -> dict[str, dict]:
    """{name: {epochs, accuracy, train_seconds}} of every experiment, as `dvc exp show --json`
    lists them."""
    shown = {}
    for baseline in json.loads(repo.dvc("exp", "show", "--json", "--all-commits")):
        for experiment in baseline.get("experiments") or []:
            for rev in experiment["revs"]:
                metrics = rev["data"]["metrics"]
                shown[rev["name"]] = {
                    "epochs": metrics["metrics/train/metrics.json"]["data"]["epochs_run"],
                    "accuracy": metrics["metrics/eval.json"]["data"]["test"]["accuracy"],
                    "train_seconds": metrics["metrics/time.json"]["data"]["train_seconds"],
                }
    return shown

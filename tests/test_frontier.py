import json
import re
import sys
from pathlib import Path

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
    assert frontier.choose(RESULTS, budget, "train_seconds") == chosen


def test_choose_refuses_a_budget_no_run_met():
    with pytest.raises(PipelineError, match="no run trained within 50 s"):
        frontier.choose(RESULTS, 50, "train_seconds")


# RESULTS searched with a reference run of 50 s from the same commit, except "fast", which
# ran from another commit (another day): it has no multiple.
REFERENCE = {**_run(50, 0.88), "commit": "abc1234"}
SEARCHED = frontier.with_multiples(
    {
        frontier.REFERENCE: REFERENCE,
        **RESULTS,
        "fast": {**RESULTS["fast"], "commit": "0ther00"},
    },
    REFERENCE,
)


def test_each_run_of_the_references_commit_gets_its_multiple_and_no_other():
    assert {name: r["mlp_multiple"] for name, r in SEARCHED.items()} == {
        "mlp-sgd-reference": 1.0,
        "slow-good": 16.0,
        "slow-worse": 18.0,
        "fast": None,
        "middle": 8.0,
        "middle-worse": 6.0,
    }
    assert frontier.without_multiple(SEARCHED) == ["fast"]


@pytest.mark.parametrize(
    ("budget", "chosen"),
    [(16, "slow-good"), (15.4, "middle"), (3.1, "mlp-sgd-reference"), (6, "middle-worse")],
)
def test_choose_reads_budgets_as_multiples_of_the_reference_run(budget, chosen):
    """The issue's budgets (16×, with a margin 15.4×; 3.25×, 3.1×); "fast" (2 s, no multiple)
    is left out whatever the budget."""
    assert frontier.choose(SEARCHED, budget) == chosen


def test_choose_refuses_a_multiple_no_run_met():
    with pytest.raises(PipelineError, match="^no run trained within 0.5× mlp-sgd's time$"):
        frontier.choose(SEARCHED, 0.5)


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
            "metrics/frontier.json records 5 runs, 3 of which frontier/candidates.yaml no "
            "longer names (middle-worse, slow-good, slow-worse): collecting would drop them",
        ),
        (  # as many runs as recorded, one renamed
            "fast: {}\nmiddle: {}\nmiddle-worse: {}\nslow-good: {}\nslow-best: {}\n",
            "metrics/frontier.json records 5 runs, 1 of which frontier/candidates.yaml no "
            "longer names (slow-worse): collecting would drop them from the frontier",
        ),
    ],
    ids=["empty", "comments-only", "fewer", "renamed"],
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
        ('{"cnn": {"test_accuracy": 0.9', "metrics/presets.json: not valid JSON"),
        ('{"cnn": {"test_accuracy": 0.9}}', "expected each preset's run with its test_accuracy"),
        ("[]", "expected each preset's run with its test_accuracy and train_seconds"),
    ],
)
def test_collect_refuses_an_unreadable_presets_record_before_writing(recorded, content, message):
    (recorded / frontier.CANDIDATES).write_text("".join(f"{name}: {{}}\n" for name in RESULTS))
    (recorded / frontier.PRESETS).write_text(content)
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
        (
            '{"fast": {"train_seconds": 1, "val_accuracy": 0.9, "mlp_multiple": "2"}}',
            "run 'fast': mlp_multiple \"2\" is not a positive number or null",
        ),
        (
            '{"fast": {"train_seconds": 1, "val_accuracy": 0.9, "mlp_multiple": 0}}',
            "run 'fast': mlp_multiple 0 is not a positive number or null",
        ),
        (
            '{"fast": {"train_seconds": 1, "val_accuracy": 0.9, "mlp_multiple": true}}',
            "run 'fast': mlp_multiple true is not a positive number or null",
        ),
    ],
    ids=[
        "missing",
        "not-json",
        "a-list",
        "not-runs",
        "empty",
        "no-time",
        "text",
        "nan",
        "multiple-text",
        "multiple-zero",
        "multiple-bool",
    ],
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


@pytest.mark.parametrize("budget", ["0", "-3", "nan", "inf"])
def test_choose_refuses_a_budget_that_is_not_a_positive_number(recorded, budget):
    with pytest.raises(PipelineError) as raised:
        frontier.main(["choose", budget])
    assert str(raised.value) == f"budget {float(budget):g}: must be a positive number"


def test_choose_names_the_runs_it_leaves_out_for_want_of_a_multiple(recorded, capsys):
    (recorded / frontier.RESULTS).write_text(json.dumps(SEARCHED))

    frontier.main(["choose", "15.4"])

    out, err = capsys.readouterr()
    assert out == "middle\n"
    assert err == "note: left out, no mlp_multiple (no reference run in their search): fast\n"


def test_a_frontier_recorded_before_the_reference_run_is_chosen_from_in_seconds_only(
    recorded, capsys
):
    """RESULTS, like the committed frontier, has no multiples: no ratio is made up for it."""
    with pytest.raises(PipelineError) as raised:
        frontier.main(["choose", "16"])
    assert str(raised.value) == (
        "metrics/frontier.json: no run has an mlp_multiple (all 5 ran without a reference run, "
        "mlp-sgd-reference, in their search); run `make frontier`, or give the budget in seconds "
        "of the day they ran: `python -m tools.frontier choose --seconds …`"
    )

    frontier.main(["choose", "--seconds", "850"])
    assert capsys.readouterr().out == "slow-good\n"


def test_a_candidate_may_not_take_the_reference_runs_name(recorded):
    (recorded / frontier.CANDIDATES).write_text("mlp-sgd-reference: {train.epochs: 1}\n")
    with pytest.raises(PipelineError) as raised:
        frontier.main(["queue"])
    assert str(raised.value) == (
        "frontier/candidates.yaml: 'mlp-sgd-reference' is the reference run `queue` adds itself "
        "(presets/mlp-sgd.yaml); rename that candidate"
    )


def test_queue_queues_the_reference_first_rerun_whole(recorded, monkeypatch):
    (recorded / frontier.CANDIDATES).write_text("fast: {train.epochs: 1}\nmiddle: {}\n")
    (recorded / "presets").mkdir()
    write_yaml(recorded / "presets/mlp-sgd.yaml", {"train.epochs": 30})
    queued = []
    monkeypatch.setattr(
        experiments, "queue", lambda name, overrides, **flags: queued.append((name, flags))
    )

    frontier.main(["queue", "middle"])

    assert queued == [("mlp-sgd-reference", {"force": True}), ("middle", {})]


def test_collect_records_each_runs_multiple_and_names_those_without(recorded, monkeypatch, capsys):
    (recorded / frontier.CANDIDATES).write_text(
        "".join(f"{name}: {{train.epochs: 1}}\n" for name in RESULTS)
    )
    (recorded / "presets").mkdir()
    write_yaml(recorded / "presets/mlp-sgd.yaml", {"train.epochs": 30})
    monkeypatch.setattr(experiments, "shown", lambda: {name: {} for name in SEARCHED})
    monkeypatch.setattr(
        experiments,
        "result",
        lambda name, _: {k: v for k, v in SEARCHED[name].items() if k != "mlp_multiple"},
    )

    frontier.main(["collect"])

    written = json.loads((recorded / frontier.RESULTS).read_text())
    assert {n: r["mlp_multiple"] for n, r in written.items()} == {
        n: r["mlp_multiple"] for n, r in SEARCHED.items()
    }
    assert written["mlp-sgd-reference"]["overrides"] == {"train.epochs": 30}
    assert capsys.readouterr().out.splitlines()[-1] == (
        "no mlp_multiple for fast: they ran from another commit than mlp-sgd-reference "
        "(abc1234); `choose` leaves them out until they run again with it "
        "(`python -m tools.frontier queue NAME…`)"
    )


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
        "| **`fast`** | 1.7 min | – | 25.0 | 4 | 1,000 | 0.9000 | 0.9000 | 1,234 | abc1234 |"
    )
    assert frontier.table(SEARCHED).splitlines()[-1] == (
        "| `slow-worse` | 15.0 min | 18.00× | 225.0 | 4 | 1,000 | 0.9300 | 0.9000 | 1,234 "
        "| abc1234 |"
    )


def test_the_figure_marks_every_run_and_the_presets(tmp_path):
    from stages.shared import figures

    fig = frontier.figure(RESULTS, {"cnn": _run(600, 0.93, test=0.935)})
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(texts) == sorted([*RESULTS, "preset cnn"])
    assert fig.axes[0].get_xlabel() == "training minutes (2 CPU cores)"
    figures.save(fig, tmp_path / "frontier.png")
    assert (tmp_path / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_figure_shows_multiples_when_every_run_has_one():
    searched = {n: r for n, r in SEARCHED.items() if n != "fast"}
    fig = frontier.figure(
        searched, {"cnn": {**_run(600, 0.93), "mlp_multiple": 12.0}, "old": _run(600, 0.9)}
    )
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("training time, multiples of mlp-sgd's in the same search")
    assert sorted(t.get_text() for t in ax.texts) == sorted([*searched, "preset cnn"])
    assert max(t.xy[0] for t in ax.texts) == 18.0


def test_every_candidate_gives_valid_params(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    candidates = frontier.candidates()
    assert candidates
    for overrides in candidates.values():
        document = apply_overrides(committed_params(), overrides)
        path = write_yaml(tmp_path / "params.yaml", document)
        for section in params_reference.SECTIONS:
            params.load(path, section)


# Each CNN preset, its budget in multiples of mlp-sgd's training time (the search's, with a margin
# under the 16× and 3.25× targets for run-to-run noise), and the frontier run it was chosen as.
CHOSEN = {"cnn-fast": (3.1, "cnn1p-9e-ls05"), "cnn": (15.4, "cnn3p-24e")}


@pytest.mark.parametrize("preset", CHOSEN)
def test_each_cnn_preset_is_the_committed_frontier_choice_within_its_budget(preset, monkeypatch):
    monkeypatch.chdir(REPO)
    budget, run = CHOSEN[preset]
    results = frontier.read_results()
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


def _queued(task: str, name: str, state: str, log: str | None = None, **measured) -> dict:
    """One experiment of DVC's queue as `dvc exp show --json` lists it: queued as the commit
    `task`; once it ran, the file holding its log; once it succeeded, its metrics."""
    metrics = {
        "metrics/eval.json": {
            "data": {"test": {"accuracy": 0.9, "macro_f1": 0.9}, "val": {"accuracy": 0.91}}
        },
        "metrics/train/metrics.json": {"data": {"epochs_run": 2, "parameters": 10}},
        "metrics/time.json": {
            "data": {
                "train_seconds": 75.0,
                "seconds_per_epoch": 37.5,
                "images_per_second": 100,
                "cores_used": 1.9,
            }
        },
    }
    for path, data in measured.items():
        metrics[f"metrics/{path}.json"]["data"].update(data)
    data = {"params": {"params.yaml": {"data": {}}}, "metrics": metrics}
    return {
        "name": name,
        "executor": {"state": state, "local": {"log": log, "task_id": task}},
        "revs": [{"rev": f"{task}-commit", "name": name, "data": data}],
    }


def _shown(*experiments: dict) -> list[dict]:
    """`dvc exp show --json`'s answer: the workspace, then a commit and its experiments."""
    baseline = {"rev": "abc1234" + "0" * 33, "name": "main", "experiments": list(experiments)}
    return [{"rev": "workspace", "name": None, "data": {}}, baseline]


def test_read_queue_reads_each_queued_experiments_state_log_and_results():
    answer = _shown(
        _queued("t3", "waiting", "queued"),
        _queued("t2", "broken", "failed", log="/r/.dvc/tmp/exps/run/t2/t2.out"),
        _queued("t1", "done", "success", log="/r/.dvc/tmp/exps/run/t1/t1.out"),
        {"executor": None, "revs": [{"rev": "e", "name": "ran-at-once", "data": {}}]},
        {
            "executor": {"state": "running", "name": "tempdir", "local": {"task_id": "t"}},
            "revs": [{"rev": "t", "name": "running-at-once", "data": {}}],
        },
    )

    found = experiments.read_queue(answer)

    assert list(found) == ["t3", "t2", "t1"]  # as DVC lists them, newest first
    assert {t: (e["name"], e["state"], e["log"]) for t, e in found.items()} == {
        "t3": ("waiting", "queued", None),
        "t2": ("broken", "failed", "/r/.dvc/tmp/exps/run/t2/t2.out"),
        "t1": ("done", "success", "/r/.dvc/tmp/exps/run/t1/t1.out"),
    }
    assert found["t2"]["experiment"] is None
    assert experiments.result("done", found["t1"]["experiment"])["test_accuracy"] == 0.9


def test_run_prints_one_line_per_experiment_the_queue_ran(monkeypatch, capsys):
    """What each experiment queued before the run became once the queue is empty, oldest
    queued first: a success as a preset's run prints it, a failure with its log. A failure of
    an earlier run, still in DVC's queue, is not this run's."""
    old_failure = _queued("t0", "old", "failed", log="/r/t0.out")
    before = _shown(
        _queued("t3", "broken", "queued"),
        _queued("t2", "fast", "queued"),
        _queued("t1", "mlp-sgd-reference", "running", log="/r/t1.out"),
        old_failure,
    )
    after = _shown(
        _queued("t2", "fast", "success", log="/r/t2.out", time={"train_seconds": 4.3}),
        _queued("t1", "mlp-sgd-reference", "success", log="/r/t1.out"),
        _queued("t3", "broken", "failed", log="/r/.dvc/tmp/exps/run/t3/t3.out"),
        old_failure,
    )
    answers = iter([experiments.read_queue(before), experiments.read_queue(after)])
    monkeypatch.setattr(experiments, "queue_tasks", lambda: next(answers))
    streamed = []
    monkeypatch.setattr(experiments.commands, "stream", lambda argv, **_: streamed.append(argv))

    frontier.main(["run"])

    assert [argv[3:] for argv in streamed] == [["exp", "run", "--run-all", "--jobs", "1"]]
    assert capsys.readouterr().out.splitlines() == [
        "mlp-sgd-reference: test accuracy 0.9000, trained in 1.2 min (2 epochs, the median "
        "37.5 s)",
        "fast: test accuracy 0.9000, trained in 4.3 s (2 epochs, the median 37.5 s)",
        "broken: failed; its log: /r/.dvc/tmp/exps/run/t3/t3.out",
    ]


@pytest.mark.parametrize(
    ("entry", "line"),
    [
        (
            {"name": "broken", "state": "failed", "log": None, "experiment": None},
            "broken: failed; DVC kept no log of it",
        ),
        (
            {"name": "gone", "state": "queued", "log": None, "experiment": None},
            "gone: no result (DVC's state: queued); `dvc queue status` shows the queue",
        ),
        (
            {
                "name": "old",
                "state": "success",
                "log": None,
                "experiment": {"baseline": "abc1234", "metrics": {}},
            },
            "experiment old (from commit abc1234): its metrics hold no 'metrics/eval.json', so "
            "it ran before the pipeline recorded it; run it again",
        ),
    ],
    ids=["failed-without-log", "not-run", "unreadable-metrics"],
)
def test_an_experiment_without_results_gets_one_line_saying_why(entry, line):
    assert frontier.outcome(entry) == line


@pytest.mark.slow
@pytest.mark.e2e
def test_the_search_runs_through_dvc_queue_and_collects_a_frontier(repo):
    """A real search in a temporary repository: two tiny candidates and the reference run queued,
    run one at a time by DVC's queue (its logs streamed), collected from `dvc exp show`: accuracy
    and training time from each experiment's metrics, each time a multiple of the reference's.
    The reference is the commit's own params: without `--force` DVC would rerun nothing."""
    (repo.root / "frontier").mkdir()
    write_yaml(
        repo.root / "frontier/candidates.yaml",
        {"one-epoch": {"train.epochs": 1}, "two-epochs": {"train.epochs": 2}},
    )
    (repo.root / "presets").mkdir()
    write_yaml(repo.root / "presets/short.yaml", {"train.epochs": 1, "train.batch_size": 16})
    write_yaml(repo.root / "presets/mlp-sgd.yaml", {})  # the seed MLP: the commit's params
    repo.commit("candidates and two presets")
    epochs = params.read_yaml(repo.root / "params.yaml")["train"]["epochs"]
    params_before = (repo.root / "params.yaml").read_bytes()

    repo.run(sys.executable, "-m", "tools.frontier", "queue")
    # Any experiment in DVC's queue runs, and may fail: this one in preprocess (seed -1).
    repo.dvc("exp", "run", "--queue", "-n", "broken", "-S", "preprocess.seed=-1")
    ran = repo.run(sys.executable, "-m", "tools.frontier", "run")
    # every epoch of the candidates and the reference, as the stages logged them
    assert len(re.findall(r" epoch \d+/\d+ ", ran)) == 3 + epochs, ran
    repo.run(sys.executable, "-m", "tools.frontier", "collect")

    results = json.loads((repo.root / "metrics/frontier.json").read_text())
    assert sorted(results) == ["mlp-sgd-reference", "one-epoch", "two-epochs"]
    # then one line per experiment: each result as a preset's run prints it, the failure's log
    outcomes = ran.splitlines()[-4:]
    failed = [line for line in outcomes if line.startswith("broken: failed; its log: ")]
    expected = [experiments.summary(name, result) for name, result in results.items()]
    assert len(failed) == 1 and sorted(outcomes) == sorted([*expected, *failed]), ran
    log = Path(failed[0].removeprefix("broken: failed; its log: ")).read_text()
    assert "preprocess.seed=-1" in log
    reference = results["mlp-sgd-reference"]["train_seconds"]
    shown = experiments_shown(repo)
    for name, result in results.items():
        assert result["train_seconds"] == shown[name]["train_seconds"] > 0
        assert result["epochs_run"] == shown[name]["epochs"]
        assert result["test_accuracy"] == shown[name]["accuracy"]
        assert result["mlp_multiple"] == round(result["train_seconds"] / reference, 2)
    assert results["two-epochs"]["overrides"] == {"train.epochs": 2}
    assert (repo.root / "metrics/frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (repo.root / "params.yaml").read_bytes() == params_before  # the workspace untouched

    chosen = repo.run(sys.executable, "-m", "tools.frontier", "choose", "100").strip()
    # The best validation accuracy; on a tie (tiny data), the faster run.
    assert chosen == max(
        results, key=lambda n: (results[n]["val_accuracy"], -results[n]["train_seconds"])
    )

    output = repo.run(sys.executable, "-m", "tools.presets", "measure")
    measured = json.loads((repo.root / "metrics/presets.json").read_text())
    assert list(measured) == ["mlp-sgd", "short"] and measured["short"]["epochs_run"] == 1
    assert measured["short"]["train_seconds"] > 0
    assert measured["mlp-sgd"]["mlp_multiple"] == 1.0
    assert measured["short"]["mlp_multiple"] == round(
        measured["short"]["train_seconds"] / measured["mlp-sgd"]["train_seconds"], 2
    )
    assert experiments.summary("short", measured["short"]) in output.splitlines()


def experiments_shown(repo) -> dict[str, dict]:
    """{name: {epochs, accuracy, train_seconds}} of every experiment, as `dvc exp show --json`
    lists them."""
    shown = {}
    for baseline in json.loads(repo.dvc("exp", "show", "--json", "--all-commits")):
        for experiment in baseline.get("experiments") or []:
            if experiment["executor"] and experiment["executor"]["state"] == "failed":
                continue
            for rev in experiment["revs"]:
                metrics = rev["data"]["metrics"]
                shown[rev["name"]] = {
                    "epochs": metrics["metrics/train/metrics.json"]["data"]["epochs_run"],
                    "accuracy": metrics["metrics/eval.json"]["data"]["test"]["accuracy"],
                    "train_seconds": metrics["metrics/time.json"]["data"]["train_seconds"],
                }
    return shown


def test_collect_keeps_a_recorded_run_that_cannot_be_read_again_if_its_overrides_are_the_same(
    monkeypatch,
):
    """An older search's runs stay on the frontier with their multiple as recorded; a changed
    candidate or the reference run must run again."""
    known = {"mlp-sgd-reference": {"train.epochs": 30}, "old": {"a": 1}, "new": {"b": 2}}
    recorded = {"old": {"overrides": {"a": 1}, "train_seconds": 9.0, "mlp_multiple": None}}

    def result(name, experiment):
        if experiment == "unreadable":
            raise PipelineError(f"experiment {name}: run it again")
        return {"commit": "abc1234", "train_seconds": 2.0}

    monkeypatch.setattr(experiments, "result", result)
    shown = {"mlp-sgd-reference": {}, "old": "unreadable", "new": {}}
    measured, kept = frontier.gather(known, shown, recorded)
    assert sorted(measured) == ["mlp-sgd-reference", "new"] and kept == recorded
    with pytest.raises(PipelineError, match="experiment old: run it again"):
        frontier.gather({**known, "old": {"a": 2}}, shown, recorded)
    with pytest.raises(PipelineError, match="no experiment for new: run"):
        frontier.gather(known, {"mlp-sgd-reference": {}}, recorded)


def test_collect_keeps_the_recorded_multiple_of_a_run_from_an_earlier_search(monkeypatch):
    """A later search reruns the reference on a new commit; a run of the earlier one, still
    readable, keeps the multiple of its own search's reference instead of losing it."""
    known = {"mlp-sgd-reference": {"train.epochs": 30}, "old": {"a": 1}, "new": {"b": 2}}
    old = {"overrides": {"a": 1}, "commit": "aaaaaaa", "train_seconds": 9.0, "mlp_multiple": 3.0}
    commits = {"mlp-sgd-reference": "bbbbbbb", "old": "aaaaaaa", "new": "bbbbbbb"}
    monkeypatch.setattr(
        experiments, "result", lambda name, _: {"commit": commits[name], "train_seconds": 2.0}
    )
    shown = {name: {} for name in known}
    measured, kept = frontier.gather(known, shown, {"old": old})
    assert kept == {"old": old} and sorted(measured) == ["mlp-sgd-reference", "new"]
    rerun = {**old, "commit": "ccccccc"}  # the same run again, from another commit: measured anew
    measured, kept = frontier.gather(known, shown, {"old": rerun})
    assert kept == {} and measured["old"]["commit"] == "aaaaaaa"


def test_queue_without_names_queues_the_candidates_not_on_the_frontier_yet(
    recorded, monkeypatch, capsys
):
    on_frontier = {"train.epochs": 1}
    runs = {name: {**r, "overrides": on_frontier} for name, r in RESULTS.items()}
    (recorded / frontier.RESULTS).write_text(json.dumps(runs))
    (recorded / frontier.CANDIDATES).write_text(
        f"fast: {json.dumps(on_frontier)}\nnew: {{train.epochs: 2}}\nmiddle: {{train.epochs: 9}}\n"
    )
    (recorded / "presets").mkdir()
    write_yaml(recorded / "presets/mlp-sgd.yaml", {"train.epochs": 30})
    queued = []
    monkeypatch.setattr(experiments, "queue", lambda name, overrides, **_: queued.append(name))

    frontier.main(["queue"])
    assert queued == ["mlp-sgd-reference", "new", "middle"]  # middle's overrides changed

    (recorded / frontier.CANDIDATES).write_text(f"fast: {json.dumps(on_frontier)}\n")
    queued.clear()
    frontier.main(["queue"])
    assert queued == []
    assert capsys.readouterr().out.endswith(
        "every candidate of frontier/candidates.yaml is on metrics/frontier.json already: "
        "name one to rerun it\n"
    )

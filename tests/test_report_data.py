"""Reading DVC's answers for the report: missing files are gaps, unreadable ones one-line errors,
confusion matrices in label order, plots in the revisions' order. The answers here have the shape
`dvc exp show --json` and `dvc plots diff --json` give (DVC 3.67); tests/test_report.py runs the
real commands."""

import pytest

from stages.shared.errors import PipelineError
from stages.shared.fashion_mnist import CLASS_NAMES
from tools import report_data
from tools.report_data import Revision

MISSING = {"type": "FileNotFoundError", "msg": "[Errno 2] No such file or directory: 'x'"}
CORRUPT = {"type": "JSONFileCorruptedError", "msg": "unable to read: 'x',\n  corrupted"}


def test_flatten_names_keys_as_dvc_does():
    data = {"test": {"accuracy": 0.9, "loss": 0.3}, "epochs_run": 3, "units": [1, 2], "n": None}
    assert report_data.flatten(data) == {
        "test.accuracy": 0.9,
        "test.loss": 0.3,
        "epochs_run": 3,
        "units": [1, 2],
        "n": None,
    }


def test_a_missing_file_is_a_gap_and_an_unreadable_one_an_error():
    files = {
        "metrics/eval.json": {"data": {"test": {"accuracy": 0.9}}},
        "time.json": {"error": MISSING},
    }
    assert report_data.read_files(files, "main") == {("metrics/eval.json", "test.accuracy"): 0.9}
    with pytest.raises(PipelineError) as raised:
        report_data.read_files({"metrics/eval.json": {"error": CORRUPT}}, "exp-a")
    message = str(raised.value)
    assert message.startswith("DVC cannot read metrics/eval.json in exp-a (JSONFileCorruptedError")
    assert "\n" not in message and "leave exp-a out of the report" in message


def _state(rev: str, **data) -> dict:
    return {"rev": rev, "name": None, "data": {"rev": rev, **data}, "error": None}


def test_snapshots_are_found_by_commit_whatever_the_name():
    revisions = [Revision("exp-a", "e" * 40), Revision("workspace", None)]
    params = {"params.yaml": {"data": {"train": {"epochs": 3}}}}
    states = [
        _state("workspace", params=params, metrics={"m.json": {"error": MISSING}}),
        _state("e" * 40, params=params, metrics={"m.json": {"data": {"accuracy": 0.5}}}),
    ]
    snapshots = report_data.snapshots_of(states, revisions)
    assert snapshots["exp-a"].metrics == {("m.json", "accuracy"): 0.5}
    assert snapshots["workspace"].metrics == {}
    assert snapshots["workspace"].params == {("params.yaml", "train.epochs"): 3}


def test_a_revision_dvc_cannot_read_is_an_error():
    broken = {"rev": "e" * 40, "data": None, "error": {"type": "YAMLSyntaxError", "msg": "bad"}}
    with pytest.raises(PipelineError, match=r"^DVC cannot read revision exp-a \(bad\)"):
        report_data.snapshots_of([broken], [Revision("exp-a", "e" * 40)])


def test_exp_show_asks_for_exactly_the_revisions():
    commits = [Revision("main", "a" * 40), Revision("exp-a", "b" * 40)]
    argv = report_data.exp_show_argv(commits)
    assert argv[:3] == ["exp", "show", "--json"] and argv[-1] == "--hide-workspace"
    assert argv[3:-1] == ["--hide-queued", "--hide-failed", "--rev", "a" * 40, "--rev", "b" * 40]
    assert "--hide-workspace" not in report_data.exp_show_argv(
        [*commits, Revision("workspace", None)]
    )


def test_the_same_revision_twice_is_refused():
    report_data.check_distinct([Revision("main", "a" * 40), Revision("workspace", None)])
    with pytest.raises(PipelineError, match=r"'main' and 'HEAD' are the same commit \(aaaaaaa\)"):
        report_data.check_distinct([Revision("main", "a" * 40), Revision("HEAD", "a" * 40)])
    with pytest.raises(PipelineError, match=r"^revision 'main' is named twice: name it once$"):
        report_data.check_distinct([Revision("main", "a" * 40), Revision("main", "a" * 40)])


CONFUSION = {
    "facet": {"column": {"field": "rev", "sort": []}},
    "data": {"values": [{"actual": "Bag", "predicted": "Bag", "rev": "main"}]},
    "spec": {
        "encoding": {
            "x": {"field": "predicted", "type": "nominal", "sort": "ascending"},
            "y": {"field": "actual", "type": "nominal", "sort": "ascending"},
        },
        "layer": [{"mark": "rect", "encoding": {"color": {"field": "n", "type": "quantitative"}}}],
    },
}
BARS = {
    "encoding": {
        "x": {"field": "f1", "type": "quantitative"},
        "y": {"field": "class", "type": "nominal", "sort": "-x"},
    }
}


def test_confusion_matrices_are_put_in_label_order_and_nothing_else_changes():
    ordered = report_data.in_label_order(CONFUSION)
    encoding = ordered["spec"]["encoding"]
    assert encoding["x"]["sort"] == encoding["y"]["sort"] == list(CLASS_NAMES)
    assert CONFUSION["spec"]["encoding"]["x"]["sort"] == "ascending"  # a copy
    assert {**ordered, "spec": CONFUSION["spec"]} == CONFUSION
    assert report_data.in_label_order(BARS) == BARS  # a bar chart keeps its order by value


def test_plots_come_in_the_revisions_order_with_the_revisions_they_lack():
    image = {"type": "image", "url": "x.png"}
    answer = {
        "data": {
            "metrics/confusion.csv": [
                {"type": "vega", "revisions": ["workspace", "main"], "content": CONFUSION}
            ],
            "metrics/a.png": [
                {**image, "revisions": ["workspace"]},
                {**image, "revisions": ["main"]},
            ],
        },
        "errors": [
            {"name": "metrics/a.png", "rev": "exp-a", "source": "metrics/a.png", **MISSING},
        ],
    }
    confusion, picture = report_data.plots_of(answer, ["main", "exp-a", "workspace"])
    assert confusion.missing == ["exp-a"]
    assert confusion.entries[0]["content"]["spec"]["encoding"]["x"]["sort"] == list(CLASS_NAMES)
    assert [e["revisions"] for e in picture.entries] == [["main"], ["workspace"]]
    assert picture.missing == ["exp-a"]


def test_no_plots_in_any_revision_is_no_plot():
    assert report_data.plots_of({}, ["v0", "v1"]) == []


@pytest.mark.parametrize(
    "error",
    [
        {
            "name": "m.csv",
            "rev": "workspace",
            "source": "m.csv",
            "type": "EncodingError",
            "msg": "x",
        },
        {"name": "Loss", "rev": "main", **MISSING},  # a definition, not a data file
    ],
)
def test_a_plot_dvc_cannot_read_is_an_error(error):
    with pytest.raises(PipelineError, match=rf"^DVC cannot read .* in {error['rev']} \("):
        report_data.plots_of({"errors": [error]}, ["main", "workspace"])

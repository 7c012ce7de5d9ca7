"""The report's tables: metrics in reading order, each change marked better or worse by the way
its metric should go, missing values as "-", and the params that differ."""

import pytest

from tools import report_tables
from tools.report_data import Revision, Snapshot
from tools.report_tables import BETTER, GAP, WORSE


def test_format_value_rounds_floats_as_dvc_does_and_marks_missing_values():
    assert report_tables.format_value(0.15000000000000002) == "0.15"
    assert report_tables.format_value(1 / 3) == "0.33333"
    assert report_tables.format_value(30) == "30"
    assert report_tables.format_value([32, 64]) == "[32, 64]"
    assert report_tables.format_value(None) == GAP


@pytest.mark.parametrize(
    ("key", "way"),
    [
        ("test.accuracy", 1),
        ("best.val.accuracy", 1),
        ("test.macro_f1", 1),
        ("images_per_second", 1),
        ("test.loss", -1),
        ("val.loss", -1),
        ("train_seconds", -1),
        ("seconds_per_epoch", -1),
        ("val_accuracy", 1),
        ("f1", 1),
        ("val_loss", -1),
        ("best_val_loss_epoch", 0),  # an epoch, not a loss
        ("epochs_run", 0),
        ("precision", 0),
        ("learning_rate", 0),
        ("step", 0),
    ],
)
def test_direction_of_a_metric_follows_its_last_key(key, way):
    assert report_tables.direction(key) == way


@pytest.mark.parametrize(
    ("old", "new", "key", "expected"),
    [
        (0.879, 0.8605, "test.accuracy", f"-0.0185 {WORSE}"),
        (0.8605, 0.879, "test.accuracy", f"+0.0185 {BETTER}"),
        (0.34537, 0.3831, "test.loss", f"+0.03773 {WORSE}"),
        (58.7, 24.5, "train_seconds", f"-34.2 {BETTER}"),
        (230, 258, "images_per_second", f"+28 {BETTER}"),
        (30, 10, "epochs_run", "-20"),
        (0.5, 0.5, "test.accuracy", "0"),
        (0.5, 0.5000000001, "test.accuracy", "0"),  # below DVC's precision: no mark
        (None, 24.5, "train_seconds", GAP),
        (24.5, None, "train_seconds", GAP),
        ("adam", "sgd", "optimizer", GAP),
        (True, False, "flag", GAP),
        (float("nan"), 0.5, "test.accuracy", GAP),
    ],
)
def test_change_is_signed_rounded_and_marked(old, new, key, expected):
    assert report_tables.change(old, new, key) == expected


def _snapshot(**metrics) -> Snapshot:
    return Snapshot(params={}, metrics={tuple(k.split(":")): v for k, v in metrics.items()})


def test_metrics_table_leads_with_what_a_reader_wants_and_leaves_out_what_never_changes():
    e, t = report_tables.EVAL, report_tables.TIME
    first = {
        f"{t}:train_seconds": 58.7,
        f"{e}:test.loss": 0.35,
        f"{e}:test.accuracy": 0.88,
        "a.json:zeta": 1,
        "a.json:alpha": 1,
        "m.json:val.accuracy": 0.89,  # not the shipped model's: only if it changes
        f"{e}:val.accuracy": 0.9,
        f"{e}:test.macro_f1": 0.87,
    }
    snapshots = {
        "main": _snapshot(**first),
        "exp": _snapshot(**{**first, f"{e}:test.accuracy": 0.9, "a.json:zeta": 2}),
        "old": _snapshot(**{k: v for k, v in first.items() if not k.startswith(t)}),
    }

    table = report_tables.metrics_table(["main", "exp", "old"], snapshots)

    assert table.header == ["Path", "Metric", "main", "exp", "Change (exp)", "old", "Change (old)"]
    assert table.rows == [
        [e, "test.accuracy", "0.88", "0.9", f"+0.02 {BETTER}", "0.88", "0"],
        [e, "test.macro_f1", "0.87", "0.87", "0", "0.87", "0"],
        [e, "test.loss", "0.35", "0.35", "0", "0.35", "0"],
        [e, "val.accuracy", "0.9", "0.9", "0", "0.9", "0"],
        [t, "train_seconds", "58.7", "58.7", "0", GAP, GAP],
        ["a.json", "zeta", "1", "2", "+1", "1", "0"],
    ]
    assert table.same == 2  # a.json alpha, m.json val.accuracy


def test_two_revisions_have_one_change_column():
    snapshots = {
        "main": _snapshot(**{"e:test.loss": 0.4}),
        "ws": _snapshot(**{"e:test.loss": 0.3}),
    }
    table = report_tables.metrics_table(["main", "ws"], snapshots)
    assert table.header == ["Path", "Metric", "main", "ws", "Change"]
    assert table.rows == [["e", "test.loss", "0.4", "0.3", f"-0.1 {BETTER}"]]


def test_params_table_shows_the_params_that_differ_between_any_revisions():
    def snapshot(**params) -> Snapshot:
        return Snapshot(params={("params.yaml", k): v for k, v in params.items()}, metrics={})

    snapshots = {
        "main": snapshot(epochs=30, lr=0.01, units=[300, 100]),
        "a": snapshot(epochs=30, lr=0.01, units=[300, 100]),
        "b": snapshot(epochs=10, lr=0.01, units=[32]),
    }
    table = report_tables.params_table(["main", "a", "b"], snapshots)
    assert table.header == ["Path", "Param", "main", "a", "b"]
    assert table.rows == [
        ["params.yaml", "epochs", "30", "30", "10"],
        ["params.yaml", "units", "[300, 100]", "[300, 100]", "[32]"],
    ]


def test_the_notes_say_what_a_table_leaves_out():
    rows = [["e", "test.loss", "0.4", "0.3", f"-0.1 {BETTER}"]]
    assert report_tables.same_note(report_tables.Table([], rows, same=1)) == (
        "1 more metric: the same in every revision."
    )
    assert report_tables.same_note(report_tables.Table([], rows, same=0)) == ""
    nothing_differs = report_tables.Table([], [], same=20)
    assert report_tables.same_note(nothing_differs) == ""  # the empty note says it
    assert report_tables.empty_note(nothing_differs, "metric") == (
        "No metric differs between the revisions."
    )
    assert report_tables.empty_note(report_tables.Table([], []), "parameter") == (
        "No revision has parameters."
    )


def test_the_revisions_note_gives_each_commit_once():
    revisions = [
        Revision("main", "a1b2c3d4" * 5),
        Revision("3060b77", "3060b77" + "0" * 33),
        Revision("workspace", None),
    ]
    assert report_tables.revisions_note(revisions) == (
        "Base: main (a1b2c3d). Compared with it: 3060b77, workspace."
    )

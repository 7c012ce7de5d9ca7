import json
import os
import signal
import subprocess
import sys

import pytest

from stages.shared import artifacts
from tests.helpers.project import REPO, file_tree


class Boom(Exception):
    pass


def test_atomic_path_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(Boom), artifacts.atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise Boom
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_path_leaves_nothing_when_there_was_no_file(tmp_path):
    with pytest.raises(Boom), artifacts.atomic_path(tmp_path / "sub" / "model.keras") as tmp:
        assert tmp.suffix == ".keras"
        tmp.write_bytes(b"partial")
        raise Boom
    assert list((tmp_path / "sub").iterdir()) == []


def test_atomic_path_replaces_on_success_with_shareable_permissions(tmp_path):
    target = tmp_path / "a.txt"
    with artifacts.atomic_path(target) as tmp:
        artifacts.write_text(tmp, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o644


def test_atomic_dir_swaps_whole_directories(tmp_path):
    target = tmp_path / "raw"
    target.mkdir()
    (target / "old-file").write_text("old")
    with artifacts.atomic_dir(target) as tmp:
        (tmp / "new-file").write_text("new")
        assert (target / "old-file").exists()
    assert [p.name for p in target.iterdir()] == ["new-file"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_atomic_dir_keeps_the_old_directory_when_the_block_fails(tmp_path):
    target = tmp_path / "raw"
    target.mkdir()
    (target / "old-file").write_text("old")
    with pytest.raises(Boom), artifacts.atomic_dir(target) as tmp:
        (tmp / "new-file").write_text("new")
        raise Boom
    assert [p.name for p in target.iterdir()] == ["old-file"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_json_is_sorted_and_ends_with_a_newline(tmp_path):
    artifacts.write_json(tmp_path / "m.json", {"b": 1, "a": 0.5})
    text = (tmp_path / "m.json").read_text()
    assert text.endswith("}\n") and text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": 0.5, "b": 1}


def test_a_stage_replaces_all_of_its_outputs_or_none(tmp_path):
    table, figure = tmp_path / "predictions.csv", tmp_path / "predictions.png"
    table.write_text("old table")
    figure.write_text("old figure")
    with pytest.raises(Boom), artifacts.outputs() as out:
        out.file(table).write_text("new table")
        out.file(figure).write_text("half a new fig")
        raise Boom  # e.g. the disk filled up while the figure was written
    assert (table.read_text(), figure.read_text()) == ("old table", "old figure")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.csv", "predictions.png"]


def _a_pid_that_is_gone() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_temporaries_of_a_killed_run_are_removed_by_the_next_one(tmp_path):
    target = tmp_path / "model.keras"
    stale = tmp_path / f".model.keras.{_a_pid_that_is_gone()}.x1y2.tmp.keras"
    stale_dir = tmp_path / f".model.keras.{_a_pid_that_is_gone()}.z3.tmp"
    live = tmp_path / f".model.keras.{os.getppid()}.w4.tmp.keras"  # its writer still runs
    other = tmp_path / f".other.keras.{_a_pid_that_is_gone()}.v5.tmp.keras"
    for path in (stale, live, other):
        path.write_text("x")
    stale_dir.mkdir()
    with artifacts.atomic_path(target) as tmp:
        tmp.write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [target.name, live.name, other.name]
    )


def _live_run(live, model, fail: bool) -> None:
    """A stage that logs into `live` as it goes and writes `model` at the end; fails midway."""
    with artifacts.outputs() as out:
        model_tmp = out.file(model)
        directory = out.live_directory(live)
        assert directory == live and not list(live.iterdir())  # logs land where readers look
        (live / "metrics.json").write_text('{"step": 0}')
        if fail:
            raise Boom
        model_tmp.write_text("new model")


@pytest.mark.parametrize("previous", [True, False], ids=["previous run", "first run"])
def test_a_live_directory_is_written_in_place_and_put_back_if_the_run_fails(tmp_path, previous):
    live, model = tmp_path / "live", tmp_path / "model.keras"
    if previous:
        (live / "plots").mkdir(parents=True)
        (live / "plots/loss.tsv").write_text("step\tloss\n0\t1.5\n")
        model.write_text("old model")
    before = file_tree(tmp_path)
    with pytest.raises(Boom):
        _live_run(live, model, fail=True)
    assert file_tree(tmp_path) == before and live.exists() == previous
    _live_run(live, model, fail=False)
    assert file_tree(tmp_path) == {
        "live/metrics.json": b'{"step": 0}',
        "model.keras": b"new model",
    }


def test_a_live_directory_of_a_killed_run_is_put_back_by_the_next_one(tmp_path):
    """`kill -9` runs no clean-up: the next run restores the last complete run first."""
    live = tmp_path / "live"
    (live / "plots").mkdir(parents=True)
    (live / "metrics.json").write_text("complete")
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from stages.shared import artifacts\n"
        "with artifacts.outputs() as out:\n"
        "    live = out.live_directory(Path(sys.argv[1]))\n"
        "    (live / 'metrics.json').write_text('partial')\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(live)], cwd=REPO, check=False)
    assert (live / "metrics.json").read_text() == "partial"  # what the killed run left
    artifacts.restore_kept(live)
    assert file_tree(tmp_path) == {"live/metrics.json": b"complete"}  # the kept run, back
    artifacts.restore_kept(live)  # nothing left to restore
    assert file_tree(tmp_path) == {"live/metrics.json": b"complete"}


def test_ctrl_c_while_outputs_are_renamed_lets_every_rename_finish(tmp_path, monkeypatch):
    names = ["a.json", "b.json", "c.json"]
    for name in names:
        (tmp_path / name).write_text("old")
    replace = os.replace

    def replace_then_interrupt(source, target):
        os.kill(os.getpid(), signal.SIGINT)  # held back until every output is in place
        replace(source, target)

    monkeypatch.setattr(os, "replace", replace_then_interrupt)
    with pytest.raises(artifacts.InterruptedAfterWriting), artifacts.outputs() as out:
        for name in names:
            out.file(tmp_path / name).write_text("new")
    assert [(tmp_path / name).read_text() for name in names] == ["new"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_environment_errors_name_the_place_and_the_fix(tmp_path):
    error = OSError(28, "No space left on device")
    clear = artifacts.environment_error(error, [tmp_path / "m.json"])
    assert str(clear) == (
        f"cannot write {tmp_path}: No space left on device; free some space on that disk, "
        "then run again"
    )
    assert artifacts.environment_error(OSError(2, "No such file"), []) is None

"""What a stage records is what it ran: the params section and the code it started with are
checked before its outputs replace the last good ones (stages/shared/record.py)."""

import pytest

from stages.download import settings as download_settings
from stages.shared import artifacts, params, record
from stages.shared.record import ChangedDuringRun
from stages.train import settings as train_settings
from tests.helpers.project import committed_dataset, committed_params, file_tree, write_yaml


def _params(tmp_path, **train):
    document = committed_params()
    document["train"].update(train)
    return write_yaml(tmp_path / "params.yaml", document)


def test_an_edit_of_the_section_during_the_run_keeps_the_last_good_outputs(tmp_path):
    path = _params(tmp_path, learning_rate=0.01)
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.keras").write_text("the last good model")
    before = file_tree(out)
    with record.recording("train"):
        params.load(path, train_settings.Train)
        _params(tmp_path, learning_rate=0.05)  # the user's next experiment, mid-run
        with pytest.raises(ChangedDuringRun) as error, artifacts.outputs() as staged:
            staged.file(out / "model.keras").write_text("made with 0.01")
    assert str(error.value) == (
        "params.yaml's train section changed during the run (learning_rate 0.01 → 0.05); the "
        "outputs of the values that ran are not written: run `dvc repro` again"
    )
    assert file_tree(out) == before  # no temporary left either


def test_an_edit_of_another_section_changes_nothing_for_this_stage(tmp_path):
    path = _params(tmp_path)
    with record.recording("train"):
        params.load(path, train_settings.Train)
        document = committed_params()
        document["predict"]["count"] = 7
        write_yaml(path, document)
        with artifacts.atomic_path(tmp_path / "written.txt") as tmp:
            tmp.write_text("ok")
    assert (tmp_path / "written.txt").read_text() == "ok"


def test_an_edit_of_the_dataset_file_during_download_keeps_the_last_good_data(tmp_path):
    """dataset.yaml is read by the same loader, so the same check covers it."""
    path = write_yaml(tmp_path / "dataset.yaml", committed_dataset())
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "train-images-idx3-ubyte").write_text("the last good file")
    before = file_tree(raw)
    with record.recording("download"):
        params.load(path, download_settings.Dataset)
        document = committed_dataset()
        document["dataset"]["sources"][0] = "/mnt/mirror"
        write_yaml(path, document)
        with pytest.raises(ChangedDuringRun) as error, artifacts.outputs() as staged:
            staged.file(raw / "train-images-idx3-ubyte").write_text("from the old sources")
    message = str(error.value)
    assert message.startswith("dataset.yaml's dataset section changed during the run (sources [")
    assert "→ ['/mnt/mirror', " in message and message.endswith("run `dvc repro` again")
    assert file_tree(raw) == before


def test_a_deleted_params_file_is_a_change(tmp_path):
    path = _params(tmp_path)
    with record.recording("train"):
        params.load(path, train_settings.Train)
        path.unlink()
        with pytest.raises(
            ChangedDuringRun, match=r"train section changed during the run \(the section is gone\)"
        ):
            record.check()


def test_an_edit_of_the_code_during_the_run_is_named(tmp_path):
    code = tmp_path / "fit.py"
    code.write_text("EPOCHS = 1\n")
    started = record.Record(record.stage_code("train") | {code: record._digest(code)})
    started.check()  # nothing changed yet
    code.write_text("EPOCHS = 2\n")
    with pytest.raises(ChangedDuringRun, match=f"{code} changed during the run"):
        started.check()


def test_the_code_of_a_stage_is_its_folder_and_the_shared_modules_it_imported():
    code = {str(path).split("stages/", 1)[1] for path in record.stage_code("evaluate")}
    assert {"evaluate/__main__.py", "evaluate/scoring.py", "shared/record.py"} <= code
    assert not [path for path in code if path.startswith(("train/", "predict/"))]
    assert not [path for path in code if "__pycache__" in path]


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}}, "b.c 2 → 3"),
        ({"a": 1}, {"a": 1, "z": True}, "z (none) → True"),
        ({"a": [1, 2]}, {"a": [1]}, "a [1, 2] → [1]"),
        ({"a": 1}, None, "the section is gone"),
        ({"a": {"b": 1}}, {"a": 5}, "a → 5"),
    ],
)
def test_the_first_change_is_named_by_its_dotted_key(old, new, change):
    assert record.first_change(old, new) == change


def test_outside_a_recording_nothing_is_checked(tmp_path):
    path = _params(tmp_path)
    params.load(path, train_settings.Train)
    path.unlink()
    record.check()  # a library call (a test, a notebook) is not a stage run

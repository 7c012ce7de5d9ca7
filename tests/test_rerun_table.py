"""docs/layout.md's table "you change this file → these stages rerun": generated from dvc.yaml and
current. tests/test_pipeline.py checks its rows against a real `dvc status` after an edit."""

import yaml

from tests.helpers.project import REPO
from tools import rerun_table


def test_each_stage_folder_reruns_its_stage_alone():
    deps = rerun_table.code_deps(yaml.safe_load((REPO / "dvc.yaml").read_text()))
    for stage in ("download", "preprocess", "train", "evaluate", "predict"):
        assert deps[f"stages/{stage}"] == [stage]


def test_the_table_lists_every_shared_module():
    deps = rerun_table.code_deps(yaml.safe_load((REPO / "dvc.yaml").read_text()))
    shared = {str(p.relative_to(REPO)) for p in (REPO / "stages/shared").glob("[!_]*.py")}
    assert shared == {path for path in deps if path.startswith("stages/shared/")}


def test_the_dataset_file_reruns_download_alone():
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    assert rerun_table.input_files(pipeline) == {"dataset.yaml": ["download"]}
    assert "| `dataset.yaml` | download |" in rerun_table.table(pipeline)

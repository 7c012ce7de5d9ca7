import pytest
import yaml

from stages.shared import params
from stages.shared.errors import PipelineError
from tests.helpers.project import REPO, apply_overrides, committed_params, write_yaml
from tools import experiments, params_reference, presets

NAMES = sorted(p.stem for p in (REPO / "presets").glob("*.yaml"))


def test_the_four_presets_exist():
    assert NAMES == ["cnn", "cnn-fast", "dense128-adam", "mlp-sgd"]


@pytest.mark.parametrize("name", NAMES)
def test_each_preset_gives_valid_params(tmp_path, monkeypatch, name):
    monkeypatch.chdir(REPO)
    document = apply_overrides(committed_params(), presets.load_preset(name))
    path = write_yaml(tmp_path / "params.yaml", document)
    for section in params_reference.SECTIONS:
        params.load(path, section)


def test_mlp_sgd_is_the_committed_default(monkeypatch):
    monkeypatch.chdir(REPO)
    document = committed_params()
    assert apply_overrides(document, presets.load_preset("mlp-sgd")) == document


def test_set_arguments_are_yaml_values_dvc_parses():
    arguments = experiments.set_arguments(
        {"train.hidden_units": [128], "train.optimizer": "adam", "train.checkpoint.enabled": True}
    )
    assert arguments == [
        "-S",
        "train.hidden_units=[128]",
        "-S",
        'train.optimizer="adam"',
        "-S",
        "train.checkpoint.enabled=true",
    ]
    assert yaml.safe_load(arguments[3].split("=", 1)[1]) == "adam"


def test_an_unknown_preset_is_refused(monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(
        PipelineError, match="no preset 'resnet' .known: cnn, cnn-fast, dense128-adam"
    ):
        presets.load_preset("resnet")


def test_results_table_formats_the_measurements():
    table = presets.results_table(
        {
            "cnn": {
                "test_accuracy": 0.93512,
                "macro_f1": 0.9349,
                "epochs_run": 18,
                "train_seconds": 630.0,
                "parameters": 871978,
            }
        }
    )
    assert table.splitlines()[-1] == "| `cnn` | 0.9351 | 0.9349 | 18 | 10.5 min | 871,978 |"

"""What is generated from the settings models: params.schema.json and dataset.schema.json (editors
validate and complete params.yaml and dataset.yaml with them) and docs/params.md. All current, and
the schemas as strict as the models."""

import json

import jsonschema
import pytest
import yaml

from tests.helpers.project import REPO, apply_overrides, committed_dataset, committed_params
from tools import params_reference, presets


@pytest.mark.parametrize("name", ["params", "dataset"])
def test_each_file_names_its_schema_on_its_first_line(name):
    first = (REPO / f"{name}.yaml").read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema={name}.schema.json"


def _validator(path=params_reference.SCHEMA) -> jsonschema.Draft202012Validator:
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_accepts_the_committed_params():
    _validator().validate(committed_params())


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "presets").glob("*.yaml")))
def test_the_schema_accepts_every_preset(monkeypatch, name):
    monkeypatch.chdir(REPO)
    _validator().validate(apply_overrides(committed_params(), presets.load_preset(name)))


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("train", "epoch", 3),  # a typo'd key
        ("train", "epochs", 0),
        ("train", "optimizer", "rmsprop"),
        ("train", "dropout", 1.5),
        ("preprocess", "seed", -1),
        ("download", "sources", ["/data"]),  # dataset.yaml's now
        ("predict", "count", "five"),
    ],
)
def test_the_schema_rejects_what_the_stages_refuse(section, key, value):
    document = committed_params()
    document[section][key] = value
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(document)


def test_the_schema_rejects_an_unknown_section():
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate({**committed_params(), "serve": {}})


def test_the_dataset_schema_accepts_the_committed_dataset_file():
    _validator(params_reference.DATASET_SCHEMA).validate(committed_dataset())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sources", []),
        ("sources", "/data"),
        ("sha256", {"train-images-idx3-ubyte": "abc"}),
        ("sha256", {"extra-file": "0" * 64}),
        ("mirror", "http://example.com"),
    ],
)
def test_the_dataset_schema_rejects_what_the_download_stage_refuses(key, value):
    document = committed_dataset()
    document["dataset"][key] = value
    with pytest.raises(jsonschema.ValidationError):
        _validator(params_reference.DATASET_SCHEMA).validate(document)


def test_the_reference_documents_every_key():
    text = params_reference.REFERENCE.read_text()

    def keys(document: dict, prefix: str) -> list[str]:
        return [
            found
            for name, value in document.items()
            for found in (
                keys(value, f"{prefix}{name}.")
                if isinstance(value, dict) and name != "sha256"
                else [f"{prefix}{name}"]
            )
        ]

    for key in keys({**committed_params(), **committed_dataset()}, ""):
        assert f"| `{key}` |" in text, key


def test_the_committed_params_are_a_yaml_mapping_of_the_sections():
    document = yaml.safe_load((REPO / "params.yaml").read_text())
    assert list(document) == [model.section for model in params_reference.SECTIONS]

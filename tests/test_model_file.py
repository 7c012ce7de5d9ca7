import json

import pytest

from stages.shared import fashion_mnist
from stages.shared.errors import DataError
from stages.train import model_file, tensorflow_setup
from tests.helpers.model_files import rewrite_model_member


def test_trained_model_carries_its_class_names_and_loads(tiny_run):
    assert model_file.read_class_names(tiny_run.model) == list(fashion_mnist.CLASS_NAMES)
    model = model_file.load(tiny_run.model)
    assert model.output_shape == (None, 10)


def test_model_without_class_names_is_refused(tmp_path, tiny_run):
    rewrite_model_member(tiny_run.model, tmp_path / "m.keras", None)
    with pytest.raises(DataError, match="carries no class names .* run `dvc repro train`"):
        model_file.load(tmp_path / "m.keras")


def test_trained_model_carries_its_numerics_mode(tiny_run):
    assert model_file.read_numerics(tiny_run.model) == "portable"


@pytest.mark.parametrize("numerics", [None, "exact"])
def test_model_without_a_known_numerics_mode_is_refused(tmp_path, tiny_run, numerics):
    facts = {"class_names": list(fashion_mnist.CLASS_NAMES), "numerics": numerics}
    rewrite_model_member(tiny_run.model, tmp_path / "m.keras", json.dumps(facts))
    with pytest.raises(DataError, match=f"names no numerics mode .* found {numerics!r}; run"):
        model_file.load(tmp_path / "m.keras")


def test_model_with_other_class_names_is_refused(tmp_path, tiny_run):
    names = list(fashion_mnist.CLASS_NAMES)
    names[0], names[1] = names[1], names[0]
    rewrite_model_member(tiny_run.model, tmp_path / "m.keras", json.dumps({"class_names": names}))
    with pytest.raises(DataError, match=r"predicts the classes \['Trouser', 'T-shirt/top'"):
        model_file.load(tmp_path / "m.keras")


@pytest.mark.parametrize("content", [b"", b"not a zip", None])
def test_corrupt_model_file_is_refused(tmp_path, tiny_run, content):
    path = tmp_path / "m.keras"
    if content is None:  # truncated: the first half of a real model file
        data = tiny_run.model.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match="not a loadable Keras model"):
        model_file.load(path)


def test_model_of_another_interface_is_refused(tmp_path):
    keras = tensorflow_setup.import_keras()
    inputs = keras.Input(shape=(28, 28), dtype="float32")
    model = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    model.save(tmp_path / "float.keras")
    model_file.embed_facts(tmp_path / "float.keras", fashion_mnist.CLASS_NAMES, "portable")
    with pytest.raises(DataError, match="'float32'.* expected .*'uint8'"):
        model_file.load(tmp_path / "float.keras")


def test_missing_model_names_the_stage_to_run(tmp_path):
    with pytest.raises(DataError, match="missing; run `dvc repro train`"):
        model_file.load(tmp_path / "absent.keras")

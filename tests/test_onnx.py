"""The shipped model: the ONNX file the train stage exports, its contract, and the stages that run
it with ONNX Runtime alone."""

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest

from stages.evaluate import scoring
from stages.shared import fashion_mnist, onnx_model, params, splits
from stages.shared.errors import DataError, PipelineError
from stages.train import __main__ as train
from stages.train import model_file, onnx_export, tensorflow_setup
from stages.train import settings as train_settings
from tests.helpers.model_files import rewrite_onnx_metadata, write_onnx_classifier
from tests.helpers.project import REPO, write_yaml
from tests.helpers.tiny import tiny_params

# The operators a model of ours may hold: those of every architecture, none of augmentation's.
INFERENCE_OPS = {
    "Add", "Cast", "Concat", "Conv", "Gather", "MatMul", "MaxPool", "Mul", "Relu", "Reshape",
    "Shape", "Slice", "Softmax", "Transpose",
}  # fmt: skip


def test_the_exported_model_keeps_the_contract_and_carries_its_metadata(tiny_run):
    classifier = onnx_model.load(tiny_run.onnx)
    assert classifier.class_names == list(fashion_mnist.CLASS_NAMES)
    trained_with = params.load(tiny_run.params, train_settings.Train)
    assert classifier.train_params == json.loads(json.dumps(trained_with.model_dump()))
    images, _ = splits.read_split(tiny_run.test)
    probabilities = classifier.predict(images, batch_size=7)
    assert probabilities.shape == (len(images), 10) and probabilities.dtype == np.float32
    keras_probabilities = model_file.load(tiny_run.model).predict(images, verbose=0)
    np.testing.assert_array_equal(probabilities.argmax(1), keras_probabilities.argmax(1))
    assert np.abs(probabilities - keras_probabilities).max() <= onnx_export.MAX_PROBABILITY_GAP


def test_batch_size_does_not_change_a_single_bit(tiny_run):
    classifier = onnx_model.load(tiny_run.onnx)
    images, _ = splits.read_split(tiny_run.test)
    one_by_one = classifier.predict(images, batch_size=1)
    np.testing.assert_array_equal(one_by_one, classifier.predict(images, batch_size=1024))


def test_every_name_is_canonical_and_no_doc_string_is_left(tiny_run):
    proto = onnx.load(tiny_run.onnx)
    graph = proto.graph
    assert graph.name == "fashion_mnist" and proto.doc_string == graph.doc_string == ""
    assert [v.name for v in graph.input] == ["image"]
    assert [v.name for v in graph.output] == ["probabilities"]
    assert [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [
        "n",
        28,
        28,
    ]
    for i, node in enumerate(graph.node):
        assert node.name == f"{node.op_type}_{i}" and node.doc_string == ""
        for name in [*node.input, *node.output]:
            assert re.fullmatch(r"image|probabilities|const_\d+|[A-Za-z]+_\d+:\d+", name), name
    assert [t.name for t in graph.initializer] == [
        f"const_{k}" for k in range(len(graph.initializer))
    ]


def test_canonical_form_is_a_fixed_point():
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Mul", ["x:0", "w__12"], ["y__7"], name="scale_1", doc_string="d")],
        "tf2onnx",
        [onnx.helper.make_tensor_value_info("x:0", onnx.TensorProto.FLOAT, ["unk__3", 2])],
        [onnx.helper.make_tensor_value_info("y__7", onnx.TensorProto.FLOAT, ["unk__4", 2])],
        [onnx.numpy_helper.from_array(np.ones(2, np.float32), "w__12")],
        doc_string="converted from b'__inference___call___224'",
    )
    once = onnx_export.canonicalise(onnx.helper.make_model(graph))
    assert [(n.name, list(n.input), list(n.output)) for n in once.graph.node] == [
        ("Mul_0", ["image", "const_0"], ["probabilities"])
    ]
    twice = onnx_export.canonicalise(once)
    assert twice.SerializeToString(deterministic=True) == once.SerializeToString(
        deterministic=True
    )


def test_training_only_layers_are_not_exported(tmp_path, tiny_run, tiny_source):
    """Augmentation on, as in the cnn preset: random layers have no ONNX form, so the export is
    of the network without them, and the parity check holds."""
    document = tiny_params(tiny_source)
    document["train"].update(
        epochs=1,
        augment={"translation": 0.1, "horizontal_flip": True, "erasing": 0.5},
        hidden_units=[8],
    )
    train.main(tiny_run.train_args(tmp_path, write_yaml(tmp_path / "params.yaml", document)))
    keras_model = model_file.load(tmp_path / "model.keras")
    assert {"random_shift", "random_flip"} <= {layer.name for layer in keras_model.layers}
    ops = {node.op_type for node in onnx.load(tmp_path / "model.onnx").graph.node}
    assert ops <= INFERENCE_OPS, ops - INFERENCE_OPS
    classifier = onnx_model.load(tmp_path / "model.onnx")
    assert classifier.train_params["augment"] == {
        "translation": 0.1,
        "horizontal_flip": True,
        "erasing": 0.5,
    }


def test_a_gap_to_keras_stops_the_export_in_one_line():
    keras_probabilities = np.array([[0.6, 0.4], [0.3, 0.7]], np.float32)
    assert onnx_export.check_parity(keras_probabilities, keras_probabilities + 1e-6) < 2e-6
    with pytest.raises(PipelineError) as error:
        onnx_export.check_parity(
            keras_probabilities, keras_probabilities + np.array([[0, 2e-5], [0, 0]])
        )
    assert str(error.value) == (
        "the ONNX export differs from the Keras model on the validation images: 0 get another "
        "class, max |Δprobability| 2e-05 (allowed 1e-05); the model is not written "
        "(docs/own-images.md)"
    )
    with pytest.raises(PipelineError, match="1 get another class"):
        onnx_export.check_parity(keras_probabilities, np.array([[0.4, 0.6], [0.3, 0.7]]))


def test_cross_entropy_is_keras_own():
    keras = tensorflow_setup.import_keras()
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet(np.ones(10), size=64).astype(np.float32)
    probabilities[0] = np.eye(10)[3]  # a certain answer, right; then a certain one, wrong
    probabilities[1] = np.eye(10)[4]
    labels = rng.integers(0, 10, 64)
    labels[:2] = 3
    expected = float(keras.losses.SparseCategoricalCrossentropy()(labels, probabilities))
    assert scoring.cross_entropy(probabilities, labels) == pytest.approx(expected, abs=1e-6)


def _write(proto: onnx.ModelProto, path):
    onnx.save(proto, path)
    return path


def _renamed_output(tiny_run, tmp_path):
    proto = onnx.load(tiny_run.onnx)
    proto.graph.node[-1].output[0] = proto.graph.output[0].name = "logits"
    return _write(proto, tmp_path / "m.onnx")


def _float_input(tiny_run, tmp_path):
    proto = onnx.load(tiny_run.onnx)
    proto.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    return _write(proto, tmp_path / "m.onnx")


def _without(key):
    def rewrite(tiny_run, tmp_path):
        rewrite_onnx_metadata(tiny_run.onnx, tmp_path / "m.onnx", key, None)
        return tmp_path / "m.onnx"

    return rewrite


def _swapped_classes(tiny_run, tmp_path):
    names = list(fashion_mnist.CLASS_NAMES)
    names[0], names[1] = names[1], names[0]
    rewrite_onnx_metadata(tiny_run.onnx, tmp_path / "m.onnx", "class_names", json.dumps(names))
    return tmp_path / "m.onnx"


def _bytes(content):
    def write(tiny_run, tmp_path):
        data = tiny_run.onnx.read_bytes()[: len(tiny_run.onnx.read_bytes()) // 2]
        (tmp_path / "m.onnx").write_bytes(data if content is None else content)
        return tmp_path / "m.onnx"

    return write


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda run, tmp: tmp / "absent.onnx", r"absent.onnx: missing; run `dvc repro train`"),
        (_bytes(b""), r"not a loadable ONNX model \(.*\); run `dvc repro train`"),
        (_bytes(b"not a protobuf"), r"not a loadable ONNX model"),
        (_bytes(None), r"not a loadable ONNX model"),  # truncated
        (_renamed_output, r"its outputs are \[\('logits', 'tensor\(float\)', \[None, 10\]\)\], "),
        (_float_input, r"its inputs are \[\('image', 'tensor\(float\)', \[None, 28, 28\]\)\]"),
        (_without("class_names"), r"carries no class_names \(not exported by the train stage\)"),
        (_without("train_params"), r"carries no train_params"),
        (_swapped_classes, r"predicts the classes \['Trouser', 'T-shirt/top'"),
    ],
    ids=[
        "missing",
        "empty",
        "garbage",
        "truncated",
        "other-output",
        "float-input",
        "no-class-names",
        "no-params",
        "other-classes",
    ],
)
def test_a_model_that_breaks_the_contract_is_refused_in_one_line(
    tmp_path, tiny_run, make, message
):
    path = make(tiny_run, tmp_path)
    with pytest.raises(DataError, match=message) as error:
        onnx_model.load(path)
    assert "\n" not in str(error.value)


IMPORTS = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_module(sys.argv[0], run_name="__main__")
except SystemExit as exit:
    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "tf2onnx"})
    print(exit.code, "onnxruntime" in sys.modules, heavy, file=sys.__stderr__)
"""


@pytest.mark.parametrize("command", ["evaluate", "predict", "classify"])
def test_evaluate_predict_and_classify_import_neither_tensorflow_nor_keras(
    tmp_path, tiny_run, command
):
    """Every module loaded by the end of a real run, the way `python -X importtime` lists them."""
    argv = {
        "evaluate": [
            "stages.evaluate",
            f"--test={tiny_run.test}",
            f"--val={tiny_run.val}",
            f"--params={tiny_run.params}",
            *(
                f"--{flag}={tmp_path / flag}"
                for flag in [
                    "eval-metrics",
                    "per-class",
                    "confusion",
                    "confusion-png",
                    "samples-png",
                    "misclassified-png",
                ]
            ),
        ],
        "predict": [
            "stages.predict",
            f"--test={tiny_run.test}",
            f"--params={tiny_run.params}",
            f"--predictions={tmp_path / 'p.csv'}",
            f"--predictions-png={tmp_path / 'p.png'}",
        ],
        "classify": ["tools.classify", str(REPO / "docs/examples")],
    }[command]
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", IMPORTS, *argv, f"--model={tiny_run.onnx}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    *timings, summary = result.stderr.strip().splitlines()
    assert summary == "0 True []", result.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in timings if "|" in line}
    assert "onnxruntime" in imported and "numpy" in imported  # the listing is read right
    assert not imported & {"tensorflow", "keras", "tf2onnx"}


# Run in another process, natively or on an emulated CPU: the probabilities' SHA-256, with the
# pipeline's session options, or (argument "all") with every graph optimisation on.
PROBABILITIES = """
import hashlib, sys
from pathlib import Path
import onnxruntime
from stages.shared import onnx_model, splits
if sys.argv[3] == "all":
    pipeline_options = onnx_model.session_options
    def session_options():
        options = pipeline_options()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        return options
    onnx_model.session_options = session_options
images, _ = splits.read_split(Path(sys.argv[2]))
classifier = onnx_model.load(Path(sys.argv[1]))
print(hashlib.sha256(classifier.predict(images, batch_size=16).tobytes()).hexdigest())
"""


def _has_avx512() -> bool:
    from numpy._core._multiarray_umath import __cpu_features__  # CPUID, as NumPy reads it

    return __cpu_features__.get("AVX512F", False)


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("qemu-x86_64"), reason="needs Debian's qemu-user")
@pytest.mark.skipif(not _has_avx512(), reason="natively without AVX-512 it would prove nothing")
def test_onnx_runtime_gives_the_same_bits_on_an_emulated_cpu_without_avx512(
    tmp_path, tiny_run, tiny_source
):
    """A CNN, the case where ONNX Runtime's layout optimisation picks blocks by vector width:
    native (AVX-512 here) and an emulated Haswell (AVX2) give the same probabilities, bit for
    bit, with the pipeline's session options (docs/reproducibility.md)."""
    document = tiny_params(tiny_source)
    document["train"].update(
        architecture="cnn", conv_filters=[4, 8], hidden_units=[16], batch_norm=True, epochs=1
    )
    train.main(tiny_run.train_args(tmp_path, write_yaml(tmp_path / "params.yaml", document)))
    argv = [sys.executable, "-c", PROBABILITIES, str(tmp_path / "model.onnx"), str(tiny_run.test)]
    emulated = ["qemu-x86_64", "-cpu", "Haswell-v4"]
    hashes = {
        (cpu, level): subprocess.run(
            [*prefix, *argv, level],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout
        for cpu, prefix in [("native", []), ("Haswell-v4", emulated)]
        for level in ("pipeline", "all")
    }
    assert hashes["native", "pipeline"] == hashes["Haswell-v4", "pipeline"] != ""
    # The control: with ONNX Runtime's default optimisations the two CPUs differ.
    assert hashes["native", "all"] != hashes["Haswell-v4", "all"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("one_row", r"answered 3 images with float32 \(1, 10\), expected float32 \(3, 10\)"),
        ("nan", r"answered 3 images with probabilities that are not finite \(NaN or ±inf\)"),
        ("scores", r"answered 3 images with probabilities from 7 to 7, not in \[0, 1\]"),
        ("unnormalised", r"probabilities that sum to 9.99\d+ for one of them, not 1 \(±0.0001\)"),
    ],
    ids=["one-row", "nan", "scores", "unnormalised"],
)
def test_a_model_answering_other_than_probabilities_is_refused_in_one_line(
    tmp_path, answer, message
):
    path = write_onnx_classifier(tmp_path / "m.onnx", answer)
    classifier = onnx_model.load(path)
    with pytest.raises(DataError, match=message) as error:
        classifier.predict(np.full((5, 28, 28), 7, np.uint8), batch_size=3)
    assert str(error.value).startswith(f"{path}: answered 3 images with ")
    assert str(error.value).endswith("; run `dvc repro train`") and "\n" not in str(error.value)


def test_the_exported_model_answers_probabilities_well_within_the_tolerance(tiny_run):
    classifier = onnx_model.load(tiny_run.onnx)
    images, _ = splits.read_split(tiny_run.test)
    sums = classifier.predict(images, batch_size=16).sum(axis=1, dtype=np.float64)
    assert np.abs(sums - 1).max() < onnx_model.SUM_TOLERANCE / 100

"""Copies of model files with one thing changed, for the tests of what loading refuses."""

import json
import zipfile
from pathlib import Path


def rewrite_model_member(source: Path, target: Path, content: str | bytes | None) -> None:
    """Copy a .keras archive, replacing its class-names member (or dropping it if None)."""
    from stages.train import model_file

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            if item.filename != model_file.MEMBER:
                new.writestr(item, old.read(item))
        if content is not None:
            new.writestr(model_file.MEMBER, content)


def rewrite_onnx_metadata(source: Path, target: Path, key: str, value: str | None) -> None:
    """Copy an ONNX model, setting metadata `key` to `value` (or dropping it if None)."""
    import onnx

    proto = onnx.load(source)
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != key]
    del proto.metadata_props[:]
    for k, v in kept + ([] if value is None else [(key, value)]):
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, target)


# What a hand-built classifier answers for uint8 images (n, 28, 28): its first 10 pixels of each
# image, as float `x` (n, 10), turned into something else than one probability row per image.
ANSWERS = {
    # the first image's row alone, its row count computed (n / n) so that ONNX's shape
    # inference cannot see it and the declared (n, 10) stays
    "one_row": [
        ("Shape", ["image"], ["dims"], {}),
        ("Slice", ["dims", "start", "end_1", "axis_0"], ["n"], {}),
        ("Div", ["n", "n"], ["one"], {}),
        ("Slice", ["x", "start", "one", "axis_0"], ["first"], {}),
        ("Softmax", ["first"], [], {}),
    ],
    "nan": [("Softmax", ["x"], ["p"], {}), ("Add", ["p", "nan"], [], {})],
    "scores": [("Identity", ["x"], [], {})],
    "unnormalised": [("Sigmoid", ["x"], [], {})],
}


def write_onnx_classifier(path: Path, answer: str) -> Path:
    """A tiny ONNX model with this pipeline's interface and metadata (the train stage's
    `image` → `probabilities`, class_names, train_params) whose output is ANSWERS[answer]."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from stages.shared import fashion_mnist, onnx_model

    steps = [
        ("Cast", ["image"], ["pixels"], {"to": TensorProto.FLOAT}),
        ("Reshape", ["pixels", "flat_shape"], ["flat"], {}),
        ("Slice", ["flat", "start", "end", "axis"], ["x"], {}),
        *ANSWERS[answer],
    ]
    nodes = [
        helper.make_node(op, inputs, outputs or [onnx_model.OUTPUT], **attributes)
        for op, inputs, outputs, attributes in steps
    ]
    constants = {
        "flat_shape": np.array([-1, 784], np.int64),
        "start": np.array([0], np.int64),
        "end": np.array([10], np.int64),
        "axis": np.array([1], np.int64),
        "end_1": np.array([1], np.int64),
        "axis_0": np.array([0], np.int64),
        "nan": np.array([np.nan], np.float32),
    }
    graph = helper.make_graph(
        nodes,
        "altered",
        [helper.make_tensor_value_info(onnx_model.INPUT, TensorProto.UINT8, ["n", 28, 28])],
        [helper.make_tensor_value_info(onnx_model.OUTPUT, TensorProto.FLOAT, ["n", 10])],
        [numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    metadata = {
        onnx_model.CLASS_NAMES: json.dumps(list(fashion_mnist.CLASS_NAMES)),
        onnx_model.TRAIN_PARAMS: json.dumps({}),
    }
    helper.set_model_props(model, metadata)
    onnx.save(model, path)
    return path

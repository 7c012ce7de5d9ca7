"""Keras to ONNX for the train stage: export an inference model (tf2onnx, through Keras), make the
file's bytes depend on the weights alone, add the metadata, and check it against Keras on the
validation images before it is written."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stages.shared import onnx_model
from stages.shared.errors import PipelineError
from stages.train import keras_fixes

if TYPE_CHECKING:
    import keras
    import onnx

# ONNX opset 17 (ONNX Runtime 1.12 and later run it); pinned so that a tf2onnx upgrade does not
# change the file by itself.
OPSET = 17
GRAPH_NAME = "fashion_mnist"
# The parity the exported model must keep with Keras on every validation image.
MAX_PROBABILITY_GAP = 1e-5
# The parent of every logger of tf2onnx (tf2onnx.tfonnx, tf2onnx.optimizer, …).
TF2ONNX_LOGGER = "tf2onnx"


def export_onnx(model: keras.Model, path: Path) -> onnx.ModelProto:
    """The ONNX graph of `model`'s inference pass, exported by Keras through tf2onnx into
    `path` (overwritten) and read back."""
    import onnx

    with keras_fixes.numpy_probe_quiet(), tf2onnx_warnings_only():
        model.export(path, format="onnx", verbose=False, opset_version=OPSET)
    return onnx.load(path)


@contextlib.contextmanager
def tf2onnx_warnings_only() -> Iterator[None]:
    """tf2onnx's loggers at WARNING for the export: it logs its versions, its opset and its
    optimiser's counts at INFO, five lines in every training log, whatever Keras' `verbose`."""
    logger = logging.getLogger(TF2ONNX_LOGGER)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def canonicalise(proto: onnx.ModelProto) -> onnx.ModelProto:
    """`proto` with every name that tf2onnx numbers by a per-process counter renamed by its
    place in the graph, and every doc string cleared, so that two exports of the same weights
    give the same bytes: nodes `<op>_<i>`, values `<node>:<j>` (the input `image`, the output
    `probabilities`), initializers `const_<k>` in order of first use, the free batch dimension
    `n`."""
    import onnx

    proto = onnx.ModelProto.FromString(proto.SerializeToString())  # a copy
    graph = proto.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise PipelineError(
            f"the ONNX export has {len(graph.input)} inputs and {len(graph.output)} outputs, "
            "expected one of each"
        )
    names = {graph.input[0].name: onnx_model.INPUT, graph.output[0].name: onnx_model.OUTPUT}
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    used = []  # the initializers, in order of first use
    for i, node in enumerate(graph.node):
        node.name, node.doc_string = f"{node.op_type}_{i}", ""
        for name in node.input:
            if name in initializers and name not in names:
                names[name] = f"const_{len(used)}"
                used.append(initializers[name])
        for j, name in enumerate(node.output):
            names.setdefault(name, f"{node.name}:{j}")
    for node in graph.node:
        node.input[:] = [names.get(name, name) for name in node.input]  # "" (absent) stays
        node.output[:] = [names[name] for name in node.output]
    for tensor in used:
        tensor.name = names[tensor.name]
    graph.ClearField("initializer")  # those no node uses go: they change no output
    graph.initializer.extend(used)
    del graph.value_info[:]  # shape hints only; ONNX Runtime infers them again
    for value in [*graph.input, *graph.output]:
        value.name = names[value.name]
        value.doc_string = ""
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_param = "n"
    graph.name, graph.doc_string, proto.doc_string = GRAPH_NAME, "", ""
    return proto


def with_metadata(
    proto: onnx.ModelProto, class_names: Sequence[str], train_params: Mapping
) -> onnx.ModelProto:
    """`proto` carrying the class names and the train params (JSON, sorted keys) in its
    metadata_props: they travel with the weights, with no side file to lose."""
    del proto.metadata_props[:]
    for key, value in [
        (onnx_model.CLASS_NAMES, list(class_names)),
        (onnx_model.TRAIN_PARAMS, dict(train_params)),
    ]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value, sort_keys=True)
    return proto


def check_parity(keras_probabilities: np.ndarray, onnx_probabilities: np.ndarray) -> float:
    """The largest |Δprobability| between the two models; PipelineError if it is over
    MAX_PROBABILITY_GAP or if any image gets another class."""
    gap = float(np.abs(keras_probabilities - onnx_probabilities).max(initial=0))
    other = np.flatnonzero(keras_probabilities.argmax(axis=1) != onnx_probabilities.argmax(axis=1))
    if len(other) or gap > MAX_PROBABILITY_GAP:
        raise PipelineError(
            f"the ONNX export differs from the Keras model on the validation images: "
            f"{len(other)} get another class, max |Δprobability| {gap:.2g} "
            f"(allowed {MAX_PROBABILITY_GAP:g}); the model is not written (docs/own-images.md)"
        )
    return gap


def export(
    model: keras.Model,
    trained: keras.Model,
    path: Path,
    metadata: tuple[Sequence[str], Mapping],
    images: np.ndarray,
    batch_size: int,
) -> float:
    """Write inference `model` to `path` as canonical ONNX with `metadata` (class names, train
    params), once it gives the same classes as the `trained` Keras model on `images`, within
    MAX_PROBABILITY_GAP; return the largest gap."""
    model.predict(images[:1], verbose=0)  # Keras exports only a model that has been called
    proto = with_metadata(canonicalise(export_onnx(model, path)), *metadata)
    data = proto.SerializeToString(deterministic=True)
    classifier = onnx_model.open_classifier(data, str(path))
    gap = check_parity(
        trained.predict(images, batch_size=batch_size, verbose=0),
        classifier.predict(images, batch_size=batch_size),
    )
    path.write_bytes(data)
    return gap

"""The trained model, written twice: Keras' `.keras` file (stable bytes, the class names and
numerics mode inside) and the ONNX export, checked against the model in memory before it is
written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stages.shared import fashion_mnist
from stages.train import model_file, network, onnx_export, settings

if TYPE_CHECKING:
    import keras


def save_model(
    model: keras.Model, cfg: settings.Train, keras_path: Path, onnx_path: Path, images: np.ndarray
) -> float:
    """Write `model` to `keras_path` and its inference network to `onnx_path`, the ONNX model
    checked on `images` against `model` (with `flip_tta`, against `model`'s own probabilities
    averaged over the mirror images); return the largest |Δprobability| of that check."""
    model.save(keras_path)
    model_file.normalise_bytes(keras_path)
    model_file.embed_facts(keras_path, fashion_mnist.CLASS_NAMES, cfg.numerics)
    metadata = (fashion_mnist.CLASS_NAMES, cfg.model_dump())
    reference = network.with_flip_tta(model) if cfg.flip_tta else model
    return onnx_export.export(
        network.inference_model(model, cfg), reference, onnx_path, metadata, images, cfg.batch_size
    )

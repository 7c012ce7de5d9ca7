"""The shipped model's contract: an ONNX file that takes uint8 images (n, 28, 28) as `image` and
returns one probability per class as `probabilities`, and carries the class names and the train
params that produced it in its metadata. Run with ONNX Runtime, which needs neither TensorFlow nor
Keras: evaluate, predict and tools.classify load it here, and the train stage checks what it
exports through the same session."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stages.shared import fashion_mnist
from stages.shared.errors import DataError

if TYPE_CHECKING:
    import onnxruntime

INPUT, OUTPUT = "image", "probabilities"
# metadata_props keys: JSON values, so that any ONNX tool can read them.
CLASS_NAMES, TRAIN_PARAMS = "class_names", "train_params"
_FIX = "run `dvc repro train`"
# A softmax in float32 sums to 1 within about 1e-6 over 10 classes; 100 times that is allowed.
SUM_TOLERANCE = 1e-4


@dataclasses.dataclass(frozen=True)
class Classifier:
    """An ONNX Runtime session of a checked model, what its metadata says, and the model's name
    for errors (its path)."""

    session: onnxruntime.InferenceSession
    class_names: list[str]
    train_params: dict
    name: str

    def predict(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        """float32 probabilities (n, 10) of uint8 images (n, 28, 28), `batch_size` at a time;
        DataError if the model cannot run, or answers a batch with anything but one row of
        probabilities per image."""
        batches = [
            self._run(images[start : start + batch_size])
            for start in range(0, len(images), batch_size)
        ]
        empty = np.zeros((0, len(self.class_names)), np.float32)
        return np.concatenate(batches) if batches else empty

    def _run(self, images: np.ndarray) -> np.ndarray:
        try:
            (probabilities,) = self.session.run([OUTPUT], {INPUT: images})
        except Exception as error:  # ONNX Runtime's own classes derive from Exception alone
            problem = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise DataError(f"{self.name}: cannot run ({problem}); {_FIX}") from error
        problem = probabilities_problem(probabilities, len(images))
        if problem:
            raise DataError(f"{self.name}: {problem}; {_FIX}")
        return probabilities


def probabilities_problem(probabilities: np.ndarray, count: int) -> str:
    """What is wrong with a model's answer to `count` images, as a phrase; "" if it is float32
    (count, 10), finite, in [0, 1], each row summing to 1 within SUM_TOLERANCE."""
    expected = (count, fashion_mnist.NUM_CLASSES)
    if probabilities.shape != expected or probabilities.dtype != np.float32:
        return (
            f"answered {count} images with {probabilities.dtype} {probabilities.shape}, "
            f"expected float32 {expected}"
        )
    if not np.isfinite(probabilities).all():
        return f"answered {count} images with probabilities that are not finite (NaN or ±inf)"
    if probabilities.size and (probabilities.min() < 0 or probabilities.max() > 1):
        low, high = probabilities.min(), probabilities.max()
        return (
            f"answered {count} images with probabilities from {low:g} to {high:g}, not in [0, 1]"
        )
    deviation = np.abs(probabilities.sum(axis=1, dtype=np.float64) - 1)
    if deviation.size and deviation.max() > SUM_TOLERANCE:
        worst = deviation.argmax()
        return (
            f"answered {count} images with probabilities that sum to "
            f"{probabilities[worst].sum(dtype=np.float64):g} for one of them, not 1 "
            f"(±{SUM_TOLERANCE:g})"
        )
    return ""


def session_options() -> onnxruntime.SessionOptions:
    """ONNX Runtime's settings for every session of the pipeline. Its graph optimisations stop at
    the basic level: the next one (layout) rewrites convolutions in blocks sized by the CPU's
    vector width, which changed a CNN's probabilities by up to 4.5e-8 between an AVX-512 CPU and
    an emulated Haswell; at this level they are the same bits (docs/reproducibility.md). The
    thread count is left to ONNX Runtime: 1 or 2 threads gave the same bits."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.log_severity_level = 3  # errors only: they reach us as exceptions anyway
    return options


def _open(model: Path | bytes, name: str) -> onnxruntime.InferenceSession:
    # Imported here: `import onnxruntime` takes 0.2–0.4 s, which every `--help` would pay.
    import onnxruntime

    source = model if isinstance(model, bytes) else str(model)
    try:
        return onnxruntime.InferenceSession(
            source, session_options(), providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # ONNX Runtime's own classes derive from Exception alone
        problem = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{name}: not a loadable ONNX model ({problem}); {_FIX}") from error


def _metadata(session: onnxruntime.InferenceSession, key: str, name: str) -> object:
    found = session.get_modelmeta().custom_metadata_map
    if key not in found:
        raise DataError(f"{name}: carries no {key} (not exported by the train stage); {_FIX}")
    try:
        return json.loads(found[key])
    except ValueError:
        raise DataError(f"{name}: its {key} metadata is not JSON; {_FIX}") from None


def check_interface(session: onnxruntime.InferenceSession, name: str) -> None:
    """DataError unless the graph takes uint8 `image` (n, 28, 28) and gives float
    `probabilities` (n, 10), n free."""
    expected = [
        ("input", INPUT, "tensor(uint8)", [*fashion_mnist.IMAGE_SHAPE]),
        ("output", OUTPUT, "tensor(float)", [fashion_mnist.NUM_CLASSES]),
    ]
    for (kind, *wanted), found in zip(
        expected, [session.get_inputs(), session.get_outputs()], strict=True
    ):
        have = [
            (x.name, x.type, [d if isinstance(d, int) else None for d in x.shape]) for x in found
        ]
        want = [(wanted[0], wanted[1], [None, *wanted[2]])]
        if have != want:
            raise DataError(f"{name}: its {kind}s are {have}, expected {want}; {_FIX}")


def open_classifier(model: Path | bytes, name: str) -> Classifier:
    """A session of `model` (a file, or its bytes) checked against this pipeline: the interface,
    and the same class names in the same order; DataError otherwise."""
    session = _open(model, name)
    check_interface(session, name)
    names = _metadata(session, CLASS_NAMES, name)
    if names != list(fashion_mnist.CLASS_NAMES):
        raise DataError(
            f"{name}: predicts the classes {names}, but this pipeline's are "
            f"{list(fashion_mnist.CLASS_NAMES)}; {_FIX}"
        )
    params = _metadata(session, TRAIN_PARAMS, name)
    if not isinstance(params, dict):
        raise DataError(f"{name}: its {TRAIN_PARAMS} metadata is not a mapping; {_FIX}")
    return Classifier(session, names, params, name)


def load(path: Path) -> Classifier:
    """The ONNX model at `path`, checked (`open_classifier`)."""
    if not path.is_file():
        raise DataError(f"{path}: missing; {_FIX}")
    return open_classifier(path, str(path))

"""TensorFlow and Keras for the stages that use them: a quiet lazy import, deterministic seeding.

The import is lazy so that `download`, `preprocess` and every `--help` start without TensorFlow."""

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType


@contextlib.contextmanager
def _stderr_captured() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file; replay it if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_keras() -> ModuleType:
    """Import Keras on TensorFlow without TensorFlow's start-up notices (oneDNN, CUDA, CPU flags).

    TensorFlow writes them from C++ before its logging is set up, where TF_CPP_MIN_LOG_LEVEL
    does not reach (tensorflow/tensorflow#100442), so they are captured and shown only if the
    import fails. Later C++ log lines are hidden too (TF_CPP_MIN_LOG_LEVEL=3): TensorFlow's errors
    that matter reach us as Python exceptions. Set TF_CPP_MIN_LOG_LEVEL=0 to see everything."""
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with _stderr_captured():
            import keras  # noqa: F401
    return sys.modules["keras"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow's kernels deterministic, so the same
    params on the same machine give the same weights."""
    keras = import_keras()
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()

"""The Keras workarounds of stages/train/keras_fixes.py: gated on the Keras version, and still
needed. Each still-needed test fails once upstream fixes the bug: then delete the workaround and
the test."""

import subprocess
import sys

import pytest

from stages.train import keras_fixes
from tests.helpers.project import REPO

# MirroredStrategy over 3 logical CPU devices, a batch of 16 (6 + 5 + 5), plain Keras `fit`.
UNEVEN_FIT = """
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 3)
import keras
from stages.train import keras_fixes
if "--fixed" in sys.argv:
    keras_fixes.apply_distributed()
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1", "/cpu:2"])
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
model.fit(np.ones((32, 4), "float32"), np.ones((32, 2), "float32"), batch_size=16, verbose=0)
print("trained")
"""


def test_applied_only_to_the_keras_versions_it_was_written_for():
    assert keras_fixes.applies_to("3.15.1")
    assert not keras_fixes.applies_to("3.16.0") and not keras_fixes.applies_to("3.1.5")


@pytest.mark.slow
def test_keras_still_fails_an_uneven_distributed_batch_without_the_workaround():
    """keras-team/keras#19246: if this fails, Keras is fixed: delete the workaround."""
    runs = {
        fixed: subprocess.run(
            [sys.executable, "-c", f"import sys\n{UNEVEN_FIT}", *(["--fixed"] if fixed else [])],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
        )
        for fixed in (False, True)
    }
    assert runs[True].returncode == 0 and "trained" in runs[True].stdout, runs[True].stderr
    assert runs[False].returncode != 0, "Keras trains an uneven batch now: drop the workaround"
    assert "must have the same size and shape" in runs[False].stderr


def test_the_datasets_keras_makes_of_arrays_run_without_autotuning():
    import numpy as np
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    keras_fixes.without_autotune_stalls()
    keras_fixes.without_autotune_stalls()  # a second call changes nothing
    adapter = ArrayDataAdapter(np.zeros((10, 2)), np.zeros(10), batch_size=4, shuffle=True)
    dataset = adapter.get_tf_dataset()
    assert dataset.options().autotune.enabled is False
    assert [len(x) for x, _ in dataset] == [4, 4, 2]


# A small CNN with batch normalisation, dropout and shuffling, fitted for 2 epochs: the SHA-256 of
# its weights, with or without the workaround.
FIT_WEIGHTS = """
import hashlib, sys
import numpy as np
from stages.train import keras_fixes
from stages.train import tensorflow_setup
tensorflow_setup.seed_everything(1)
if "--fixed" in sys.argv:
    keras_fixes.without_autotune_stalls()
import keras
rng = np.random.default_rng(0)
x, y = rng.random((300, 8, 8, 1), "float32"), rng.integers(0, 3, 300)
model = keras.Sequential([
    keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(),
    keras.layers.Flatten(), keras.layers.Dropout(0.3), keras.layers.Dense(3, "softmax"),
])
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(x, y, batch_size=32, epochs=2, validation_data=(x[:50], y[:50]), verbose=0)
print(hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest())
"""


@pytest.mark.slow
def test_without_autotuning_the_network_learns_the_same_weights():
    hashes = {
        fixed: subprocess.run(
            [sys.executable, "-c", FIT_WEIGHTS, *(["--fixed"] if fixed else [])],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        ).stdout
        for fixed in (False, True)
    }
    assert hashes[False] == hashes[True] != ""


def test_keras_batch_normalisation_is_still_not_exact_without_the_workaround():
    """tensorflow/tensorflow#56529: TensorFlow's vectorised rsqrt rounds differently from an
    exact division (and between CPU makers). If no result differs here, Keras computes exactly:
    drop use_exact_operations and this test."""
    import numpy as np
    from keras.src.backend.tensorflow import nn

    keras_fixes.use_exact_operations()  # already, in the tests' portable numerics
    exact, keras_own = nn.batch_normalization, nn.batch_normalization.replaces
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4096)).astype("float32")
    mean, scale = rng.normal(size=(2, 4096)).astype("float32")
    variance = rng.uniform(0.01, 10, size=4096).astype("float32")
    own = np.asarray(keras_own(x, mean, variance, -1, scale=scale))
    assert own.shape == x.shape
    differ = (own != np.asarray(exact(x, mean, variance, -1, scale=scale))).sum()
    assert differ > 0, "Keras' batch normalisation is exact now: drop the workaround"


def test_tensorflow_ones_applied_only_to_the_tensorflow_versions_they_were_written_for():
    assert keras_fixes.applies_to_tensorflow("2.21.0")
    assert not keras_fixes.applies_to_tensorflow("2.22.0")
    assert not keras_fixes.applies_to_tensorflow("2.2.1")


@pytest.mark.slow
def test_tensorflow_still_writes_notices_at_import_below_its_log_level():
    """tensorflow/tensorflow#100442: if this fails, TF_CPP_MIN_LOG_LEVEL reaches the start-up
    notices: delete `start_up_notices_hidden`."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import tensorflow"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip(), "TensorFlow's import is quiet now: delete the workaround"


def test_the_hidden_notices_are_shown_when_the_import_fails(capfd):
    with pytest.raises(ImportError), keras_fixes.start_up_notices_hidden():
        sys.stderr.write("a notice\n")
        sys.stderr.flush()
        raise ImportError("no module")
    assert "a notice" in capfd.readouterr().err


def test_keras_patch_of_tf2onnx_still_probes_np_object():
    """If this fails, Keras' patch no longer warns: delete `numpy_probe_quiet`."""
    import inspect

    from keras.src.export import tf2onnx_lib

    assert "np.object" in inspect.getsource(tf2onnx_lib)

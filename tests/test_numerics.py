"""train.numerics: what each mode gives TensorFlow, and when the portable bytes cannot hold."""

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from stages.shared.errors import PipelineError
from stages.train import tensorflow_setup
from tests.helpers.project import REPO, file_tree, write_yaml
from tests.helpers.repo import make_repo

# Run in a new process: TensorFlow reads the settings once, when it loads.
PROBE = """
import os, sys
from stages.train import tensorflow_setup
tensorflow_setup.set_numerics(sys.argv[1])
tensorflow_setup.import_keras()
from tensorflow.python.util import _pywrap_util_port
print(os.environ.get("TF_ENABLE_ONEDNN_OPTS"), os.environ.get("ONEDNN_MAX_CPU_ISA"),
      _pywrap_util_port.IsMklEnabled())
"""


def _probe(mode: str, **environment: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if k not in tensorflow_setup.NUMERICS_ENV["portable"]
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        cwd=REPO,
        env={**env, **environment},
        capture_output=True,
        text=True,
        check=True,
    )


def test_portable_turns_on_onednn_capped_at_avx2_before_tensorflow_loads():
    result = _probe("portable", ONEDNN_MAX_CPU_ISA="AVX512_CORE_AMX")
    assert result.stdout.split() == ["1", "AVX2", "True"]
    assert "ONEDNN_MAX_CPU_ISA=AVX512_CORE_AMX ignored: train.numerics=portable" in result.stderr


def test_fastest_leaves_the_choice_to_tensorflow():
    result = _probe("fastest", TF_ENABLE_ONEDNN_OPTS="1", ONEDNN_MAX_CPU_ISA="AVX2")
    assert result.stdout.split()[:2] == ["None", "None"]


def test_another_mode_once_tensorflow_has_loaded_is_refused():
    tensorflow_setup.import_keras()  # the test session runs in portable mode (tests/conftest.py)
    tensorflow_setup.set_numerics("portable")
    with pytest.raises(PipelineError) as error:
        tensorflow_setup.set_numerics("fastest")
    assert str(error.value) == (
        "train.numerics=fastest needs TF_ENABLE_ONEDNN_OPTS unset ONEDNN_MAX_CPU_ISA unset "
        "before TensorFlow loads, but it was loaded with TF_ENABLE_ONEDNN_OPTS=1 "
        "ONEDNN_MAX_CPU_ISA=AVX2; run the stage in a new process"
    )


def test_portable_batch_normalisation_divides_by_the_square_root_in_graphs_too():
    keras = tensorflow_setup.import_keras()
    import tensorflow as tf

    x = np.random.default_rng(0).standard_normal((32, 7, 7, 16), dtype=np.float32)
    mean, variance = (t.numpy() for t in tf.nn.moments(tf.constant(x), [0, 1, 2]))
    for scale in (True, False):
        layer = keras.layers.BatchNormalization(
            scale=scale, gamma_initializer="random_uniform", beta_initializer="random_uniform"
        )
        layer.build(x.shape)
        beta, root = layer.beta.numpy(), np.sqrt(variance + np.float32(layer.epsilon))
        if scale:
            inverse = layer.gamma.numpy() / root
            exact = x * inverse + (beta - mean * inverse)
        else:
            exact = (x - mean) / root + beta
        graph = tf.function(lambda x, layer=layer: layer(x, training=True))(x).numpy()
        np.testing.assert_array_equal(graph, exact)  # bit for bit: rsqrt changes the last bits


def test_portable_holds_on_this_x86_64_cpu_with_avx2():
    assert tensorflow_setup.portable_here("portable") is None


def test_portable_cannot_hold_on_another_architecture_or_without_avx2(monkeypatch, caplog):
    assert tensorflow_setup.portable_here("fastest") == (
        "train.numerics=fastest picks kernels and instruction sets by CPU"
    )
    monkeypatch.setattr(tensorflow_setup, "cpu_has", lambda feature: feature != "AVX2")
    assert tensorflow_setup.portable_here("portable") == "this x86-64 CPU lacks AVX2"
    tensorflow_setup.set_numerics("portable")
    assert "lacks AVX2, so results differ from those of x86-64 CPUs with AVX2" in caplog.text
    monkeypatch.setattr(tensorflow_setup.platform, "machine", lambda: "aarch64")
    assert tensorflow_setup.portable_here("portable") == "this CPU is aarch64, not x86-64"


# Emulated CPUs of other generations and vendors, by QEMU's user mode (Debian's qemu-user, which
# `make test-slow` installs): Intel's 2013 and AMD's 2019 designs, AVX2 and no AVX-512.
EMULATED_CPUS = ["Haswell-v4", "EPYC-Rome"]
# The CNN preset's kinds of layers, shrunk: convolutions, batch normalisation, pooling, dropout,
# random flips (and shifts) and Dense layers, trained by AdamW on a cosine schedule with label
# smoothing; GELU, the activation that needs an exact replacement (stages/train/keras_fixes.py).
TINY_CNN = {
    "architecture": "cnn",
    "conv_filters": [4, 8],
    "convs_per_block": 2,
    "hidden_units": [16],
    "activation": "gelu",
    "batch_norm": True,
    "dropout": 0.5,
    "augment": {"translation": 0.1, "horizontal_flip": True, "erasing": 0.0},
    "optimizer": "adamw",
    "learning_rate": 0.002,
    "weight_decay": 0.0001,
    "schedule": "cosine",
    "label_smoothing": 0.1,
    "epochs": 1,
}
STAGES = ["download", "preprocess", "train", "evaluate", "predict"]
x86_64_only = pytest.mark.skipif(
    platform.machine() != "x86_64", reason="runs this machine's x86-64 Python on other CPUs"
)


def emulated_python(directory: Path, cpu: str) -> Path:
    """A `python` command that runs this virtual environment's Python on an emulated `cpu`."""
    qemu = shutil.which("qemu-x86_64")
    assert qemu, "qemu-x86_64 is missing: `make qemu` installs Debian's qemu-user"
    directory.mkdir(parents=True)
    python = directory / "python"
    python.write_text(f'#!/bin/sh\nexec {qemu} -cpu {cpu} {sys.executable} "$@"\n')
    python.chmod(0o755)
    return python


def reproduce(root: Path, source, python: Path | None) -> dict[str, bytes]:
    """`dvc repro` of the tiny CNN pipeline, every stage run by `python` (None: natively); the
    bytes of dvc.lock, the model and every file under metrics/."""
    repo = make_repo(root, source)
    repo.set_params("train", **TINY_CNN)
    if python:  # dvc.yaml's commands run `python` from the PATH
        repo.env["PATH"] = f"{python.parent}{os.pathsep}{repo.env['PATH']}"
    assert repo.repro() == STAGES
    metrics = file_tree(root / "metrics")
    return {
        "dvc.lock": (root / "dvc.lock").read_bytes(),
        "model.keras": (root / "data/model/model.keras").read_bytes(),
        "model.onnx": (root / "data/model/model.onnx").read_bytes(),
        **{f"metrics/{name}": data for name, data in metrics.items()},
    }


@pytest.fixture(scope="module")
def native(tmp_path_factory, tiny_source) -> dict[str, bytes]:
    return reproduce(tmp_path_factory.mktemp("native") / "project", tiny_source, None)


@pytest.mark.slow
@pytest.mark.e2e
@x86_64_only
@pytest.mark.parametrize("cpu", EMULATED_CPUS)
def test_portable_pipeline_is_byte_identical_on_an_emulated_cpu(
    tmp_path, tiny_source, native, cpu
):
    python = emulated_python(tmp_path / "bin", cpu)
    features = subprocess.run(
        [
            python,
            "-c",
            "from stages.train.tensorflow_setup import cpu_has;"
            "print(cpu_has('AVX2'), cpu_has('AVX512F'))",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert features.stdout.split() == ["True", "False"]  # the emulated CPU's, not this one's
    emulated = reproduce(tmp_path / "project", tiny_source, python)
    assert sorted(emulated) == sorted(native)
    # Every byte but the training time's, which differs on every run and no dvc.lock holds.
    differ = [name for name in native if emulated[name] != native[name]]
    assert [name for name in differ if name != "metrics/time.json"] == []


@pytest.mark.slow
@x86_64_only
@pytest.mark.skipif(
    not tensorflow_setup.cpu_has("AVX512F"),
    reason="without AVX-512 here, fastest may pick Haswell's kernels",
)
def test_fastest_numerics_train_another_model_on_an_emulated_cpu(tmp_path, tiny_run):
    """The control: the comparison above can fail. TensorFlow's own choice differs between this
    AVX-512 CPU and an emulated Haswell, and so does the model."""
    document = yaml.safe_load(tiny_run.params.read_text())
    # ReLU: Keras' exact GELU uses Erfc in fastest mode, which ONNX lacks (params.py refuses it).
    document["train"].update(TINY_CNN, numerics="fastest", activation="relu")
    params = write_yaml(tmp_path / "params.yaml", document)
    models = {}
    for cpu, python in [
        ("native", sys.executable),
        ("Haswell-v4", emulated_python(tmp_path / "bin", "Haswell-v4")),
    ]:
        argv = [str(python), *tiny_run.train_argv(tmp_path / cpu, params)[1:]]
        subprocess.run(argv, cwd=REPO, check=True, capture_output=True)
        models[cpu] = (tmp_path / cpu / "model.keras").read_bytes()
    assert models["native"] != models["Haswell-v4"]

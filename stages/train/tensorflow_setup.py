"""TensorFlow set-up for the stages that use it: the numerics mode (and whether this CPU keeps it
portable), Keras imported lazily and quietly, deterministic seeding.

The import is lazy so that `download`, `preprocess` and every `--help` start without TensorFlow,
and so that the numerics mode, which TensorFlow reads from the environment, is set before it."""

import logging
import os
import platform
import sys
from types import ModuleType

from stages.shared.errors import PipelineError
from stages.train import keras_fixes

logger = logging.getLogger(__name__)

# The environment each `train.numerics` mode gives TensorFlow (None: unset). TensorFlow and
# oneDNN read it once, when they load. portable: oneDNN's own kernels on every CPU
# (TensorFlow turns them on by itself only on CPUs with AVX512_VNNI, BF16 or AMX), and no
# instruction set beyond AVX2: the same kernels, so the same float rounding, on every x86-64 CPU
# with AVX2 (with the exact operations of `keras_fixes.use_exact_operations`). fastest:
# TensorFlow's defaults, which pick both by CPU. docs/reproducibility.md has the measurements.
NUMERICS_ENV = {
    "portable": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "fastest": {"TF_ENABLE_ONEDNN_OPTS": None, "ONEDNN_MAX_CPU_ISA": None},
}


def cpu_has(feature: str) -> bool:
    """Whether the CPU has an instruction set extension, e.g. "AVX2", "AVX512F"."""
    # NumPy asks the CPU itself (CPUID), so an emulated CPU answers for itself: /proc/cpuinfo
    # shows the host's flags under QEMU's user mode. np.show_runtime() reads the same table.
    from numpy._core._multiarray_umath import __cpu_features__

    return __cpu_features__.get(feature, False)


def portable_here(mode: str) -> str | None:
    """None if numerics `mode` gives the same bytes here as on any x86-64 CPU with AVX2;
    otherwise why not."""
    if mode != "portable":
        return f"train.numerics={mode} picks kernels and instruction sets by CPU"
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"this CPU is {platform.machine()}, not x86-64"
    if not cpu_has("AVX2"):
        return "this x86-64 CPU lacks AVX2"
    return None


def set_numerics(mode: str) -> None:
    """Give TensorFlow the environment of numerics `mode` (NUMERICS_ENV) before it loads; raise
    PipelineError if it has already loaded with another."""
    wanted = NUMERICS_ENV[mode]
    found = {name: os.environ.get(name) for name in wanted}
    if found != wanted and "tensorflow" in sys.modules:
        raise PipelineError(
            f"train.numerics={mode} needs {_spell(wanted)} before TensorFlow loads, but it was "
            f"loaded with {_spell(found)}; run the stage in a new process"
        )
    if found != wanted:
        for name, value in wanted.items():
            if found[name] not in (None, value):
                logger.warning("%s=%s ignored: train.numerics=%s", name, found[name], mode)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if mode == "portable" and "keras" in sys.modules:
        keras_fixes.use_exact_operations()
    if mode == "portable" and (reason := portable_here(mode)):
        logger.warning(
            "train.numerics=portable: %s, so results differ from those of x86-64 CPUs with AVX2 "
            "(they stay the same run after run here)",
            reason,
        )


def _spell(environment: dict[str, str | None]) -> str:
    return " ".join(
        f"{name}={value}" if value is not None else f"{name} unset"
        for name, value in environment.items()
    )


def import_keras() -> ModuleType:
    """Import Keras on TensorFlow without TensorFlow's start-up notices (oneDNN, CUDA, CPU flags).

    TensorFlow writes them from C++ before its logging is set up, so they are captured and shown
    only if the import fails (keras_fixes.start_up_notices_hidden). Later C++ log lines are
    hidden too (TF_CPP_MIN_LOG_LEVEL=3): TensorFlow's errors that matter reach us as Python
    exceptions. Set TF_CPP_MIN_LOG_LEVEL=0 to see everything."""
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with keras_fixes.start_up_notices_hidden():
            import keras  # noqa: F401
        if all(os.environ.get(k) == v for k, v in NUMERICS_ENV["portable"].items()):
            keras_fixes.use_exact_operations()
    return sys.modules["keras"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow's kernels deterministic, so the same
    params on the same machine give the same weights."""
    keras = import_keras()
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()

"""Every workaround of Keras and TensorFlow that the train stage needs, in one place, each applied
only to the Keras versions it was written for (WRITTEN_FOR) and naming its upstream issue;
tests/test_keras_fixes.py checks that each is still needed and fails once upstream is fixed: then
delete the workaround and its test.

- `use_exact_operations` (portable numerics): batch normalisation and GELU without TensorFlow's
  approximate instructions, so every x86-64 CPU computes the same bits.
- `without_autotune_stalls`: `fit` stalled between epochs; it changes how fast, never what, the
  network learns.
- `apply_distributed` (train.distribution: mirrored, multi_worker): two bugs that break `fit`
  under tf.distribute. Only two private helpers of Keras' TensorFlow trainer are replaced.
- `start_up_notices_hidden`: TensorFlow's C++ notices at import, which its log level misses.
- `numpy_probe_quiet`: the FutureWarning of Keras' own patch of tf2onnx, in every export.
- `sigterm_given_back`: MultiWorkerMirroredStrategy takes SIGTERM from the stage.

The Keras ones are applied once Keras has been imported (stages/train/startup.py); the TensorFlow
ones where TensorFlow does what they undo, each guarded by TensorFlow's version
(TENSORFLOW_WRITTEN_FOR), read from the installed package before TensorFlow is imported."""

import contextlib
import importlib.metadata
import logging
import os
import signal
import sys
import tempfile
import warnings
from collections.abc import Iterator

logger = logging.getLogger(__name__)

# The Keras releases whose private trainer functions these replacements were written against.
WRITTEN_FOR = ("3.15.",)
# The TensorFlow releases whose behaviour the TensorFlow workarounds were written against.
TENSORFLOW_WRITTEN_FOR = ("2.21.",)


def applies_to(version: str) -> bool:
    return version.startswith(WRITTEN_FOR)


def applies_to_tensorflow(version: str) -> bool:
    return version.startswith(TENSORFLOW_WRITTEN_FOR)


def _written_for_this_tensorflow(what: str) -> bool:
    """Whether the installed TensorFlow is one the TensorFlow workarounds were written for (read
    from its package, so that it can be asked before TensorFlow is imported); if not, say which
    is not applied."""
    version = importlib.metadata.version("tensorflow")
    if applies_to_tensorflow(version):
        return True
    logger.warning(
        "TensorFlow %s: the workaround for %s in stages/train/keras_fixes.py was written for %s "
        "and is not applied; check its upstream issue",
        version,
        what,
        ", ".join(f"{v}*" for v in TENSORFLOW_WRITTEN_FOR),
    )
    return False


@contextlib.contextmanager
def start_up_notices_hidden() -> Iterator[None]:
    """Around TensorFlow's import: send file descriptor 2 to a temporary file, and replay it only
    if the block raises. TensorFlow writes its start-up notices (CUDA drivers, CPU instructions)
    from C++ before its logging is set up, where TF_CPP_MIN_LOG_LEVEL does not reach
    (tensorflow/tensorflow#100442)."""
    if not _written_for_this_tensorflow("the start-up notices"):
        yield
        return
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


@contextlib.contextmanager
def numpy_probe_quiet() -> Iterator[None]:
    """Around an ONNX export: Keras' patch of tf2onnx for NumPy 2
    (keras/src/export/tf2onnx_lib.py) probes `np.object`, which NumPy warns about on every
    export. No upstream issue found; the test checks that the patch still probes it."""
    with warnings.catch_warnings():
        if _written_for_this_keras("the np.object warning of ONNX exports"):
            warnings.filterwarnings("ignore", "In the future `np.object`", FutureWarning)
        yield


def sigterm_given_back() -> None:
    """Right after MultiWorkerMirroredStrategy is made: its coordination service takes SIGTERM
    for its own preemption notices, so a killed `dvc repro` would train on. Give SIGTERM back to
    the handler Python had (stages/shared/cli.py's), which Python still reports, though the
    process no longer runs it. TensorFlow documents the takeover as a feature
    (tf.distribute.experimental.PreemptionCheckpointHandler), so no upstream issue; the slow
    test of a worker stopped mid-training fails without this."""
    if _written_for_this_tensorflow("SIGTERM under MultiWorkerMirroredStrategy"):
        signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGTERM))


def _written_for_this_keras(what: str) -> bool:
    """Whether the installed Keras is one the workarounds were written for; if not, say which of
    them is not applied."""
    import keras

    if applies_to(keras.__version__):
        return True
    logger.warning(
        "Keras %s: the workaround for %s in stages/train/keras_fixes.py was written for %s and is "
        "not applied; check its upstream issue",
        keras.__version__,
        what,
        ", ".join(f"{v}*" for v in WRITTEN_FOR),
    )
    return False


def apply_distributed() -> None:
    """Install both tf.distribute workarounds (once), if the installed Keras is one they were
    written for."""
    if not _written_for_this_keras("distributed training"):
        return
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "patched", False):
        return
    trainer.reduce_per_replica = _scalars_reduced_without_axis(trainer.reduce_per_replica)
    trainer.TensorFlowTrainer._maybe_symbolic_build = _built_on_a_local_batch(
        trainer.TensorFlowTrainer._maybe_symbolic_build
    )


def use_exact_operations() -> None:
    """Replace the Keras operations that TensorFlow computes with approximate instructions by
    exact ones. TensorFlow's vectorised rsqrt and reciprocal use RSQRTPS and RCPPS, whose last
    bits differ between CPU makers (and emulators), and its erfc uses them too: batch
    normalisation divides by a square root instead of multiplying by rsqrt, GELU uses erf, and
    Grappler's arithmetic optimiser, which would turn x / sqrt(y) back into x * rsqrt(y), is
    off. Upstream: tensorflow/tensorflow#56529 (sqrt differs between Intel and AMD CPUs)."""
    if not _written_for_this_keras("portable numerics"):
        return
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn

    if getattr(nn.batch_normalization, "exact", False):
        return
    keras_gelu = nn.gelu

    def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
        if axis != -1:  # as Keras does
            shape = [1] * len(x.shape)
            shape[axis] = mean.shape[0]
            mean, variance = tf.reshape(mean, shape), tf.reshape(variance, shape)
            offset = None if offset is None else tf.reshape(offset, shape)
            scale = None if scale is None else tf.reshape(scale, shape)
        if scale is None:  # 1 / sqrt(…) would not do: Grappler's constant folding makes 1 / y
            # a reciprocal. So divide every element.
            y = (x - tf.cast(mean, x.dtype)) / tf.cast(tf.sqrt(variance + epsilon), x.dtype)
            return y if offset is None else y + tf.cast(offset, x.dtype)
        inverse = scale / tf.sqrt(variance + epsilon)  # one division per channel
        shift = -mean * inverse if offset is None else offset - mean * inverse
        return x * tf.cast(inverse, x.dtype) + tf.cast(shift, x.dtype)

    def gelu(x, approximate=True):
        if approximate:  # tanh's formula: exact operations already
            return keras_gelu(x, approximate)
        x = tf.convert_to_tensor(x)
        return 0.5 * x * (1 + tf.math.erf(x * tf.cast(0.5**0.5, x.dtype)))

    batch_normalization.exact = True
    batch_normalization.replaces = nn.batch_normalization  # for the test that it is still needed
    nn.batch_normalization, nn.gelu = batch_normalization, gelu
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})


def without_autotune_stalls() -> None:
    """Turn tf.data's autotuning off for the datasets Keras makes of NumPy arrays (`fit`'s
    training and validation data), if the installed Keras is one this was written for.

    At the end of an epoch Keras drops the epoch's dataset iterator, and dropping it waits for
    tf.data's autotuning thread, which sleeps between its rounds, and longer as training goes on:
    here the process then sat idle for 5–20 s after one epoch in two (seen with py-spy and gdb:
    the main thread in `~LogicalThreadWrapper`, under `RootDataset::Iterator`'s destructor),
    12% of a 14-epoch CNN's training time (docs/frontier.md). No upstream issue found. Without
    autotuning the pipeline still runs its `map` in parallel and prefetches; the batches, their
    order and so every weight are the same (tests/test_keras_fixes.py)."""
    if not _written_for_this_keras("the stalls between epochs"):
        return
    import tensorflow as tf
    from keras.src.trainers.data_adapters import array_data_adapter

    adapter = array_data_adapter.ArrayDataAdapter
    if getattr(adapter.get_tf_dataset, "patched", False):
        return
    make_dataset = adapter.get_tf_dataset

    def get_tf_dataset_without_autotuning(self):
        options = tf.data.Options()
        options.autotune.enabled = False
        return make_dataset(self).with_options(options)

    get_tf_dataset_without_autotuning.patched = True
    adapter.get_tf_dataset = get_tf_dataset_without_autotuning


def _scalars_reduced_without_axis(reduce_per_replica):
    """Across workers, Keras averages each step's logged scalars with `axis=0`, which a scalar
    lacks ("Invalid reduction dimension 0", tensorflow/tensorflow#72388): average them with
    `axis=None`."""
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    def reduce_scalars(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    reduce_scalars.patched = True
    return reduce_scalars


def _built_on_a_local_batch(symbolic_build):
    """Keras all-reduces the whole first batch of each `fit` and `evaluate` only to learn its
    shapes, which MultiWorkerMirroredStrategy refuses ("Attempt to convert a value
    (PerReplica…)", keras-team/keras#20585) and MirroredStrategy too when the batch splits
    unevenly ("Inputs to operation AddN must have the same size and shape",
    keras-team/keras#19246): take the first replica's part instead."""
    from keras.src import tree

    def build_on_local_batch(self, iterator=None, data_batch=None):
        if iterator is not None and self._distribute_strategy is not None:
            for _, _, batches in iterator:  # as Keras reads its first batch
                batch = next(batches)
                break
            local = self.distribute_strategy.experimental_local_results
            data_batch, iterator = tree.map_structure(lambda v: local(v)[0], batch), None
        return symbolic_build(self, iterator=iterator, data_batch=data_batch)

    return build_on_local_batch

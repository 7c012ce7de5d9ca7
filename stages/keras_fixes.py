"""Workarounds for Keras bugs, applied only to the Keras versions they were written for.

- Two break `fit` under tf.distribute. Each names its upstream issue; tests/test_keras_fixes.py
  checks that the bug is still there without the workaround, and fails once Keras fixes it: then
  delete the workaround and that test. Only two private helpers of Keras' TensorFlow trainer are
  replaced, and only in the distributed modes (stages/distribution.py applies them).
- One makes `fit` stall between epochs (`without_autotune_stalls`, applied by the train stage):
  it changes how fast, never what, the network learns."""

import logging

from stages import tensorflow_setup

logger = logging.getLogger(__name__)

# The Keras releases whose private trainer functions these replacements were written against.
WRITTEN_FOR = ("3.15.",)


def applies_to(version: str) -> bool:
    return version.startswith(WRITTEN_FOR)


def apply() -> None:
    """Install both workarounds (once), if the installed Keras is one they were written for."""
    keras = tensorflow_setup.import_keras()
    if not applies_to(keras.__version__):
        logger.warning(
            "Keras %s: the tf.distribute workarounds in stages/keras_fixes.py were written for "
            "%s and are not applied; if distributed training fails, check its upstream issues",
            keras.__version__,
            ", ".join(f"{v}*" for v in WRITTEN_FOR),
        )
        return
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "patched", False):
        return
    trainer.reduce_per_replica = _scalars_reduced_without_axis(trainer.reduce_per_replica)
    trainer.TensorFlowTrainer._maybe_symbolic_build = _built_on_a_local_batch(
        trainer.TensorFlowTrainer._maybe_symbolic_build
    )


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
    keras = tensorflow_setup.import_keras()
    if not applies_to(keras.__version__):
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

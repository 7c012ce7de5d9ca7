"""Workarounds for Keras bugs that break `fit` under tf.distribute, applied only to the Keras
versions they were written for. Each names its upstream issue; tests/test_keras_fixes.py checks
that the bug is still there without the workaround, and fails once Keras fixes it: then delete
the workaround and that test.

Training itself stays Keras' own: only two private helpers of its TensorFlow trainer are
replaced, and only in the distributed modes (stages/distribution.py applies them)."""

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

"""The train stage's start, in the one order that works: TF_CONFIG checked (before TensorFlow
loads), the numerics mode (TensorFlow reads it when it loads), the network's size (before any
weight is allocated), the distribution strategy (it may split the CPU into devices, which must
come before any other TensorFlow work), the seeds, and the Keras workarounds (but portable
numerics' exact operations, which `tensorflow_setup.import_keras` applies as Keras loads, before
any operation can run)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from stages.train import distribution, keras_fixes, network_size, settings, tensorflow_setup

if TYPE_CHECKING:
    import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Start:
    """Where the stage trains: the tf.distribute strategy, and whether this process is the chief
    (the one whose model and metrics are kept)."""

    strategy: tf.distribute.Strategy
    chief: bool


def start(cfg: settings.Train) -> Start:
    """Set up TensorFlow for training as `cfg` says; ParamsError if the network cannot fit in
    memory, PipelineError if the cluster or the devices are not as asked."""
    cluster = distribution.cluster_config(cfg)
    tensorflow_setup.set_numerics(cfg.numerics)
    network_size.check_fits(cfg, network_size.available_memory())
    strategy, chief = distribution.choose_strategy(cfg, cluster)
    tensorflow_setup.seed_everything(cfg.seed)
    keras_fixes.without_autotune_stalls()
    if cfg.distribution != "none":
        keras_fixes.apply_distributed()
    return Start(strategy, chief)

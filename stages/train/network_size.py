"""How large the network of the train params is, read from the network itself before any weight is
allocated: Keras builds it in a stateless scope, where every variable has its shape but no value.
A network that cannot fit in memory is then refused in one line, naming the key to change, instead
of ending in TensorFlow's out-of-memory error."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import random
from collections.abc import Iterator
from pathlib import Path

from stages.shared.errors import ParamsError
from stages.train import network, settings, tensorflow_setup

_FLOAT32 = 4


@dataclasses.dataclass(frozen=True)
class Size:
    parameters: int  # as Keras' count_params() counts them (batch-norm statistics included)
    activations: int  # values per image that the layers' outputs hold in one forward pass
    largest_layer: str  # the layer with the most parameters
    largest_layer_parameters: int


@contextlib.contextmanager
def _keras_state_kept() -> Iterator[None]:
    """Leave Keras' global state (layer name counters, the variables waiting for values) and
    Python's random numbers (which Keras draws default seeds from) as they were: building the
    network to measure it changes nothing about the network trained after."""
    from keras.src.backend.common import global_state

    state = global_state.GLOBAL_STATE_TRACKER.__dict__
    saved = {name: copy.copy(value) for name, value in state.items()}
    numbers = random.getstate()
    try:
        yield
    finally:
        state.clear()
        state.update(saved)
        random.setstate(numbers)


def network_size(cfg: settings.Train) -> Size:
    """The parameter and activation counts of the network `network.build_model` builds for `cfg`,
    read from its layers; no weight is allocated. Exact: Python's integers, where NumPy's int64
    would overflow for the widest layers allowed."""
    tensorflow_setup.import_keras()
    from keras.src.backend.common.stateless_scope import StatelessScope

    with _keras_state_kept(), StatelessScope(initialize_variables=False):
        model = network.build_model(cfg)
        per_layer = {
            layer.name: sum(math.prod(v.shape) for v in layer.weights) for layer in model.layers
        }
        activations = sum(
            math.prod(layer.output.shape[1:])
            for layer in model.layers[1:]  # not the input
        )
    largest = max(per_layer, key=per_layer.get)
    return Size(sum(per_layer.values()), activations, largest, per_layer[largest])


def training_bytes(cfg: settings.Train, size: Size) -> int:
    """About what training holds in memory: weights, gradients and the optimizer's slots, and the
    activations of one batch with their gradients."""
    slots = {"sgd": 1 if cfg.momentum > 0 else 0, "adam": 2, "adamw": 2}[cfg.optimizer]
    weights = size.parameters * (2 + slots)
    return _FLOAT32 * (weights + 2 * cfg.batch_size * size.activations)


def available_memory(meminfo: Path = Path("/proc/meminfo")) -> int:
    """Bytes of memory available to a new process (Linux' MemAvailable, else physical memory)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def key_to_shrink(cfg: settings.Train, size: Size) -> str:
    """The train key that most of the memory comes from: the batch size if the activations
    outweigh the weights, else the widths of the largest layer."""
    if 2 * cfg.batch_size * size.activations > size.parameters * 2:
        return "batch_size"
    return "hidden_units" if size.largest_layer.startswith("hidden_") else "conv_filters"


def check_fits(cfg: settings.Train, available: int) -> Size:
    """The network's size; ParamsError naming the key to change if training it needs more than
    `available` bytes."""
    size = network_size(cfg)
    needed = training_bytes(cfg, size)
    if needed > available:
        key = key_to_shrink(cfg, size)
        raise ParamsError(
            f"train.{key}={getattr(cfg, key)!r}: the network would have {size.parameters:,} "
            f"parameters ({size.largest_layer_parameters:,} in layer {size.largest_layer}) and "
            f"need about {needed / 1e9:,.1f} GB to train with batch_size {cfg.batch_size}, but "
            f"{available / 1e9:.1f} GB of memory is available; make train.{key} smaller"
        )
    return size

"""How large the network of the train params is, computed before TensorFlow builds it: its
parameter count, and the memory training needs, so that a network that cannot fit is refused in
one line instead of ending in TensorFlow's out-of-memory error."""

import dataclasses
import os
from pathlib import Path

from stages import dataset, params
from stages.errors import ParamsError

_FLOAT32 = 4


@dataclasses.dataclass(frozen=True)
class Size:
    parameters: int  # as Keras' count_params() counts them (batch-norm statistics included)
    activations: int  # values per image that one forward pass keeps for the backward pass


def network_size(cfg: params.Train) -> Size:
    """The parameter and activation counts of the network `train.build_model` builds."""
    height, width = dataset.IMAGE_SHAPE
    channels, parameters, activations = 1, 0, 0
    if cfg.architecture == "cnn":
        for filters in cfg.conv_filters:
            for _ in range(cfg.convs_per_block):
                if cfg.conv_padding == "valid":
                    height, width = height - cfg.kernel_size + 1, width - cfg.kernel_size + 1
                parameters += cfg.kernel_size**2 * channels * filters
                parameters += 4 * filters if cfg.batch_norm else filters  # bn: γ, β, mean, var
                channels = filters
                activations += height * width * channels * (2 if cfg.batch_norm else 1)
            height, width = height // 2, width // 2  # 2×2 max-pooling
            activations += height * width * channels
    inputs = height * width * channels
    for units in cfg.hidden_units:
        parameters += inputs * units + (4 * units if cfg.batch_norm else units)
        activations += units * (2 if cfg.batch_norm else 1)
        inputs = units
    parameters += inputs * dataset.NUM_CLASSES + dataset.NUM_CLASSES
    return Size(parameters, activations + dataset.NUM_CLASSES)


def training_bytes(cfg: params.Train, size: Size) -> int:
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


def check_fits(cfg: params.Train, available: int) -> Size:
    """The network's size; ParamsError if training it needs more than `available` bytes."""
    size = network_size(cfg)
    needed = training_bytes(cfg, size)
    if needed > available:
        raise ParamsError(
            f"train: the network would have {size.parameters:,} parameters and need about "
            f"{needed / 1e9:,.1f} GB to train with batch_size {cfg.batch_size}, but "
            f"{available / 1e9:.1f} GB of memory is available; make it smaller "
            "(train.hidden_units, train.conv_filters, train.batch_size)"
        )
    return size

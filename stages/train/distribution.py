"""tf.distribute for the train stage: the strategy that `train.distribution` asks for, and whether
this process is the chief, the one whose model and metrics are kept.

none: TensorFlow's default strategy (one device, as without tf.distribute). mirrored: one replica
per visible GPU, or, without a GPU, per logical CPU device (`train.cpu_replicas` of them).
multi_worker: one replica per machine of the cluster that the TF_CONFIG environment variable
describes, as in TensorFlow's "Multi-worker training with Keras" tutorial."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from stages.shared import artifacts
from stages.shared.errors import PipelineError
from stages.train import keras_fixes, settings, tensorflow_setup

if TYPE_CHECKING:
    import tensorflow as tf

logger = logging.getLogger(__name__)

TF_CONFIG = "TF_CONFIG"
_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)
_MAX_PORT = 65535
# A host name, an IPv4 address or a bracketed IPv6 address, then the port.
_ADDRESS = re.compile(r"(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})")
_FIX = f'set it on every machine, e.g. {_EXAMPLE} (docs/team.md, "Distributed training")'
# The keys TensorFlow reads of TF_CONFIG (TFConfigClusterResolver, distribute_coordinator); it
# ignores any other, so another is a typo.
_KEYS = ("cluster", "environment", "rpc_layer", "session_master", "task")
# TensorFlow starts its server with `rpc_layer or "grpc"`, and "grpc" is its only server here: any
# other fails once TensorFlow has loaded ("The available server factories are: [ GRPC_SERVER ]").
_RPC_LAYERS = (None, "", "grpc")


def read_tf_config(environ: Mapping[str, str]) -> dict:
    """TF_CONFIG of `environ`, checked by every rule of TensorFlow's (multi_worker_util
    `_validate_cluster_spec`) and stricter ones, so that our message comes first: only keys
    TensorFlow reads, a cluster of workers (and perhaps one chief), each at its own "host:port",
    and this process's task in it; raise PipelineError naming what is wrong and the fix."""
    text = environ.get(TF_CONFIG)
    if not text:
        raise PipelineError(
            f"train.distribution=multi_worker needs the {TF_CONFIG} environment variable; {_FIX}"
        )
    try:
        config = json.loads(text)
    except (ValueError, RecursionError) as error:  # RecursionError: nesting thousands deep
        raise PipelineError(f"{TF_CONFIG} is not valid JSON ({error}); {_FIX}") from None
    if isinstance(config, dict):
        _check_keys(config)
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not (cluster.get("worker") or cluster.get("chief")):
        raise PipelineError(f"{TF_CONFIG} has no `cluster` with a `worker` list; {_FIX}")
    if set(cluster) - {"chief", "worker"}:
        raise PipelineError(
            f"{TF_CONFIG}: cluster {sorted(cluster)}: expected workers and at most one chief "
            f"(parameter servers and evaluators are not used); {_FIX}"
        )
    for kind, addresses in cluster.items():
        _check_addresses(kind, addresses)
    _check_distinct(cluster)
    _check_task(config.get("task"), cluster)
    return config


def _check_keys(config: dict) -> None:
    """PipelineError unless `config` holds only keys TensorFlow reads, and an rpc_layer it has."""
    unknown = ", ".join(repr(key) for key in sorted(set(config) - set(_KEYS)))
    if unknown:
        raise PipelineError(
            f"{TF_CONFIG}: unknown key {unknown} (TensorFlow reads only "
            f"{', '.join(_KEYS)}); {_FIX}"
        )
    if config.get("rpc_layer") not in _RPC_LAYERS:
        raise PipelineError(
            f'{TF_CONFIG}: rpc_layer {config["rpc_layer"]!r}: TensorFlow has only "grpc", its '
            f"default (drop the key); {_FIX}"
        )


def _check_addresses(kind: str, addresses: object) -> None:
    """PipelineError unless `addresses` (the cluster's `kind` entry) is a list of "host:port"
    strings, each port in [1, 65535]: one for the chief, at least one for the workers (TensorFlow
    crashes on an empty list)."""
    if not isinstance(addresses, list):
        raise PipelineError(
            f"{TF_CONFIG}: cluster {kind!r} is {addresses!r}, expected a list of "
            f'"host:port" strings; {_FIX}'
        )
    if kind == "chief" and len(addresses) != 1:
        raise PipelineError(
            f"{TF_CONFIG}: cluster 'chief' is {addresses!r}, expected exactly one "
            f'"host:port" (or no "chief" key: worker 0 is then the chief); {_FIX}'
        )
    if not addresses:
        raise PipelineError(
            f'{TF_CONFIG}: cluster {kind!r} is an empty list; list its "host:port" '
            f"addresses or drop the key; {_FIX}"
        )
    for address in addresses:
        found = _ADDRESS.fullmatch(address) if isinstance(address, str) else None
        if found is None or not 1 <= int(found["port"]) <= _MAX_PORT:
            raise PipelineError(
                f'{TF_CONFIG}: {address!r} in cluster {kind!r} is not a "host:port" (a host '
                f"name or address, then a port in [1, {_MAX_PORT}]); {_FIX}"
            )


def _check_distinct(cluster: dict) -> None:
    """PipelineError if two tasks of `cluster` have the same address (ignoring case)."""
    seen: dict[str, str] = {}
    for kind in sorted(cluster):
        for index, address in enumerate(cluster[kind]):
            task = seen.setdefault(address.lower(), f"{kind} {index}")
            if task != f"{kind} {index}":
                raise PipelineError(
                    f"{TF_CONFIG}: {address!r} is the address of both {task} and {kind} "
                    f'{index}; give each task its own "host:port"; {_FIX}'
                )


def _check_task(task: object, cluster: dict) -> None:
    """PipelineError unless `task` names a place in `cluster`: its type and index."""
    kind, index = (task.get("type"), task.get("index")) if isinstance(task, dict) else (None, None)
    if (
        not isinstance(kind, str)
        or kind not in cluster
        or type(index) is not int  # not a bool either
        or not 0 <= index < len(cluster[kind])
    ):
        raise PipelineError(
            f"{TF_CONFIG}: task {task!r} is not in the cluster; give this machine's "
            f'"task": {{"type": "worker", "index": i}}, i its place in the worker list'
        )


def is_chief(config: dict) -> bool:
    """The task that keeps the results: the chief, or worker 0 if the cluster has no chief."""
    kind, index = config["task"]["type"], config["task"]["index"]
    return kind == "chief" or (
        kind == "worker" and index == 0 and "chief" not in config["cluster"]
    )


def _split_cpu(replicas: int) -> list[str]:
    """Split the CPU into `replicas` logical devices; their names. Only before TensorFlow has
    initialised its devices: that is why the train stage chooses its strategy first."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
    if len(tf.config.get_logical_device_configuration(cpu) or [None]) != replicas:
        try:
            tf.config.set_logical_device_configuration(cpu, wanted)
        except RuntimeError as error:
            raise PipelineError(
                f"train.distribution=mirrored: cannot split the CPU into {replicas} devices "
                f"({error}); run the train stage in a new process (python -m stages.train)"
            ) from error
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def cluster_config(cfg: settings.Train) -> dict | None:
    """For `multi_worker`, the checked TF_CONFIG (read before TensorFlow loads, so that a missing
    or wrong one fails at once); otherwise None."""
    return read_tf_config(os.environ) if cfg.distribution == "multi_worker" else None


def choose_strategy(
    cfg: settings.Train, config: dict | None
) -> tuple[tf.distribute.Strategy, bool]:
    """The strategy of `cfg.distribution` (in the cluster `config`, for multi_worker) and whether
    this process is the chief. Call it before any other TensorFlow work: it may configure devices
    and join a cluster."""
    tensorflow_setup.import_keras()
    import tensorflow as tf

    if cfg.distribution == "none":
        if TF_CONFIG in os.environ:
            logger.warning("%s is set but train.distribution is none: ignored", TF_CONFIG)
        return tf.distribute.get_strategy(), True
    # TensorFlow's own INFO lines (one per variable and reduction) would drown the epoch lines.
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    if config is None:
        gpus = tf.config.list_physical_devices("GPU")
        strategy = tf.distribute.MirroredStrategy(None if gpus else _split_cpu(cfg.cpu_replicas))
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        keras_fixes.sigterm_given_back()
        logger.info("%s, in the cluster %s", config["task"], config["cluster"])
    replicas = strategy.num_replicas_in_sync
    if cfg.batch_size < replicas:
        raise PipelineError(
            f"train.batch_size={cfg.batch_size}: must be at least the {replicas} replicas it is "
            "split across; raise it"
        )
    if cfg.batch_size % replicas:
        logger.warning(
            "train.batch_size=%d does not split evenly over %d replicas: each replica's mean "
            "loss weighs the same, so the results move further from none's (docs/team.md)",
            cfg.batch_size,
            replicas,
        )
    logger.info(
        "train.distribution=%s: %d replicas, here on %s",
        cfg.distribution,
        replicas,
        ", ".join(strategy.extended.worker_devices),
    )
    return strategy, config is None or is_chief(config)


class _WorkerOutputs:
    """A worker's stand-in for the chief's outputs: the same names in a temporary directory, and
    no live metrics."""

    def __init__(self, outputs: artifacts.Outputs, directory: Path) -> None:
        self._outputs, self._directory, self._count = outputs, directory, 0

    def _elsewhere(self, path: Path) -> Path:
        self._count += 1
        return self._directory / str(self._count) / path.name

    def file(self, path: Path) -> Path:
        return self._outputs.file(self._elsewhere(path))

    def directory(self, path: Path) -> Path:
        return self._outputs.directory(self._elsewhere(path))

    def live_directory(self, path: Path) -> None:
        """None: a worker logs no live metrics (`callbacks.open_live`)."""
        return None


@contextlib.contextmanager
def staged_outputs(chief: bool) -> Iterator[artifacts.Outputs | _WorkerOutputs]:
    """The stage's outputs, written all or none (`artifacts.outputs`). For a worker that is not
    the chief, the same names in a temporary directory deleted at the end: it saves in lockstep
    with the chief (saving reads variables, which may need all workers), but never writes where
    the chief does, even on the same machine. A worker of the cluster that stopped becomes a
    PipelineError with the fix (after the outputs are cleaned up)."""
    with _lost_workers_reported():
        if chief:
            with artifacts.outputs() as out:
                yield out
            return
        with (
            tempfile.TemporaryDirectory(prefix="worker-") as directory,
            artifacts.outputs() as out,
        ):
            yield _WorkerOutputs(out, Path(directory))


@contextlib.contextmanager
def _lost_workers_reported() -> Iterator[None]:
    """Turn TensorFlow's error for a worker of the cluster that stopped (killed, interrupted,
    unreachable) into a PipelineError with the fix; the other workers then stop too."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.UnavailableError as error:
        found = re.search(r"aborted by: (.+)", error.message)
        reason = found[1].rstrip(":") if found else "a connection was lost"
        raise PipelineError(
            f"another worker of the cluster stopped or cannot be reached ({reason}); start "
            "every worker again"
        ) from None

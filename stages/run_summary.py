"""What a finished fit amounts to, from its per-epoch history: whether it converged, which epoch
the saved weights come from, the summary that dvclive records with the last epoch, and how long it
took (a record for tools, outside the tracked metrics)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stages import artifacts, params, training_history
from stages.errors import DataError, PipelineError

if TYPE_CHECKING:
    import pandas as pd


def monitor_mode(monitor: str) -> str:
    """'max' for accuracies, 'min' for losses."""
    return "max" if monitor.endswith("accuracy") else "min"


def best_epoch(history: pd.DataFrame, monitor: str) -> int:
    """The 1-based epoch with the best `monitor`; the first on ties, as Keras' callbacks pick."""
    values = history[monitor].to_numpy()
    index = np.nanargmax(values) if monitor_mode(monitor) == "max" else np.nanargmin(values)
    return int(index) + 1


def saved_epoch(history: pd.DataFrame, cfg: params.Train) -> int:
    """The 1-based epoch whose weights the saved model holds."""
    if cfg.checkpoint.enabled:
        return best_epoch(history, cfg.checkpoint.monitor)
    if cfg.early_stopping.enabled and cfg.early_stopping.restore_best_weights:
        return best_epoch(history, cfg.early_stopping.monitor)
    return len(history)


def check_converged(history: pd.DataFrame, cfg: params.Train) -> None:
    """Raise PipelineError if the loss became NaN or infinite, so no broken model is saved."""
    losses = history["loss"].to_numpy()
    if not np.isfinite(losses).all():
        epoch = int(np.flatnonzero(~np.isfinite(losses))[0]) + 1
        raise PipelineError(
            f"training diverged: the loss is {losses[epoch - 1]} at epoch {epoch}; "
            f"lower train.learning_rate (now {cfg.learning_rate})"
        )


def training_summary(history: pd.DataFrame, cfg: params.Train, parameters: int) -> dict:
    """What dvclive's summary of the last epoch lacks: the best value of each metric (named as
    dvclive names them), epochs run, the saved epoch and the parameter count. No timing: it would
    make every rerun's metrics, and so dvc.lock, differ."""
    best = {}
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        value = history[name].max() if monitor_mode(name) == "max" else history[name].min()
        split, metric = training_history.FILES[name].removesuffix(".tsv").split("/")
        best.setdefault(split, {})[metric] = round(float(value), 6)
    return {
        "best": best,
        "epochs_run": len(history),
        "saved_epoch": saved_epoch(history, cfg),
        "best_val_loss_epoch": best_epoch(history, "val_loss"),
        "parameters": parameters,
    }


# Where the train stage writes its timing record, if this environment variable names a
# directory: one `<experiment>.json` per run (DVC_EXP_NAME, or "workspace"). Timings stay out of
# the tracked metrics: they differ on every run, and dvc.lock would with them.
TIMINGS_ENV = "FASHION_MNIST_TIMINGS"


@dataclasses.dataclass(frozen=True)
class Timing:
    """How long a fit took, in wall-clock seconds: in all (validation included) and per epoch."""

    experiment: str
    train_seconds: float
    epoch_seconds: list[float]
    train_images: int

    @property
    def images_per_second(self) -> float:
        """Training images through the network per second, over all epochs."""
        return self.train_images * len(self.epoch_seconds) / self.train_seconds


def write_timing(timing: Timing, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Write `timing` into the directory named by TIMINGS_ENV; return its path (None: unset)."""
    directory = environ.get(TIMINGS_ENV)
    if not directory:
        return None
    path = Path(directory) / f"{timing.experiment}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with artifacts.atomic_path(path) as tmp:
        artifacts.write_json(tmp, dataclasses.asdict(timing))
    return path


def read_timing(directory: Path, experiment: str) -> Timing:
    """The timing that the train stage wrote for `experiment` into `directory`."""
    path = directory / f"{experiment}.json"
    try:
        return Timing(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise DataError(
            f"{path}: no timing of experiment {experiment!r} ({error}); run its train stage "
            f"with {TIMINGS_ENV}={directory}"
        ) from error

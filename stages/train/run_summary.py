"""What a finished fit amounts to, from its per-epoch history: whether it converged, which epoch
the saved weights come from, and the summary that dvclive records with the last epoch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from stages.shared.errors import PipelineError
from stages.train import settings, training_history

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


def saved_epoch(history: pd.DataFrame, cfg: settings.Train) -> int:
    """The 1-based epoch whose weights the saved model holds."""
    if cfg.checkpoint.enabled:
        return best_epoch(history, cfg.checkpoint.monitor)
    if cfg.early_stopping.enabled and cfg.early_stopping.restore_best_weights:
        return best_epoch(history, cfg.early_stopping.monitor)
    return len(history)


def check_converged(history: pd.DataFrame, cfg: settings.Train) -> None:
    """Raise PipelineError if the loss or the validation loss became NaN or infinite, so no
    broken model is saved (a network whose training loss stays finite may still answer NaN)."""
    for name in ("loss", "val_loss"):
        losses = history[name].to_numpy()
        if not np.isfinite(losses).all():
            epoch = int(np.flatnonzero(~np.isfinite(losses))[0]) + 1
            raise PipelineError(
                f"training diverged: the {name} is {losses[epoch - 1]} at epoch {epoch}; "
                f"lower train.learning_rate (now {cfg.learning_rate})"
            )


def training_summary(history: pd.DataFrame, cfg: settings.Train, parameters: int) -> dict:
    """What dvclive's summary of the last epoch lacks: the best value of each metric (named as
    dvclive names them), epochs run, the saved epoch and the parameter count. No timing: it would
    make every rerun's metrics, and so dvc.lock, differ."""
    best = {}
    for name in ("val_accuracy", "val_loss", "accuracy", "loss"):
        value = history[name].max() if monitor_mode(name) == "max" else history[name].min()
        split, metric = training_history.LIVE_NAMES[name].split("/")
        best.setdefault(split, {})[metric] = round(float(value), 6)
    return {
        "best": best,
        "epochs_run": len(history),
        "saved_epoch": saved_epoch(history, cfg),
        "best_val_loss_epoch": best_epoch(history, "val_loss"),
        "parameters": parameters,
    }

"""What watches a fit: Keras callbacks (a stop on NaN, a log line and dvclive's files per epoch,
the learning-rate schedule on a plateau, early stopping, keeping the best epoch's weights) and
the dvclive run they log into."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stages.shared.errors import PipelineError
from stages.train import settings, tensorflow_setup, training_history
from stages.train.run_summary import monitor_mode

if TYPE_CHECKING:
    import dvclive
    import keras

logger = logging.getLogger(__name__)


class EpochTimer(Protocol):
    seconds: list[float]  # one per epoch run


class Live(Protocol):
    """What the fit logs into: a dvclive run, or nothing (`open_live(None)`)."""

    summary: dict[str, Any]

    def log_metric(self, name: str, val: float) -> None: ...

    def next_step(self) -> None: ...


def build_callbacks(
    cfg: settings.Train, model: keras.Model, live: Live, timer: EpochTimer
) -> list[keras.callbacks.Callback]:
    """A stop on NaN loss, the epoch timer, one log line per epoch, every epoch's metrics and
    learning rate to dvclive, the plateau schedule, early stopping and, for `checkpoint`, the
    best epoch's weights restored at the end (the model is then saved once, by the stage)."""
    keras = tensorflow_setup.import_keras()

    def end_epoch(epoch: int, logs: dict) -> None:
        logger.info(
            "epoch %d/%d  %s  (%.1f s)",
            epoch + 1,
            cfg.epochs,
            "  ".join(f"{k} {v:.4f}" for k, v in sorted(logs.items())),
            timer.seconds[-1],
        )
        logs = {**logs, "learning_rate": float(model.optimizer.learning_rate.numpy())}
        for name, live_name in training_history.LIVE_NAMES.items():
            live.log_metric(live_name, logs[name])
        live.next_step()  # writes the summary and tells the VS Code extension: live, per epoch

    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        timer,
        keras.callbacks.LambdaCallback(on_epoch_end=end_epoch),
    ]
    if cfg.schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=cfg.plateau.factor, patience=cfg.plateau.patience
            )
        )
    stopping = cfg.early_stopping
    if stopping.enabled:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=stopping.monitor,
                mode=monitor_mode(stopping.monitor),
                patience=stopping.patience,
                restore_best_weights=stopping.restore_best_weights,
            )
        )
    if cfg.checkpoint.enabled:  # last: its weights are the ones restored at the end
        callbacks.append(
            # Never stops (patience beyond the last epoch); restores the best epoch's weights.
            keras.callbacks.EarlyStopping(
                monitor=cfg.checkpoint.monitor,
                mode=monitor_mode(cfg.checkpoint.monitor),
                patience=cfg.epochs,
                restore_best_weights=True,
            )
        )
    return callbacks


def epoch_timer() -> EpochTimer:
    """A callback that records the wall-clock seconds of each epoch, validation included."""
    keras = tensorflow_setup.import_keras()

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seconds.append(time.perf_counter() - self._started)

    return Timer()


class _Unlogged:
    """A run that records nothing, for a worker that is not the chief."""

    def __init__(self) -> None:
        self.summary: dict[str, Any] = {}

    def log_metric(self, name: str, val: float) -> None:
        pass

    def next_step(self) -> None:
        pass

    def __enter__(self) -> _Unlogged:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


def open_live(directory: Path | None) -> dvclive.Live | _Unlogged:
    """dvclive logging into `directory`, never writing dvc.yaml nor saving an experiment itself;
    for None, a run that logs nothing. (A worker that is not the chief logs nothing: dvclive
    would also tell the VS Code extension of every epoch through a file in the `.dvc/tmp` of the
    directory it runs in, which the chief's dvclive writes and deletes too.)"""
    if directory is None:
        return _Unlogged()
    import dvclive
    from scmrepo.exceptions import SCMError

    try:
        # dvcyaml=False: a run must never rewrite the committed dvc.yaml.
        return dvclive.Live(dir=str(directory), dvcyaml=False, save_dvc_exp=False, report=None)
    except SCMError as error:  # dvclive 3.49 fails in a git repository without commits
        raise PipelineError(
            f"dvclive cannot start ({error}): make a first commit (`git commit`) and run again"
        ) from error

"""The fit: the network trained on the training split as the train params say, every epoch logged
(a log line, dvclive's files) and the validation split monitored; what it amounts to (the history,
dvclive's summary) and how long it took."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stages.shared import fashion_mnist
from stages.train import callbacks, run_summary, settings, timing

if TYPE_CHECKING:
    import keras
    import pandas as pd

Split = tuple[np.ndarray, np.ndarray]  # uint8 images (n, 28, 28), uint8 labels (n,)


@dataclasses.dataclass(frozen=True)
class Fitted:
    """A finished fit: its per-epoch history (indexed by 1-based epoch), dvclive's summary of it
    and its timing."""

    history: pd.DataFrame
    summary: dict
    timing: timing.Timing


def one_hot(labels: np.ndarray) -> np.ndarray:
    """float32 (n, 10) rows with a 1 at each label: what label smoothing needs."""
    return np.eye(fashion_mnist.NUM_CLASSES, dtype=np.float32)[labels]


def fit(
    model: keras.Model, cfg: settings.Train, train: Split, val: Split, live_dir: Path | None
) -> Fitted:
    """Fit `model` as `cfg` says, logging every epoch with dvclive into `live_dir` (its summary
    too; None: nowhere); PipelineError if the loss diverged."""
    import pandas as pd

    timer = callbacks.epoch_timer()
    with callbacks.open_live(live_dir) as live:
        started, cpu_started = time.perf_counter(), time.process_time()
        history = model.fit(
            train[0],
            one_hot(train[1]),
            batch_size=cfg.batch_size,
            epochs=cfg.epochs,
            validation_data=(val[0], one_hot(val[1])),
            callbacks=callbacks.build_callbacks(cfg, model, live, timer),
            verbose=0,
        )
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        table = pd.DataFrame(history.history, index=pd.RangeIndex(1, len(history.epoch) + 1))
        run_summary.check_converged(table, cfg)
        summary = run_summary.training_summary(table, cfg, model.count_params())
        live.summary.update(summary)
    record = timing.Timing(round(seconds, 2), timer.seconds, len(train[0]), round(cpu_seconds, 2))
    return Fitted(table, summary, record)

"""train stage: build the network that params.yaml describes, fit it on the training split with the
validation split monitored, and write the model, the per-epoch history and the training metrics."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stages import artifacts, cli, dataset, params, runtime
from stages.errors import PipelineError

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)


def build_model(cfg: params.Train) -> keras.Model:
    """Flatten → Dense(units, activation) [→ Dropout] per hidden layer → Dense(10, softmax).

    The model takes raw uint8 images (n, 28, 28) and scales them itself, so no other stage
    repeats the preprocessing."""
    keras = runtime.import_keras()
    from keras import layers

    inputs = keras.Input(shape=dataset.IMAGE_SHAPE, dtype="uint8", name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(cfg.hidden_units, start=1):
        x = layers.Dense(units, activation=cfg.activation, name=f"hidden_{i}")(x)
        if cfg.dropout > 0:
            x = layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    outputs = layers.Dense(dataset.NUM_CLASSES, activation="softmax", name="class_probabilities")(
        x
    )
    return keras.Model(inputs, outputs, name="fashion_mnist_mlp")


def compile_model(model: keras.Model, cfg: params.Train) -> None:
    """Sparse categorical cross-entropy with accuracy, and the optimizer of `cfg`."""
    keras = runtime.import_keras()
    optimizers = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}
    model.compile(
        optimizer=optimizers[cfg.optimizer](learning_rate=cfg.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def monitor_mode(monitor: str) -> str:
    """'max' for accuracies, 'min' for losses."""
    return "max" if monitor.endswith("accuracy") else "min"


def best_epoch(history: pd.DataFrame, monitor: str) -> int:
    """The 1-based epoch with the best `monitor`; the first on ties, as Keras' callbacks pick."""
    values = history[monitor].to_numpy()
    index = np.nanargmax(values) if monitor_mode(monitor) == "max" else np.nanargmin(values)
    return int(index) + 1


def build_callbacks(cfg: params.Train, checkpoint_path: Path) -> list[keras.callbacks.Callback]:
    """One log line per epoch, a stop on NaN loss, and early stopping and best-model checkpointing
    if enabled."""
    keras = runtime.import_keras()
    started = {}
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: started.update(at=time.perf_counter()),
            on_epoch_end=lambda epoch, logs: logger.info(
                "epoch %d/%d  %s  (%.1f s)",
                epoch + 1,
                cfg.epochs,
                "  ".join(f"{k} {v:.4f}" for k, v in sorted(logs.items())),
                time.perf_counter() - started["at"],
            ),
        ),
    ]
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
    if cfg.checkpoint.enabled:
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                checkpoint_path,
                monitor=cfg.checkpoint.monitor,
                mode=monitor_mode(cfg.checkpoint.monitor),
                save_best_only=True,
            )
        )
    return callbacks


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


def training_metrics(history: pd.DataFrame, cfg: params.Train, seconds: float) -> dict:
    """Final and best losses and accuracies, epochs run, the saved epoch and the training time."""
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    best = {k: history[k].max() if monitor_mode(k) == "max" else history[k].min() for k in keys}
    return {
        "epochs_run": len(history),
        "saved_epoch": saved_epoch(history, cfg),
        "best_val_loss_epoch": best_epoch(history, "val_loss"),
        "final": {k: round(float(history[k].iloc[-1]), 6) for k in keys},
        "best": {k: round(float(v), 6) for k, v in best.items()},
        "train_seconds": round(seconds, 1),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True, help="training split .npz")
    parser.add_argument("--val", type=Path, required=True, help="validation split .npz")
    parser.add_argument("--model", type=Path, required=True, help="output: model .keras")
    parser.add_argument("--history", type=Path, required=True, help="output: per-epoch .csv")
    parser.add_argument("--train-metrics", type=Path, required=True, help="output: metrics .json")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    cfg = params.load(args.params, params.Train)

    runtime.seed_everything(cfg.seed)
    x_train, y_train = dataset.read_split(args.train)
    x_val, y_val = dataset.read_split(args.val)
    model = build_model(cfg)
    compile_model(model, cfg)
    logger.info(
        "training %s (%d parameters) on %d images, validating on %d",
        model.name,
        model.count_params(),
        len(x_train),
        len(x_val),
    )
    with artifacts.atomic_path(args.model) as tmp_model:
        started = time.perf_counter()
        fit = model.fit(
            x_train,
            y_train,
            batch_size=cfg.batch_size,
            epochs=cfg.epochs,
            validation_data=(x_val, y_val),
            callbacks=build_callbacks(cfg, tmp_model),
            verbose=0,
        )
        seconds = time.perf_counter() - started
        history = pd.DataFrame(
            fit.history, index=pd.RangeIndex(1, len(fit.epoch) + 1, name="epoch")
        )
        check_converged(history, cfg)
        if not cfg.checkpoint.enabled:
            model.save(tmp_model)
    artifacts.write_table(args.history, history)
    metrics = training_metrics(history, cfg, seconds)
    artifacts.write_json(args.train_metrics, metrics)
    logger.info(
        "wrote %s (epoch %d of %d) in %.1f s; final val_accuracy %.4f",
        args.model,
        metrics["saved_epoch"],
        metrics["epochs_run"],
        seconds,
        metrics["final"]["val_accuracy"],
    )


if __name__ == "__main__":
    cli.run(main)

"""train stage: build the network that params.yaml describes, fit it on the training split with the
validation split monitored, and write the model (Keras' `.keras`, and the ONNX file that the later
stages run) and, through dvclive, the per-epoch metrics and a summary of the training."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stages import (
    artifacts,
    cli,
    dataset,
    distribution,
    epochs,
    model_file,
    network_size,
    onnx_export,
    params,
    runtime,
)
from stages.errors import PipelineError

if TYPE_CHECKING:
    import dvclive
    import keras

logger = logging.getLogger(__name__)


def build_model(cfg: params.Train) -> keras.Model:
    """The network of `cfg`: raw uint8 images (n, 28, 28) in, 10 class probabilities out.

    Rescaling to [0, 1] is the first layer, so no other stage repeats it; augmentation layers
    (active in training only) follow; then, for the CNN, `conv_filters` blocks of
    `convs_per_block` × (Conv2D [→ BatchNorm] → activation) → MaxPool [→ Dropout]; then
    Flatten → per hidden unit count Dense [→ BatchNorm] → activation [→ Dropout] → Dense(10)."""
    keras = runtime.import_keras()
    from keras import layers

    inputs = keras.Input(shape=dataset.IMAGE_SHAPE, dtype="uint8", name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = layers.Reshape((*dataset.IMAGE_SHAPE, 1), name="channel")(x)
    if cfg.augment.translation > 0:
        t = cfg.augment.translation
        x = layers.RandomTranslation(t, t, fill_mode="constant", name="random_shift")(x)
    if cfg.augment.horizontal_flip:  # never vertical: clothes have an up
        x = layers.RandomFlip("horizontal", name="random_flip")(x)
    if cfg.architecture == "cnn":
        for block, filters in enumerate(cfg.conv_filters, start=1):
            for conv in range(1, cfg.convs_per_block + 1):
                name = f"block{block}_conv{conv}"
                x = layers.Conv2D(
                    filters,
                    cfg.kernel_size,
                    padding=cfg.conv_padding,
                    use_bias=not cfg.batch_norm,
                    name=name,
                )(x)
                x = _normalise_and_activate(x, cfg, name)
            x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
            if cfg.conv_dropout > 0:
                x = layers.Dropout(cfg.conv_dropout, name=f"block{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(cfg.hidden_units, start=1):
        x = layers.Dense(units, use_bias=not cfg.batch_norm, name=f"hidden_{i}")(x)
        x = _normalise_and_activate(x, cfg, f"hidden_{i}")
        if cfg.dropout > 0:
            x = layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    outputs = layers.Dense(dataset.NUM_CLASSES, activation="softmax", name="class_probabilities")(
        x
    )
    return keras.Model(inputs, outputs, name=f"fashion_mnist_{cfg.architecture}")


def inference_model(trained: keras.Model, cfg: params.Train) -> keras.Model:
    """The network of `cfg` without its training-only layers (augmentation), holding the weights
    of `trained`: what is exported. Random layers have no ONNX form, and at inference they pass
    images through unchanged; dropout is kept (Keras exports it as the identity)."""
    plain = dataclasses.replace(
        cfg, augment=params.Augment(translation=0.0, horizontal_flip=False)
    )
    model = build_model(plain)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(trained.get_layer(layer.name).get_weights())
    return model


def write_onnx(keras_path: Path, onnx_path: Path, cfg: params.Train, images: np.ndarray) -> float:
    """Export the model saved at `keras_path` to `onnx_path`, checked on `images` against it
    (stages/onnx_export.py); return the largest |Δprobability|."""
    trained = model_file.load(keras_path)
    metadata = (dataset.CLASS_NAMES, dataclasses.asdict(cfg))
    return onnx_export.export(
        inference_model(trained, cfg), trained, onnx_path, metadata, images, cfg.batch_size
    )


def _normalise_and_activate(x: keras.KerasTensor, cfg: params.Train, name: str):
    from keras import layers

    if cfg.batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation(cfg.activation, name=f"{name}_{cfg.activation}")(x)


def learning_rate(cfg: params.Train, steps_per_epoch: int):
    """The optimizer's learning rate: a number, or a cosine decay to 0 over all the steps."""
    if cfg.schedule != "cosine":
        return cfg.learning_rate  # constant, or lowered by ReduceLROnPlateau (a callback)
    keras = runtime.import_keras()
    return keras.optimizers.schedules.CosineDecay(
        cfg.learning_rate, decay_steps=cfg.epochs * steps_per_epoch
    )


def compile_model(model: keras.Model, cfg: params.Train, steps_per_epoch: int) -> None:
    """Cross-entropy (with `label_smoothing`, on one-hot labels) and accuracy, and the optimizer
    of `cfg`."""
    keras = runtime.import_keras()
    import tensorflow as tf

    rate = learning_rate(cfg, steps_per_epoch)
    optimizer = {
        "sgd": lambda: keras.optimizers.SGD(rate, momentum=cfg.momentum, nesterov=cfg.nesterov),
        "adam": lambda: keras.optimizers.Adam(rate),
        "adamw": lambda: keras.optimizers.AdamW(rate, weight_decay=cfg.weight_decay),
    }[cfg.optimizer]()
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
        # Batches per call into TensorFlow: the same updates in the same order, less Python.
        steps_per_execution=steps_per_execution(cfg, distributed=tf.distribute.has_strategy()),
    )


def steps_per_execution(cfg: params.Train, distributed: bool) -> int:
    """`cfg.steps_per_execution`, but 1 under tf.distribute: there Keras 3.15's loop of several
    steps per call fails in `fit` ("You must feed a value for placeholder tensor"), on one machine
    as on several. One step per call gives the same updates, only slower."""
    if distributed and cfg.steps_per_execution > 1:
        logger.warning(
            "train.steps_per_execution=%d: 1 under train.distribution=%s (Keras 3.15 cannot run "
            "several steps per call there)",
            cfg.steps_per_execution,
            cfg.distribution,
        )
        return 1
    return cfg.steps_per_execution


def one_hot(labels: np.ndarray) -> np.ndarray:
    """float32 (n, 10) rows with a 1 at each label: what label smoothing needs."""
    return np.eye(dataset.NUM_CLASSES, dtype=np.float32)[labels]


def monitor_mode(monitor: str) -> str:
    """'max' for accuracies, 'min' for losses."""
    return "max" if monitor.endswith("accuracy") else "min"


def best_epoch(history: pd.DataFrame, monitor: str) -> int:
    """The 1-based epoch with the best `monitor`; the first on ties, as Keras' callbacks pick."""
    values = history[monitor].to_numpy()
    index = np.nanargmax(values) if monitor_mode(monitor) == "max" else np.nanargmin(values)
    return int(index) + 1


def build_callbacks(
    cfg: params.Train, model: keras.Model, live: dvclive.Live, checkpoint_path: Path
) -> list[keras.callbacks.Callback]:
    """A stop on NaN loss, one log line per epoch, every epoch's metrics and learning rate to
    dvclive, and early stopping and best-model checkpointing if enabled."""
    keras = runtime.import_keras()
    from dvclive.keras import DVCLiveCallback

    started = {}

    def end_epoch(epoch: int, logs: dict) -> None:
        logger.info(
            "epoch %d/%d  %s  (%.1f s)",
            epoch + 1,
            cfg.epochs,
            "  ".join(f"{k} {v:.4f}" for k, v in sorted(logs.items())),
            time.perf_counter() - started["at"],
        )
        live.log_metric("learning_rate", float(model.optimizer.learning_rate.numpy()))

    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: started.update(at=time.perf_counter()),
            on_epoch_end=end_epoch,
        ),
        DVCLiveCallback(live=live),  # after the learning rate is logged: it ends the step
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


def training_summary(history: pd.DataFrame, cfg: params.Train, parameters: int) -> dict:
    """What dvclive's summary of the last epoch lacks: the best value of each metric (named as
    dvclive names them), epochs run, the saved epoch and the parameter count. No timing: it would
    make every rerun's metrics, and so dvc.lock, differ."""
    best = {}
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        value = history[name].max() if monitor_mode(name) == "max" else history[name].min()
        split, metric = epochs.FILES[name].removesuffix(".tsv").split("/")
        best.setdefault(split, {})[metric] = round(float(value), 6)
    return {
        "best": best,
        "epochs_run": len(history),
        "saved_epoch": saved_epoch(history, cfg),
        "best_val_loss_epoch": best_epoch(history, "val_loss"),
        "parameters": parameters,
    }


def open_live(directory: Path) -> dvclive.Live:
    """dvclive logging into `directory`, never writing dvc.yaml nor saving an experiment itself."""
    import dvclive
    from scmrepo.exceptions import SCMError

    try:
        # dvcyaml=False: a run must never rewrite the committed dvc.yaml.
        return dvclive.Live(dir=str(directory), dvcyaml=False, save_dvc_exp=False, report=None)
    except SCMError as error:  # dvclive 3.49 fails in a git repository without commits
        raise PipelineError(
            f"dvclive cannot start ({error}): make a first commit (`git commit`) and run again"
        ) from error


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True, help="training split .npz")
    parser.add_argument("--val", type=Path, required=True, help="validation split .npz")
    parser.add_argument("--model", type=Path, required=True, help="output: model .keras")
    parser.add_argument("--onnx", type=Path, required=True, help="output: model .onnx")
    parser.add_argument("--live", type=Path, required=True, help="output: dvclive directory")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    cfg = params.load(args.params, params.Train)
    network_size.check_fits(cfg, network_size.available_memory())  # before TensorFlow starts
    runtime.set_numerics(cfg.numerics)  # before TensorFlow loads
    strategy, chief = distribution.choose_strategy(cfg)  # first: it may configure the devices

    runtime.seed_everything(cfg.seed)
    x_train, y_train = dataset.read_split(args.train)
    x_val, y_val = dataset.read_split(args.val)
    with strategy.scope():  # variables on every replica; `batch_size` is split across them
        model = build_model(cfg)
        compile_model(model, cfg, steps_per_epoch=-(-len(x_train) // cfg.batch_size))
    logger.info(
        "training %s (%d parameters) on %d images, validating on %d",
        model.name,
        model.count_params(),
        len(x_train),
        len(x_val),
    )
    with (
        distribution.lost_workers_reported(),  # outermost: the outputs are cleaned up first
        distribution.output_paths([args.model, args.onnx, args.live], chief) as paths,
        artifacts.outputs() as out,
        open_live(out.directory(paths[2])) as live,
    ):
        tmp_model, tmp_onnx = out.file(paths[0]), out.file(paths[1])
        started = time.perf_counter()
        fit = model.fit(
            x_train,
            one_hot(y_train),
            batch_size=cfg.batch_size,
            epochs=cfg.epochs,
            validation_data=(x_val, one_hot(y_val)),
            callbacks=build_callbacks(cfg, model, live, tmp_model),
            verbose=0,
        )
        seconds = time.perf_counter() - started
        history = pd.DataFrame(fit.history, index=pd.RangeIndex(1, len(fit.epoch) + 1))
        check_converged(history, cfg)
        summary = training_summary(history, cfg, model.count_params())
        live.summary.update(summary)
        if not cfg.checkpoint.enabled:
            model.save(tmp_model)
        model_file.finalize(tmp_model, dataset.CLASS_NAMES, cfg.numerics)
        gap = write_onnx(tmp_model, tmp_onnx, cfg, x_val)
    if not chief:
        logger.info("trained in %.1f s in step with the chief, which wrote the model", seconds)
        return
    logger.info(
        "wrote %s (epoch %d of %d), %s (max |Δp| vs Keras %.1g on the validation images) and "
        "%s in %.1f s; final val_accuracy %.4f",
        args.model,
        summary["saved_epoch"],
        summary["epochs_run"],
        args.onnx,
        gap,
        args.live,
        seconds,
        history["val_accuracy"].iloc[-1],
    )


if __name__ == "__main__":
    cli.run(main)

"""train stage: build the network that params.yaml describes (stages/network.py), fit it on the
training split with the validation split monitored, and write the model (Keras' `.keras`, and
the ONNX file that the later stages run), the training curves and, through dvclive, the
per-epoch metrics and a summary of the training."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stages import (
    artifacts,
    callbacks,
    cli,
    dataset,
    distribution,
    keras_fixes,
    model_file,
    network,
    network_size,
    onnx_export,
    params,
    plots,
    run_summary,
    tensorflow_setup,
)

if TYPE_CHECKING:
    import dvclive
    import keras
    import pandas as pd

logger = logging.getLogger(__name__)


def one_hot(labels: np.ndarray) -> np.ndarray:
    """float32 (n, 10) rows with a 1 at each label: what label smoothing needs."""
    return np.eye(dataset.NUM_CLASSES, dtype=np.float32)[labels]


def fit(
    model: keras.Model,
    cfg: params.Train,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    live: dvclive.Live,
) -> tuple[pd.DataFrame, run_summary.Timing]:
    """Fit `model` as `cfg` says, logging into `live`; return the per-epoch history (indexed by
    1-based epoch) and the timing. Raise PipelineError if the loss diverged."""
    import pandas as pd

    timer = callbacks.epoch_timer()
    started = time.perf_counter()
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
    table = pd.DataFrame(history.history, index=pd.RangeIndex(1, len(history.epoch) + 1))
    run_summary.check_converged(table, cfg)
    experiment = os.environ.get("DVC_EXP_NAME") or "workspace"
    return table, run_summary.Timing(experiment, round(seconds, 2), timer.seconds, len(train[0]))


def save_model(
    model: keras.Model, cfg: params.Train, keras_path: Path, onnx_path: Path, images: np.ndarray
) -> float:
    """Save `model` as a `.keras` file carrying the class names and numerics mode, with stable
    bytes, and export it to ONNX (checked on `images` against the `.keras` file);
    return the largest |Δprobability| of that check."""
    model.save(keras_path)
    model_file.normalise_bytes(keras_path)
    model_file.embed_facts(keras_path, dataset.CLASS_NAMES, cfg.numerics)
    trained = model_file.load(keras_path)
    metadata = (dataset.CLASS_NAMES, dataclasses.asdict(cfg))
    return onnx_export.export(
        network.inference_model(trained, cfg), trained, onnx_path, metadata, images, cfg.batch_size
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True, help="training split .npz")
    parser.add_argument("--val", type=Path, required=True, help="validation split .npz")
    parser.add_argument("--model", type=Path, required=True, help="output: model .keras")
    parser.add_argument("--onnx", type=Path, required=True, help="output: model .onnx")
    parser.add_argument("--live", type=Path, required=True, help="output: dvclive directory")
    parser.add_argument("--curves-png", type=Path, required=True, help="output: curves .png")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = params.load(args.params, params.Train)
    network_size.check_fits(cfg, network_size.available_memory())  # before TensorFlow starts
    tensorflow_setup.set_numerics(cfg.numerics)  # before TensorFlow loads
    strategy, chief = distribution.choose_strategy(cfg)  # first: it may configure the devices

    tensorflow_setup.seed_everything(cfg.seed)
    keras_fixes.without_autotune_stalls()
    train, val = dataset.read_split(args.train), dataset.read_split(args.val)
    with strategy.scope():  # variables on every replica; `batch_size` is split across them
        model = network.build_model(cfg)
        network.compile_model(model, cfg, steps_per_epoch=-(-len(train[0]) // cfg.batch_size))
    logger.info(
        "training %s (%d parameters) on %d images, validating on %d",
        model.name,
        model.count_params(),
        len(train[0]),
        len(val[0]),
    )
    outputs = [args.model, args.onnx, args.live, args.curves_png]
    with (
        distribution.lost_workers_reported(),  # outermost: the outputs are cleaned up first
        distribution.output_paths(outputs, chief) as paths,
        artifacts.outputs() as out,
        callbacks.open_live(out.directory(paths[2])) as live,
    ):
        history, timing = fit(model, cfg, train, val, live)
        summary = run_summary.training_summary(history, cfg, model.count_params())
        live.summary.update(summary)
        gap = save_model(model, cfg, out.file(paths[0]), out.file(paths[1]), val[0])
        plots.save(plots.training_curves(history), out.file(paths[3]))
    if not chief:
        logger.info("trained in step with the chief, which wrote the model")
        return
    run_summary.write_timing(timing)
    logger.info(
        "wrote %s (epoch %d of %d), %s (max |Δp| vs Keras %.1g) and %s in %.1f s; "
        "final val_accuracy %.4f",
        args.model,
        summary["saved_epoch"],
        summary["epochs_run"],
        args.onnx,
        gap,
        args.live,
        timing.train_seconds,
        history["val_accuracy"].iloc[-1],
    )


if __name__ == "__main__":
    cli.run(main)

"""train stage: build the network that params.yaml describes, fit it on the training split with the
validation split monitored, and write the model (Keras' `.keras`, and the ONNX file that the later
stages run), the training curves and, through dvclive, the per-epoch metrics and a summary."""

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from stages.shared import artifacts, cli, figures, params, splits
from stages.train import curves, distribution, fit, network, saving, settings, startup, timing

logger = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, required=True, help="training split .npz")
    parser.add_argument("--val", type=Path, required=True, help="validation split .npz")
    parser.add_argument("--model", type=Path, required=True, help="output: model .keras")
    parser.add_argument("--onnx", type=Path, required=True, help="output: model .onnx")
    parser.add_argument("--live", type=Path, required=True, help="output: dvclive directory")
    parser.add_argument("--curves-png", type=Path, required=True, help="output: curves .png")
    parser.add_argument(
        "--time", type=Path, required=True, help="output (not DVC's): training time .json"
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    return parser.parse_args(argv)


def log_result(args: argparse.Namespace, fitted: fit.Fitted, gap: float, chief: bool) -> None:
    if not chief:
        logger.info("trained in step with the chief, which wrote the model")
        return
    logger.info(
        "wrote %s (epoch %d of %d), %s (max |Δp| vs Keras %.1g), %s, %s and %s; trained in "
        "%.1f s; final val_accuracy %.4f",
        *(args.model, fitted.summary["saved_epoch"], fitted.summary["epochs_run"], args.onnx, gap),
        *(args.live, args.curves_png, args.time, fitted.timing.train_seconds),
        fitted.history["val_accuracy"].iloc[-1],
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    artifacts.restore_kept(args.live)  # a killed (-9) run's: first, whatever may fail next
    cfg = params.load(args.params, settings.Train)
    run = startup.start(cfg)
    train, val = splits.read_split(args.train), splits.read_split(args.val)
    model = network.build_and_compile(cfg, run.strategy, len(train[0]))
    with distribution.staged_outputs(run.chief) as out:
        # Staged before training, so that an output's place that cannot be written fails first.
        keras_file, onnx_file, curves_file, time_file = map(
            out.file, (args.model, args.onnx, args.curves_png, args.time)
        )
        fitted = fit.fit(model, cfg, train, val, out.live_directory(args.live))
        gap = saving.save_model(model, cfg, keras_file, onnx_file, val[0])
        figures.save(curves.training_curves(fitted.history), curves_file)
        artifacts.write_json(time_file, timing.time_metrics(fitted.timing), sort_keys=False)
    log_result(args, fitted, gap, run.chief)


if __name__ == "__main__":
    cli.run(main)

"""The benchmark's measurements that run inside one Python process, each in a new one so that no
measurement warms up the next: training throughput, and the preprocess stage's own time. Each
prints its figure as JSON on stdout.

    python -m bench.probes throughput --train data/prepared/train.npz --params params.yaml \
        --overrides '{"architecture": "cnn"}' --images 10000 --batch-size 128 \
        --steps-per-execution 32
    python -m bench.probes preprocess --raw data/raw --params params.yaml
    python -m bench.probes epoch --train data/prepared/train.npz --val data/prepared/val.npz \
        --params params.yaml --overrides '{"batch_norm": false}'
    python -m bench.probes layers --train data/prepared/train.npz --params params.yaml \
        --overrides '{"architecture": "cnn"}'
"""

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

WARM_UP_IMAGES = 2048


def throughput(
    train_split: Path,
    params_file: Path,
    overrides: dict,
    images: int,
    batch_size: int,
    steps_per_execution: int,
) -> float:
    """Images per second of one epoch of `model.fit` on the first `images` of `train_split`,
    after a warm-up epoch on WARM_UP_IMAGES of them: the network of `params_file`'s train
    section with `overrides`, plain SGD."""
    from stages.shared import params, splits
    from stages.train import fit, network, tensorflow_setup
    from stages.train import settings as train_settings

    cfg = params.load(params_file, train_settings.Train)
    cfg = cfg.model_copy(update=dict(**overrides))
    tensorflow_setup.seed_everything(42)
    keras = tensorflow_setup.import_keras()
    x, y = splits.read_split(train_split)
    x, y = x[:images], fit.one_hot(y[:images])
    model = network.build_model(cfg)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    warm = slice(0, WARM_UP_IMAGES)
    model.fit(x[warm], y[warm], batch_size=batch_size, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    return len(x) / (time.perf_counter() - started)


def with_overrides(cfg, overrides: dict):
    """`cfg` (a train settings model) with dotted `overrides` ("augment.erasing": 0.5), checked
    as params.yaml would be."""
    document = cfg.model_dump()
    for key, value in overrides.items():
        *parents, last = key.split(".")
        place = document
        for parent in parents:
            place = place[parent]
        place[last] = value
    return type(cfg).model_validate(document)


def _timed_epoch(
    train_split: Path, params_file: Path, overrides: dict, batches: int | None = None
) -> tuple:
    """The train stage's own set-up (numerics, network, optimizer, schedule: the train section of
    `params_file` with dotted `overrides`) and one epoch of `fit` on the first `batches` batches
    of `train_split` (all of it by default), after a warm-up on WARM_UP_IMAGES of it: (the
    settings, the model, its first training images, the epoch's wall seconds and CPU seconds,
    its batches)."""
    from stages.shared import params, splits
    from stages.train import fit, network, startup
    from stages.train import settings as train_settings

    cfg = with_overrides(params.load(params_file, train_settings.Train), overrides)
    run = startup.start(cfg)
    x, y = splits.read_split(train_split)
    images = None if batches is None else cfg.batch_size * batches
    x, y = x[:images], fit.one_hot(y[:images])
    model = network.build_and_compile(cfg, run.strategy, len(x))
    warm = slice(0, WARM_UP_IMAGES)
    model.fit(x[warm], y[warm], batch_size=cfg.batch_size, epochs=1, verbose=0)
    started, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, batch_size=cfg.batch_size, epochs=1, verbose=0)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return cfg, model, x[: cfg.batch_size], wall, cpu, -(-len(x) // cfg.batch_size)


def epoch_cost(train_split: Path, val_split: Path, params_file: Path, overrides: dict) -> dict:
    """`_timed_epoch` on all of `train_split`, then one pass over `val_split`: their seconds, and
    the cores the epoch kept busy (the process's CPU seconds over the wall seconds)."""
    from stages.shared import splits
    from stages.train import fit

    cfg, model, _, epoch, cpu, _ = _timed_epoch(train_split, params_file, overrides)
    vx, vy = splits.read_split(val_split)
    started = time.perf_counter()
    model.evaluate(vx, fit.one_hot(vy), batch_size=cfg.batch_size, verbose=0)
    return {
        "epoch_seconds": round(epoch, 2),
        "validation_seconds": round(time.perf_counter() - started, 2),
        "cores_used": round(cpu / epoch, 2),
    }


LAYER_REPEATS = 30
STEP_BATCHES = 96


def layer_costs(train_split: Path, params_file: Path, overrides: dict) -> dict:
    """Where one training step of the train stage's own set-up goes, layer by layer: each
    layer's forward and backward pass (training mode, gradients for its input and its weights)
    timed alone on a batch of the shapes it sees, the median of LAYER_REPEATS less the same
    harness's time around an identity layer (call_overhead_ms), beside a whole step of
    `model.fit` (`_timed_epoch` of STEP_BATCHES batches, divided): what the layers do not
    account for is the rest (loss, the optimizer's update, Keras' loop). Milliseconds per
    batch."""
    import tensorflow as tf

    from stages.train import tensorflow_setup

    cfg, model, batch, wall, _, batches = _timed_epoch(
        train_split, params_file, overrides, STEP_BATCHES
    )
    step_ms = wall * 1000 / batches
    keras = tensorflow_setup.import_keras()
    timed = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    inputs = keras.Model(model.input, [layer.input for layer in timed])(batch, training=False)
    # What timing a layer alone costs whatever the layer (a call into TensorFlow, the sum and
    # the gradient of the harness): an identity layer's time, taken off every layer's.
    overhead = _layer_step_ms(tf, keras.layers.Identity(), inputs[0])
    rows = [
        {
            "layer": layer.name,
            "kind": type(layer).__name__,
            "output": list(layer.output.shape[1:]),
            "ms": round(max(_layer_step_ms(tf, layer, given) - overhead, 0.0), 2),
        }
        for layer, given in zip(timed, inputs, strict=True)
    ]
    return {
        "batch_size": cfg.batch_size,
        "step_ms": round(step_ms, 2),
        "call_overhead_ms": round(overhead, 2),
        "layers": rows,
        "rest_ms": round(step_ms - sum(row["ms"] for row in rows), 2),
    }


def _layer_step_ms(tf, layer, given) -> float:
    """The median milliseconds of `layer`'s forward and backward pass on `given`."""

    @tf.function
    def step(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs, training=True)
            loss = tf.reduce_sum(tf.cast(outputs, tf.float32))
        return tape.gradient(loss, [inputs, *layer.trainable_variables])

    given = tf.convert_to_tensor(given)
    if not given.dtype.is_floating:  # the first layer's uint8 images: no gradient to take
        given = tf.cast(given, tf.float32)
    step(given)
    times = []
    for _ in range(LAYER_REPEATS):
        started = time.perf_counter()
        tf.nest.map_structure(lambda t: t if t is None else t.numpy(), step(given))
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2] * 1000


def preprocess_seconds(raw: Path, params_file: Path) -> float:
    """Seconds of the preprocess stage's `main` on `raw`, its module already imported, writing
    into a temporary directory."""
    from stages.preprocess import __main__ as preprocess

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        started = time.perf_counter()
        preprocess.main(
            [
                f"--raw={raw}",
                f"--train={out / 'train.npz'}",
                f"--val={out / 'val.npz'}",
                f"--test={out / 'test.npz'}",
                f"--data-metrics={out / 'data.json'}",
                f"--class-counts={out / 'class_counts.csv'}",
                f"--params={params_file}",
            ]
        )
        return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.probes", description=__doc__)
    probes = parser.add_subparsers(dest="probe", required=True)
    speed = probes.add_parser("throughput", help="training images per second")
    speed.add_argument("--train", type=Path, required=True, help="training split .npz")
    speed.add_argument("--params", type=Path, required=True, help="params.yaml")
    speed.add_argument("--overrides", type=json.loads, required=True, help="train fields, JSON")
    speed.add_argument("--images", type=int, required=True)
    speed.add_argument("--batch-size", type=int, required=True)
    speed.add_argument("--steps-per-execution", type=int, required=True)
    data = probes.add_parser("preprocess", help="seconds of the preprocess stage's main")
    data.add_argument("--raw", type=Path, required=True, help="directory of the IDX files")
    data.add_argument("--params", type=Path, required=True, help="params.yaml")
    epoch = probes.add_parser("epoch", help="seconds of one epoch and of the validation pass")
    epoch.add_argument("--train", type=Path, required=True, help="training split .npz")
    epoch.add_argument("--val", type=Path, required=True, help="validation split .npz")
    epoch.add_argument("--params", type=Path, required=True, help="params.yaml")
    epoch.add_argument("--overrides", type=json.loads, required=True, help="dotted train keys")
    per_layer = probes.add_parser("layers", help="milliseconds of a training step, by layer")
    per_layer.add_argument("--train", type=Path, required=True, help="training split .npz")
    per_layer.add_argument("--params", type=Path, required=True, help="params.yaml")
    per_layer.add_argument("--overrides", type=json.loads, required=True, help="dotted train keys")
    args = parser.parse_args(argv)

    if args.probe == "layers":
        figure = layer_costs(args.train, args.params, args.overrides)
    elif args.probe == "epoch":
        figure = epoch_cost(args.train, args.val, args.params, args.overrides)
    elif args.probe == "throughput":
        figure = throughput(
            args.train,
            args.params,
            args.overrides,
            args.images,
            args.batch_size,
            args.steps_per_execution,
        )
    else:
        figure = preprocess_seconds(args.raw, args.params)
    print(json.dumps(figure))


if __name__ == "__main__":
    main()

"""The single script the pipeline replaces, doing the pipeline's work with the same Keras calls in
one process: load the IDX files, hold out the first 5,000 images, fit the 300-100 MLP for 30
epochs, evaluate on the test set, predict the first 5 test images. The benchmark's baseline.

It runs in either numerics mode of the pipeline's `train.numerics`, set by the train stage's own
code (stages/train/tensorflow_setup.py), so that the pipeline is compared with the script in the
same mode, and the mode's own cost is measured apart.

    python -m bench.plain_script --numerics portable DIR   (DIR holds the four *-ubyte.gz files)
"""

import argparse
import gzip
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stages.train import tensorflow_setup


def load(path: Path, ndim: int) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    dims = np.frombuffer(data, ">u4", count=ndim, offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def train_and_score(directory: Path) -> None:
    """The pipeline's work on the IDX files in `directory`, in one process, in the numerics mode
    set before."""
    keras = tensorflow_setup.import_keras()
    import tensorflow as tf

    keras.utils.set_random_seed(42)
    tf.config.experimental.enable_op_determinism()
    x = load(directory / "train-images-idx3-ubyte.gz", 3)
    y = load(directory / "train-labels-idx1-ubyte.gz", 1)
    x_test = load(directory / "t10k-images-idx3-ubyte.gz", 3)
    y_test = load(directory / "t10k-labels-idx1-ubyte.gz", 1)
    x_val, y_val, x_train, y_train = x[:5000], y[:5000], x[5000:], y[5000:]
    eye = np.eye(10, dtype=np.float32)

    inputs = keras.Input(shape=(28, 28), dtype="uint8")
    h = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    h = keras.layers.Dense(100, activation="relu")(keras.layers.Dense(300, activation="relu")(h))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=["accuracy"],
        steps_per_execution=int(os.environ.get("STEPS_PER_EXECUTION", "32")),
    )
    model.fit(
        x_train,
        eye[y_train],
        batch_size=32,
        epochs=30,
        validation_data=(x_val, eye[y_val]),
        verbose=0,
    )
    loss, accuracy = model.evaluate(x_test, eye[y_test], batch_size=1024, verbose=0)
    print(f"test accuracy {accuracy:.4f}, loss {loss:.4f}")
    print(np.round(model.predict(x_test[:5], verbose=0), 2))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.plain_script", description=__doc__)
    parser.add_argument("--numerics", choices=sorted(tensorflow_setup.NUMERICS_ENV), required=True)
    parser.add_argument("directory", type=Path, help="the four *-ubyte.gz files of Fashion-MNIST")
    args = parser.parse_args(argv)
    tensorflow_setup.set_numerics(args.numerics)  # before TensorFlow loads, as train does
    train_and_score(args.directory)


if __name__ == "__main__":
    main()

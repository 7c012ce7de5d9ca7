"""The single script the pipeline replaces, doing the pipeline's work with the same Keras calls in
one process: load the IDX files, hold out the first 5,000 images, fit the 300-100 MLP for 30
epochs, evaluate on the test set, predict the first 5 test images. The benchmark's baseline.

    python bench/plain_script.py DIR      (DIR holds the four *-ubyte.gz files)
"""

import gzip
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import tensorflow as tf


def load(path: Path, ndim: int) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    dims = np.frombuffer(data, ">u4", count=ndim, offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main(directory: Path) -> None:
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


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""The network that `params.yaml`'s train section describes, built and compiled with Keras: what
is trained, and the same network without its training-only layers, which is what is exported."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from stages import dataset, params, tensorflow_setup

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)


def build_model(cfg: params.Train) -> keras.Model:
    """The network of `cfg`: raw uint8 images (n, 28, 28) in, 10 class probabilities out.

    Rescaling to [0, 1] is the first layer, so no other stage repeats it; augmentation layers
    (active in training only) follow; then, for the CNN, `conv_filters` blocks of
    `convs_per_block` × (Conv2D [→ BatchNorm] → activation) → MaxPool [→ Dropout]; then
    Flatten → per hidden unit count Dense [→ BatchNorm] → activation [→ Dropout] → Dense(10)."""
    keras = tensorflow_setup.import_keras()
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


def _normalise_and_activate(x: keras.KerasTensor, cfg: params.Train, name: str):
    from keras import layers

    if cfg.batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation(cfg.activation, name=f"{name}_{cfg.activation}")(x)


def learning_rate(cfg: params.Train, steps_per_epoch: int):
    """The optimizer's learning rate: a number, or a cosine decay to 0 over all the steps."""
    if cfg.schedule != "cosine":
        return cfg.learning_rate  # constant, or lowered by ReduceLROnPlateau (a callback)
    keras = tensorflow_setup.import_keras()
    return keras.optimizers.schedules.CosineDecay(
        cfg.learning_rate, decay_steps=cfg.epochs * steps_per_epoch
    )


def compile_model(model: keras.Model, cfg: params.Train, steps_per_epoch: int) -> None:
    """Cross-entropy (with `label_smoothing`, on one-hot labels) and accuracy, and the optimizer
    of `cfg`."""
    keras = tensorflow_setup.import_keras()
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

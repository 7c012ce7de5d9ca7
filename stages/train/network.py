"""The network that `params.yaml`'s train section describes, built and compiled with Keras: what
is trained, and the same network without its training-only layers, which is what is exported."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stages.shared import fashion_mnist
from stages.train import settings, tensorflow_setup

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

logger = logging.getLogger(__name__)


def build_model(cfg: settings.Train) -> keras.Model:
    """The network of `cfg`: raw uint8 images (n, 28, 28) in, 10 class probabilities out.

    Rescaling to [0, 1] is the first layer, so no other stage repeats it; augmentation layers
    (active in training only) follow; then the convolutions of the architecture (`_cnn_blocks`,
    `_resnet_stages`) and the head: Flatten or a global average per feature map → per hidden
    unit count Dense [→ BatchNorm] → activation [→ Dropout] → Dense(10)."""
    keras = tensorflow_setup.import_keras()
    from keras import layers

    inputs = keras.Input(shape=fashion_mnist.IMAGE_SHAPE, dtype="uint8", name="image")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = layers.Reshape((*fashion_mnist.IMAGE_SHAPE, 1), name="channel")(x)
    x = _augmentation(x, cfg.augment)
    if cfg.architecture == "cnn":
        x = _cnn_blocks(x, cfg)
    elif cfg.architecture == "resnet":
        x = _resnet_stages(x, cfg)
    if cfg.head == "global_average":
        x = layers.GlobalAveragePooling2D(name="average")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(cfg.hidden_units, start=1):
        x = layers.Dense(units, use_bias=not cfg.batch_norm, name=f"hidden_{i}")(x)
        x = _normalise_and_activate(x, cfg, f"hidden_{i}")
        if cfg.dropout > 0:
            x = layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    outputs = layers.Dense(
        fashion_mnist.NUM_CLASSES, activation="softmax", name="class_probabilities"
    )(x)
    return keras.Model(inputs, outputs, name=f"fashion_mnist_{cfg.architecture}")


def _augmentation(x: keras.KerasTensor, augment: settings.Augment) -> keras.KerasTensor:
    """Keras' random layers, active in training only (at inference they pass images through)."""
    from keras import layers

    if augment.translation > 0:
        t = augment.translation
        x = layers.RandomTranslation(t, t, fill_mode="constant", name="random_shift")(x)
    if augment.horizontal_flip:  # never vertical: clothes have an up
        x = layers.RandomFlip("horizontal", name="random_flip")(x)
    if augment.erasing > 0:
        # factor (p, p): erase with probability p exactly (a single float would draw p itself);
        # the rectangle is 2–33% of the image, filled with noise (Zhong et al., 2017).
        x = layers.RandomErasing(
            factor=(augment.erasing, augment.erasing), value_range=(0, 1), name="random_erasing"
        )(x)
    return x


def _cnn_blocks(x: keras.KerasTensor, cfg: settings.Train) -> keras.KerasTensor:
    """Per entry of `conv_filters`: `convs_per_block` × (Conv2D [→ BatchNorm] → activation) →
    2×2 max-pooling [→ Dropout]; the very first Conv2D at `stem_stride`; with `pool_first`, each
    block's last Conv2D is pooled before its batch norm and activation."""
    from keras import layers

    for block, filters in enumerate(cfg.conv_filters, start=1):
        for conv in range(1, cfg.convs_per_block + 1):
            name = f"block{block}_conv{conv}"
            x = layers.Conv2D(
                filters,
                cfg.kernel_size,
                strides=cfg.stem_stride if block == conv == 1 else 1,
                padding=cfg.conv_padding,
                use_bias=not cfg.batch_norm,
                name=name,
            )(x)
            if cfg.pool_first and conv == cfg.convs_per_block:
                x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
            x = _normalise_and_activate(x, cfg, name)
        if not cfg.pool_first:
            x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
        if cfg.conv_dropout > 0:
            x = layers.Dropout(cfg.conv_dropout, name=f"block{block}_dropout")(x)
    return x


def _resnet_stages(x: keras.KerasTensor, cfg: settings.Train) -> keras.KerasTensor:
    """A ResNet (He et al., 2016, basic blocks) sized for 28×28 images: a stem Conv2D of
    `conv_filters[0]` at `stem_stride`; then per entry of `conv_filters` a stage of
    `residual_blocks` blocks, each Conv2D [→ BatchNorm] → activation → Conv2D [→ BatchNorm],
    added to its input (through a 1×1 Conv2D where the width or size changes) → activation;
    every stage after the first starts at stride 2, halving the feature maps; Dropout after each
    stage if `conv_dropout`."""
    from keras import layers

    def conv(x, filters, size, strides, name):
        x = layers.Conv2D(
            filters, size, strides, padding="same", use_bias=not cfg.batch_norm, name=name
        )(x)
        return layers.BatchNormalization(name=f"{name}_bn")(x) if cfg.batch_norm else x

    x = conv(x, cfg.conv_filters[0], cfg.kernel_size, cfg.stem_stride, "stem")
    x = layers.Activation(cfg.activation, name=f"stem_{cfg.activation}")(x)
    for stage, filters in enumerate(cfg.conv_filters, start=1):
        for block in range(1, cfg.residual_blocks + 1):
            name = f"stage{stage}_block{block}"
            strides = 2 if stage > 1 and block == 1 else 1
            shortcut = x
            if strides > 1 or x.shape[-1] != filters:
                shortcut = conv(x, filters, 1, strides, f"{name}_shortcut")
            x = conv(x, filters, cfg.kernel_size, strides, f"{name}_conv1")
            x = layers.Activation(cfg.activation, name=f"{name}_conv1_{cfg.activation}")(x)
            x = conv(x, filters, cfg.kernel_size, 1, f"{name}_conv2")
            x = layers.Add(name=f"{name}_add")([x, shortcut])
            x = layers.Activation(cfg.activation, name=f"{name}_{cfg.activation}")(x)
        if cfg.conv_dropout > 0:
            x = layers.Dropout(cfg.conv_dropout, name=f"stage{stage}_dropout")(x)
    return x


def inference_model(trained: keras.Model, cfg: settings.Train) -> keras.Model:
    """The network of `cfg` without its training-only layers (augmentation), holding the weights
    of `trained`, and with `flip_tta` the mean of its probabilities for the image and its mirror
    image: what is exported. Random layers have no ONNX form, and at inference they pass images
    through unchanged; dropout is kept (Keras exports it as the identity)."""
    plain = cfg.model_copy(update={"augment": settings.Augment.none()})
    model = build_model(plain)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(trained.get_layer(layer.name).get_weights())
    return with_flip_tta(model) if cfg.flip_tta else model


def with_flip_tta(model: keras.Model) -> keras.Model:
    """`model`'s probabilities averaged over each image and its left-right mirror image (never
    up-down: clothes have an up). One model, so the ONNX export holds both passes."""
    keras = tensorflow_setup.import_keras()
    from keras import layers

    inputs = keras.Input(shape=fashion_mnist.IMAGE_SHAPE, dtype="uint8", name="image")
    mirrored = keras.ops.flip(inputs, axis=2)  # (n, rows, columns): columns reversed
    outputs = layers.Average(name="flip_average")([model(inputs), model(mirrored)])
    return keras.Model(inputs, outputs, name=f"{model.name}_flip_tta")


def _normalise_and_activate(x: keras.KerasTensor, cfg: settings.Train, name: str):
    from keras import layers

    if cfg.batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation(cfg.activation, name=f"{name}_{cfg.activation}")(x)


def learning_rate(cfg: settings.Train, steps_per_epoch: int):
    """The optimizer's learning rate: a number, or a cosine decay to 0 over all the steps (after
    `warmup_epochs` of a linear rise from 0: Goyal et al., 2017; Loshchilov & Hutter, 2017)."""
    if cfg.schedule != "cosine":
        return cfg.learning_rate  # constant, or lowered by ReduceLROnPlateau (a callback)
    keras = tensorflow_setup.import_keras()
    if cfg.warmup_epochs == 0:
        return keras.optimizers.schedules.CosineDecay(
            cfg.learning_rate, decay_steps=cfg.epochs * steps_per_epoch
        )
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=(cfg.epochs - cfg.warmup_epochs) * steps_per_epoch,
        warmup_target=cfg.learning_rate,
        warmup_steps=cfg.warmup_epochs * steps_per_epoch,
    )


def compile_model(model: keras.Model, cfg: settings.Train, steps_per_epoch: int) -> None:
    """Cross-entropy (with `label_smoothing`, on one-hot labels) and accuracy, and the optimizer
    of `cfg` (averaging the weights for `ema_momentum`)."""
    keras = tensorflow_setup.import_keras()
    import tensorflow as tf

    rate = learning_rate(cfg, steps_per_epoch)
    # Keras averages during fit and puts the average into the weights when fit ends. Off, the
    # momentum is Keras' default, so the saved optimizer config is what it was without the key.
    ema = {"use_ema": cfg.ema_momentum > 0, "ema_momentum": cfg.ema_momentum or 0.99}
    optimizer = {
        "sgd": lambda: keras.optimizers.SGD(
            rate, momentum=cfg.momentum, nesterov=cfg.nesterov, **ema
        ),
        "adam": lambda: keras.optimizers.Adam(rate, **ema),
        "adamw": lambda: keras.optimizers.AdamW(rate, weight_decay=cfg.weight_decay, **ema),
    }[cfg.optimizer]()
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
        # Batches per call into TensorFlow: the same updates in the same order, less Python.
        steps_per_execution=steps_per_execution(cfg, distributed=tf.distribute.has_strategy()),
    )


def build_and_compile(
    cfg: settings.Train, strategy: tf.distribute.Strategy, train_images: int
) -> keras.Model:
    """The network of `cfg`, compiled, its variables on every replica of `strategy` (which splits
    `batch_size` across them)."""
    with strategy.scope():
        model = build_model(cfg)
        compile_model(model, cfg, steps_per_epoch=-(-train_images // cfg.batch_size))
    logger.info(
        "training %s (%d parameters) on %d images",
        model.name,
        model.count_params(),
        train_images,
    )
    return model


def steps_per_execution(cfg: settings.Train, distributed: bool) -> int:
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

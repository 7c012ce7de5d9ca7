"""The train section of params.yaml: the network, its training, and where it runs."""

from typing import Annotated, Literal

import pydantic
from pydantic import Field

from stages.shared import fashion_mnist
from stages.shared.params import Allowed, Section, Unit, rule

Monitor = Literal["loss", "accuracy", "val_loss", "val_accuracy"]
MAX_SEED = 2**32  # Keras' and TensorFlow's seeds are 32-bit
MAX_STEPS_PER_EXECUTION = 2**31 - 1  # TensorFlow counts steps in an int32
# Far inside what TensorFlow's int64 step counter (epochs × batches) and the cosine schedule hold.
MAX_EPOCHS = 1_000_000
# One Dense layer of 10⁹ units after the 784 pixels holds 784·10⁹ float32 weights, 3.1 TB: more
# than any machine has, whatever else the network is. (The size check refuses far less.)
MAX_WIDTH = 10**9
# Depth: the deepest networks measured to build, train and export (one epoch on the tiny data):
# 5 stages × 20 residual blocks and 32 hidden layers, both with batch norm, 4 blocks × 32
# convolutions. Keras' graph walk exceeded Python's recursion limit at 5 stages × 30 residual
# blocks with batch norm, and at 4 blocks × 200 convolutions.
MAX_CONVS_PER_BLOCK = 32
MAX_RESIDUAL_BLOCKS = 20
MAX_HIDDEN_LAYERS = 32
# A batch of more than the 60,000 training images is one batch of all of them.
MAX_BATCH_SIZE = fashion_mnist.MAX_ITEMS[fashion_mnist.TRAIN_IMAGES]
# Logical CPU devices: more than a large server's cores only slows training down.
MAX_CPU_REPLICAS = 1024
# TensorFlow trains in float32: a rate or decay above its largest number becomes infinite.
MAX_FLOAT32 = 3.4e38
Rate = Annotated[float, Unit("a rate")]


class EarlyStopping(Section):
    """Stop when `monitor` has not improved for `patience` epochs (Keras' EarlyStopping)."""

    enabled: Annotated[bool, Field(description="Stop early at all.")]
    monitor: Annotated[
        Monitor,
        Field(
            description=(
                "The metric watched (`val_`: on the validation split); losses are minimised, "
                "accuracies maximised."
            )
        ),
    ]
    patience: Annotated[
        int,
        Field(ge=0, le=MAX_EPOCHS, description="Epochs without improvement before stopping."),
        Unit("epochs"),
    ]
    restore_best_weights: Annotated[
        bool, Field(description="Keep the best epoch's weights, not the last epoch's.")
    ]


class Checkpoint(Section):
    """Keep the weights of the best epoch (they are restored at the end, then saved once)."""

    enabled: Annotated[
        bool,
        Field(
            description=(
                "The metric watched (`val_`: on the validation split); losses are minimised, "
                "accuracies maximised."
            )
        ),
    ]
    monitor: Annotated[Monitor, Field(description="The metric that picks the best epoch.")]


class Plateau(Section):
    """`schedule: plateau`: Keras' ReduceLROnPlateau on the validation loss."""

    factor: Annotated[
        float,
        Field(gt=0, lt=1, description="Multiplies the rate after `patience` flat epochs."),
        Unit("a factor"),
    ]
    patience: Annotated[
        int,
        Field(
            ge=0,
            le=MAX_EPOCHS,
            description="Epochs without a lower validation loss before lowering.",
        ),
        Unit("epochs"),
    ]


class Augment(Section):
    """Random changes to the training images (Keras preprocessing layers, active in training only:
    the exported model has none of them)."""

    translation: Annotated[
        float,
        Field(
            ge=0,
            lt=0.5,
            description="Random shift, as a fraction of the image (0.1: up to 2.8 pixels).",
        ),
        Unit("a fraction of the image"),
    ]
    horizontal_flip: Annotated[
        bool, Field(description="Random left-right flips (never vertical: clothes have an up).")
    ]
    erasing: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description=(
                "Probability of erasing a random rectangle (2–33% of the image) with noise in "
                "training: random erasing, a cutout."
            ),
        ),
        Unit("a probability"),
    ]

    @classmethod
    def none(cls) -> "Augment":
        """No augmentation: what the exported model holds."""
        return cls(translation=0.0, horizontal_flip=False, erasing=0.0)


class Train(Section):
    """The network, how it is trained, and where. Defaults reproduce the Flatten-300-100-10 MLP
    with SGD for 30 epochs."""

    architecture: Annotated[
        Literal["mlp", "cnn", "resnet"],
        Field(
            description="`mlp`: Flatten → the Dense layers; `cnn`: convolution blocks, then "
            "the Dense layers; `resnet`: a stem convolution, stages of residual blocks, then the "
            "Dense layers (docs/models.md)."
        ),
    ]
    conv_filters: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]],
        Field(
            min_length=1,
            description=(
                "cnn: one block per entry, with that many filters; resnet: one stage per entry, "
                "that wide (the stem convolution has the first entry's width)."
            ),
        ),
        Allowed(f"at least one block, with filters in [1, {MAX_WIDTH}] per block"),
    ]
    convs_per_block: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_CONVS_PER_BLOCK,
            description=(
                "cnn: convolutions per block, each Conv2D [→ BatchNorm] → activation; then 2×2 "
                "max-pooling. At most 32 (like `residual_blocks` at most 20 and `hidden_units` 32 "
                "layers): the deepest networks measured to build, train and export."
            ),
        ),
    ]
    residual_blocks: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_RESIDUAL_BLOCKS,
            description=(
                "resnet: basic blocks per stage, each two Conv2D [→ BatchNorm] and a shortcut (a "
                "1×1 Conv2D where the width or size changes); every stage after the first starts "
                "at stride 2. Needs `conv_padding: same`."
            ),
        ),
    ]
    head: Annotated[
        Literal["flatten", "global_average"],
        Field(
            description=(
                "cnn, resnet: `flatten` the last feature maps, or `global_average` each map to "
                "one number (far fewer Dense weights); mlp: `flatten` only."
            )
        ),
    ]
    kernel_size: Annotated[
        Literal[1, 3, 5, 7],
        Field(description="cnn, resnet: the convolutions' kernel size (the shortcuts' is 1)."),
    ]
    stem_stride: Annotated[
        Literal[1, 2],
        Field(
            description=(
                "cnn, resnet: the stride of the first convolution; 2 halves the 28×28 maps at "
                "once, so every later layer runs on a quarter of the pixels (a cheaper epoch)."
            )
        ),
    ]
    pool_first: Annotated[
        bool,
        Field(
            description=(
                "cnn: pool each block's last convolution before its batch norm and activation "
                "(ReLU and max-pooling commute): the same shapes, a quarter of those layers' work."
            )
        ),
    ]
    conv_padding: Annotated[
        Literal["same", "valid"],
        Field(
            description=(
                "cnn: `same` keeps 28×28 until pooling, `valid` shrinks (cheaper); resnet: `same`."
            )
        ),
    ]
    conv_dropout: Annotated[
        Rate,
        Field(
            ge=0,
            lt=1,
            description=(
                "cnn: dropout after each block's pooling; resnet: after each stage; 0: none."
            ),
        ),
    ]
    hidden_units: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]],
        Field(
            max_length=MAX_HIDDEN_LAYERS,
            description=(
                "One Dense layer per entry, after the convolutions (if any); `[128]` is the "
                "Dense-128 script's network, `[]` none."
            ),
        ),
        Allowed(f"at most {MAX_HIDDEN_LAYERS} layers, with units in [1, {MAX_WIDTH}] each"),
    ]
    activation: Annotated[
        Literal["relu", "elu", "gelu", "selu", "sigmoid", "swish", "tanh"],
        Field(description="After each convolution and hidden Dense layer."),
    ]
    dropout: Annotated[
        Rate, Field(ge=0, lt=1, description=("Dropout after each hidden Dense layer; 0: none."))
    ]
    batch_norm: Annotated[
        bool,
        Field(
            description="BatchNormalization after each Conv2D and hidden Dense layer, before "
            "the activation."
        ),
    ]
    augment: Augment  # its docstring describes it
    flip_tta: Annotated[
        bool,
        Field(
            description=(
                "The shipped model averages its probabilities for the image and its mirror "
                "image (flip test-time augmentation), inside the ONNX graph: evaluate, predict "
                "and classify score what ships. Pairs with `augment.horizontal_flip`."
            )
        ),
    ]
    optimizer: Annotated[Literal["sgd", "adam", "adamw"], Field(description="The optimizer.")]
    learning_rate: Annotated[
        Rate,
        Field(
            gt=0,
            description=(
                "The optimizer's rate; a schedule's initial rate (cosine: its peak). `1e-3` is "
                "read as a number. At most 3.4e38, float32's largest."
            ),
        ),
    ]
    momentum: Annotated[
        float, Field(ge=0, lt=1, description="SGD's momentum; 0 with another optimizer.")
    ]
    nesterov: Annotated[
        bool, Field(description="SGD only: Nesterov momentum; false with another optimizer.")
    ]
    weight_decay: Annotated[
        float,
        Field(
            ge=0,
            description="AdamW's decoupled weight decay, at most 3.4e38; 0 with another "
            "optimizer.",
        ),
    ]
    ema_momentum: Annotated[
        float,
        Field(
            ge=0,
            lt=1,
            description=(
                "0: off; else the saved weights are an exponential moving average of the "
                "weights over the steps (Keras' `use_ema`), this much of the average kept per "
                "step (0.99: about the last 100 steps). The per-epoch validation metrics are "
                "the raw weights'; `metrics/eval.json` scores the average."
            ),
        ),
        Unit("a momentum"),
    ]
    schedule: Annotated[
        Literal["constant", "cosine", "plateau"],
        Field(
            description=(
                "`constant`; `cosine`: decays to 0 over all epochs (after any warm-up); "
                "`plateau`: Keras' ReduceLROnPlateau on `val_loss` (`train.plateau`)."
            )
        ),
    ]
    warmup_epochs: Annotated[
        int,
        Field(
            ge=0,
            le=MAX_EPOCHS,
            description=(
                "cosine only, fewer than `epochs`: the rate rises linearly from 0 to "
                "`learning_rate` first, then the cosine decays it to 0 over the remaining epochs."
            ),
        ),
        Unit("epochs"),
    ]
    plateau: Plateau  # its docstring describes it
    label_smoothing: Annotated[
        float,
        Field(
            ge=0,
            lt=1,
            description=("The loss is cross-entropy on one-hot labels smoothed by this much."),
        ),
    ]
    batch_size: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_BATCH_SIZE,
            description="Images per step: the global batch, split across the replicas; more "
            "than the 60,000 training images would be one batch of all.",
        ),
    ]
    steps_per_execution: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_STEPS_PER_EXECUTION,
            description="Batches per call into TensorFlow: the same updates in the same order, "
            "with less Python per batch (1 under tf.distribute; docs/performance.md).",
        ),
    ]
    distribution: Annotated[
        Literal["none", "mirrored", "multi_worker"],
        Field(
            description="`none`: one device; `mirrored`: one replica per GPU, or per logical CPU "
            "device; `multi_worker`: one per machine of the cluster in TF_CONFIG (docs/team.md)."
        ),
    ]
    cpu_replicas: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_CPU_REPLICAS,
            description="mirrored without a GPU: logical CPU devices to split the CPU into.",
        ),
        Unit("a device count"),
    ]
    epochs: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_EPOCHS,
            description=(
                "The most passes over the training split (early stopping may end sooner)."
            ),
        ),
    ]
    early_stopping: EarlyStopping  # its docstring describes it
    checkpoint: Checkpoint  # its docstring describes it
    seed: Annotated[
        int,
        Field(
            ge=0,
            lt=MAX_SEED,
            description=(
                "Seeds the weights, shuffling, dropout and augmentation (with deterministic "
                "TensorFlow kernels)."
            ),
        ),
        Unit("a seed"),
    ]
    numerics: Annotated[
        Literal["portable", "fastest"],
        Field(
            description="`portable`: the same kernels, so the same model, metrics and "
            "dvc.lock byte for byte, on every x86-64 CPU with AVX2; `fastest`: TensorFlow's "
            "choice for this CPU (docs/reproducibility.md)."
        ),
    ]

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> "Train":
        for key in ("learning_rate", "weight_decay"):
            rule(
                getattr(self, key) <= MAX_FLOAT32,
                key,
                f"at most {MAX_FLOAT32:g}: TensorFlow trains in float32, where more is infinite",
            )
        rule(
            not (self.activation == "gelu" and self.numerics == "fastest"),
            "activation",
            "another activation with train.numerics=fastest, or numerics portable: Keras' GELU "
            "runs Erfc there, which the ONNX export cannot express",
        )
        rule(self.warmup_epochs < self.epochs, "warmup_epochs", "epochs in [0, train.epochs)")
        rule(
            self.warmup_epochs == 0 or self.schedule == "cosine",
            "warmup_epochs",
            "0, or train.schedule: cosine (the warm-up leads into the cosine decay)",
        )
        rule(
            self.ema_momentum == 0
            or not (
                self.checkpoint.enabled
                or (self.early_stopping.enabled and self.early_stopping.restore_best_weights)
            ),
            "ema_momentum",
            "0 with train.checkpoint or early_stopping.restore_best_weights: they put an "
            "epoch's raw weights back over the average",
        )
        rule(
            self.momentum == 0 or self.optimizer == "sgd",
            "momentum",
            "0 unless train.optimizer: sgd (only SGD has a momentum)",
        )
        rule(
            not self.nesterov or self.optimizer == "sgd",
            "nesterov",
            "false unless train.optimizer: sgd (Nesterov's momentum is SGD's)",
        )
        rule(
            self.weight_decay == 0 or self.optimizer == "adamw",
            "weight_decay",
            "0 unless train.optimizer: adamw (the one optimizer here that decays weights)",
        )
        rule(
            not self.pool_first or self.architecture == "cnn",
            "pool_first",
            "false unless train.architecture: cnn (only its blocks end in a pooling)",
        )
        rule(
            self.stem_stride == 1 or self.architecture != "mlp",
            "stem_stride",
            "1 for train.architecture: mlp (it has no convolutions)",
        )
        rule(
            self.head == "flatten" or self.architecture != "mlp",
            "head",
            "flatten for train.architecture: mlp (it has no feature maps to average)",
        )
        if self.architecture == "resnet":
            rule(
                self.conv_padding == "same",
                "conv_padding",
                "same for train.architecture: resnet (a shortcut adds maps of equal size)",
            )
            # A stem at 28×28, then each stage after the first halves the size (stride 2).
            rule(len(self.conv_filters) <= 5, "conv_filters", "at most 5 stages (28 → 2 pixels)")
        if self.architecture == "cnn":
            rule(
                self._cnn_map_size() >= 1,
                "conv_filters",
                "few enough blocks to leave a 1×1 feature map",
            )
        return self

    def _cnn_map_size(self) -> int:
        """The side of the cnn's last feature map: each block's valid convolutions shrink it,
        its pooling halves it."""
        size = fashion_mnist.IMAGE_SHAPE[0]
        valid = self.conv_padding == "valid"
        for block in range(len(self.conv_filters)):
            for conv in range(self.convs_per_block):
                stride = self.stem_stride if block == conv == 0 else 1
                size = (size - (self.kernel_size - 1) * valid + stride - 1) // stride
            size //= 2
        return size

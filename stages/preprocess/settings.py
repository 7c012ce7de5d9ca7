"""The preprocess section of params.yaml."""

from typing import Annotated, Literal

import pydantic
from pydantic import Field

from stages.shared import fashion_mnist
from stages.shared.params import Allowed, Section, Unit, rule

MAX_SEED = 2**32  # NumPy's and Keras' seeds are 32-bit
TRAINING_IMAGES = fashion_mnist.MAX_ITEMS[fashion_mnist.TRAIN_IMAGES]  # 60,000
PER_CLASS = TRAINING_IMAGES // fashion_mnist.NUM_CLASSES  # 6,000 of each class


class Preprocess(Section):
    """How the training images are split into train and validation."""

    val_strategy: Annotated[
        Literal["head", "stratified"],
        Field(
            description="`head`: the first `val_size` images validate (the MLP script); "
            "`stratified`: random, in each class's proportion (the Dense-128 script's 20%)."
        ),
    ]
    val_size: Annotated[
        Annotated[int, Field(ge=1, lt=TRAINING_IMAGES)] | Annotated[float, Field(gt=0, lt=1)],
        Field(
            description="Validation images: a count, or a fraction of the training images (after "
            "`subset`). It must leave at least one image on each side."
        ),
        Allowed(f"a count in [1, {TRAINING_IMAGES - 1}] or a fraction in (0, 1)"),
    ]
    subset: Annotated[
        Annotated[int, Field(ge=2, le=PER_CLASS)] | None,
        Field(
            description="`null`: all 60,000 training images; N: N random images per class (of "
            "6,000), for quick runs; `val_size` must then leave images on both sides."
        ),
        Allowed(f"null or images per class in [2, {PER_CLASS}]"),
    ]
    seed: Annotated[
        int,
        Field(ge=0, lt=MAX_SEED, description="Seeds the subset and the stratified split."),
        Unit("a seed"),
    ]

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> "Preprocess":
        if self.subset is not None:  # the images the subset keeps, as the split counts them
            images = self.subset * fashion_mnist.NUM_CLASSES
            count = (
                self.val_size if isinstance(self.val_size, int) else round(self.val_size * images)
            )
            rule(
                1 <= count < images,
                "val_size",
                f"1 to {images - 1} of the {images} images that preprocess.subset="
                f"{self.subset} keeps (a count, or a fraction such as 0.2)",
            )
        return self

"""Photos of garments as a camera takes them, rendered from Fashion-MNIST-style images: on white,
on light grey lit from one side with the garment's soft shadow, and on a woven cloth; what a
conversion to 28×28 must find the garment on. And the tiny data set's images as garments."""

import numpy as np
from PIL import Image, ImageFilter

BACKGROUNDS = ("white", "grey-shadow", "textured")
SIZE = (800, 600)  # width, height
SCALE = 16  # each Fashion-MNIST pixel becomes 16×16
GARMENT_GREY = 60  # the garment's darkest grey, where the image is 255


def fill_square(image: np.ndarray) -> np.ndarray:
    """A tiny data set's image (uint8 (28, 28): a bright band over dim noise) as a garment that
    fills its square: levels 0–255 mapped to 100–255. Its dim noise alone would be backdrop to a
    conversion that, like tools.images, takes the garment to be what stands out above Otsu's
    threshold (as a soft shadow is); lifted, it is the garment's body and the band its print."""
    return np.rint(100 + image * (155 / 255)).astype(np.uint8)


def background(kind: str, rng: np.random.Generator) -> np.ndarray:
    """float (height, width) intensities of an empty backdrop of `kind`."""
    width, height = SIZE
    y, x = np.mgrid[0:height, 0:width] / max(SIZE)
    if kind == "white":
        return np.full((height, width), 255.0)
    if kind == "grey-shadow":  # lit from the top left: 35 levels darker at the far corner
        return 230 - 35 * np.hypot(x, y) / np.hypot(1, 0.75)
    if kind == "textured":  # grain, and a weave of 6-pixel period
        weave = 8 * np.sin(2 * np.pi * x * max(SIZE) / 6) * np.sin(2 * np.pi * y * max(SIZE) / 6)
        return 220 + rng.normal(0, 6, (height, width)) + weave
    raise ValueError(f"no background {kind!r}; one of {BACKGROUNDS}")


def render_photo(garment: np.ndarray, kind: str, seed: int) -> Image.Image:
    """An RGB photo (800×600) of `garment` (uint8 (28, 28), light on black, as in Fashion-MNIST),
    enlarged 16 times and placed off centre, dark grey on a backdrop of `kind`; on
    "grey-shadow", the garment casts a soft shadow down and to the right (a third darker)."""
    rng = np.random.default_rng(seed)
    width, height = SIZE
    side = 28 * SCALE
    big = Image.fromarray(garment).resize((side, side), Image.Resampling.BICUBIC)
    opacity = np.zeros((height, width))
    top, left = 40 + int(rng.integers(0, 60)), 60 + int(rng.integers(0, 200))
    opacity[top : top + side, left : left + side] = np.clip(np.asarray(big) / 255, 0, 1)
    backdrop = background(kind, rng)
    if kind == "grey-shadow":
        cast = np.roll(opacity > 0.05, (30, 40), axis=(0, 1)).astype(np.uint8) * 255
        blurred = Image.fromarray(cast).filter(ImageFilter.GaussianBlur(25))
        backdrop *= 1 - 0.3 * np.asarray(blurred) / 255
    photo = backdrop * (1 - opacity) + GARMENT_GREY * opacity
    rgb = np.stack([photo, photo * 0.98, photo * 0.95], axis=-1)  # a warm white balance
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))

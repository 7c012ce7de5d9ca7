"""Your own pictures in Fashion-MNIST's convention: grayscale, a light garment on a black
background, trimmed to the garment, its longer side scaled to 28 pixels and centred on 28×28.

This follows Zalando's conversion of its product photos (the "Get the Data" section of
zalandoresearch/fashion-mnist's README: trim the edges close to the corner colour, resize the
longest edge to 28, centre, negate), except that the image is negated only if its background is
light, the garment is what stands out from the backdrop by more than Otsu's threshold on a blurred
copy (so that a grey backdrop's shading, a shadow or a cloth's grain is not taken for it), and the
intensities are stretched so that the backdrop is 0 and the garment peaks at 255. The standalone
block of docs/own-images.md finds the garment the same way.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from stages.shared import fashion_mnist
from stages.shared.errors import PipelineError

# Decoding and converting 50 megapixels takes about 1.4 GB of memory (1.37 GB peak measured for a
# 7000×7000 RGB PNG); larger images are refused before they are decoded.
MAX_PIXELS = 50_000_000
SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")
# A picture none of whose pixels differs from the backdrop by more than this is blank, and the
# garment's box is trimmed of rows and columns that do not (Zalando trims at 5%).
_TOLERANCE = 0.05 * 255
# The garment is found on a copy blurred by this fraction of the picture's longer side: 2 pixels
# at 280, as in docs/own-images.md's block, so that grain and a soft shadow fall below the
# threshold.
_BLUR = 2 / 280


class ImageError(PipelineError):
    """One input image cannot be read; the others are still classified."""


def open_image(path: Path) -> Image.Image:
    """Open and decode an image file, turned upright as its EXIF orientation says, or raise
    ImageError saying why not, whatever Pillow raised."""
    if not path.exists():
        raise ImageError("no such file")
    if not path.is_file():  # reading a FIFO or a device could block or never end
        raise ImageError("not a regular file (a folder, FIFO, device or socket)")
    if path.stat().st_size == 0:
        raise ImageError("empty file")
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(
                    f"{image.width}×{image.height} pixels is over the limit of {MAX_PIXELS:,}; "
                    "shrink it first"
                )
            image.load()
            # Phones store a photo as the sensor saw it, with an EXIF Orientation tag saying how
            # to turn it upright; viewers obey it, and so must we.
            return ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not an image that Pillow can read") from None
    except Image.DecompressionBombError as error:
        raise ImageError(f"too large to decode safely ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"truncated or corrupt image ({error})") from None
    except Exception as error:
        # Pillow's plugins raise what they like on a corrupt file (RuntimeError for an AVIF,
        # NotImplementedError for a DDS): the file is the problem, so it gets its reason and
        # the other images are still classified.
        raise ImageError(f"Pillow cannot decode it ({type(error).__name__}: {error})") from None


def scale_levels(values: np.ndarray, mode: str) -> np.ndarray:
    """The pixels of an image of mode I;16*, I (32-bit integers) or F (floats) in [0, 255],
    float (h, w): 16-bit ones divided by 257, floats in [0, 1] multiplied by 255, values already
    in [0, 255] kept, any other range stretched onto it; ImageError if some are NaN or infinite."""
    if not np.isfinite(values).all():
        raise ImageError(f"some pixels of this {mode} image are not numbers (NaN or infinity)")
    low, high = values.min(), values.max()
    if mode.startswith("I;16") or (mode == "I" and low >= 0 and 255 < high <= 65535):
        return values / 257
    if mode == "F" and low >= 0 and high <= 1:
        return values * 255
    if low >= 0 and high <= 255:
        return values
    return (values - low) * (255 / (high - low))  # high > low: the range exceeds [0, 255]


def grayscale(image: Image.Image) -> np.ndarray:
    """Intensities in [0, 255] as float (h, w): 16-bit, 32-bit and float images scaled
    (`scale_levels`), transparent areas composited over white, Lab converted to sRGB, then
    palettes and colours (RGB, CMYK, YCbCr, HSV, …) converted to luminance."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return scale_levels(np.asarray(image, dtype=np.float64), image.mode)
    if image.mode == "LAB":  # Pillow converts Lab to RGB only, through its colour profiles
        image = image.convert("RGB")
    if image.mode == "La":  # premultiplied alpha, which Pillow converts to LA only
        image = image.convert("LA")
    if image.mode in ("RGBA", "RGBa", "LA", "PA") or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.float64)


def subtract_backdrop(gray: np.ndarray) -> np.ndarray:
    """How much darker than a light backdrop (or lighter than a dark one) each pixel is: float
    (h, w) in [0, 255], 0 on the backdrop, whose level is the median of the border pixels."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if not (np.abs(gray - background) > _TOLERANCE).any():
        raise ImageError("no garment found: the picture is one flat colour")
    if background > 127:  # a photo on a light background, like Zalando's: negate it
        return np.clip(background - gray, 0, 255)
    return np.clip(gray - background, 0, 255)


def otsu_threshold(levels: np.ndarray) -> int:
    """Otsu's threshold of uint8 `levels`: the level that best splits them in two (the largest
    variance between the levels up to it and those above it)."""
    share = np.bincount(levels.ravel(), minlength=256) / levels.size
    below, mass = np.cumsum(share), np.cumsum(share * np.arange(256))
    return int(np.argmax((mass[-1] * below - mass) ** 2 / (below * (1 - below) + 1e-12)))


def bounding_box(mask: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns that span the true pixels of `mask` (bool (h, w), at least one)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def find_garment(ink: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of the garment in `ink` (float (h, w), 0 on the backdrop): the box of
    what stands out above Otsu's threshold on a blurred copy, so that grain and a soft shadow are
    not taken for it, trimmed of the rows and columns that do not differ from the backdrop by more
    than 5% (the blur widens a garment on a clean backdrop)."""
    radius = _BLUR * max(ink.shape)
    blurred = Image.fromarray(np.rint(ink).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(radius)
    )
    smooth = np.asarray(blurred)
    found = smooth > otsu_threshold(smooth)
    if not found.any():  # e.g. a garment lighter than its light backdrop
        raise ImageError("no garment found: nothing stands out from the background")
    rows, cols = bounding_box(found)
    distinct = ink[rows, cols] > _TOLERANCE
    if not distinct.any():  # a faint garment: all of it within 5% of the backdrop
        return rows, cols
    inner_rows, inner_cols = bounding_box(distinct)
    return (
        slice(rows.start + inner_rows.start, rows.start + inner_rows.stop),
        slice(cols.start + inner_cols.start, cols.start + inner_cols.stop),
    )


def centre_on_canvas(garment: np.ndarray) -> np.ndarray:
    """`garment` (float (h, w)) with its longer side scaled to 28 and centred on 28×28 as in
    Fashion-MNIST, an odd pixel of margin on the left and top: uint8 (28, 28)."""
    side = fashion_mnist.IMAGE_SHAPE[0]
    scale = side / max(garment.shape)
    width, height = (max(1, round(n * scale)) for n in (garment.shape[1], garment.shape[0]))
    # Averaging when shrinking keeps every pixel's contribution; bicubic when enlarging.
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC
    image = Image.fromarray(garment.astype(np.float32)).resize((width, height), resample)
    canvas = np.zeros(fashion_mnist.IMAGE_SHAPE, dtype=np.float64)
    top, left = (side - height + 1) // 2, (side - width + 1) // 2
    canvas[top : top + height, left : left + width] = np.asarray(image)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def to_fashion_mnist(image: Image.Image) -> np.ndarray:
    """Convert any image to what the model was trained on: uint8 (28, 28), garment light on 0;
    ImageError saying why not, whatever a step raised."""
    try:
        ink = subtract_backdrop(grayscale(image))
        garment = ink[find_garment(ink)]
        return centre_on_canvas(garment * (255 / garment.max()))
    except ImageError:
        raise
    except Exception as error:
        # A colour mode or a corner case no step foresaw (Pillow raises ValueError for a
        # conversion it lacks): this image gets its reason, and the others are still classified.
        problem = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        raise ImageError(f"cannot convert this {image.mode} image ({problem})") from error


def find_images(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Expand folders (recursively, by file suffix) into image files; a file named directly is
    taken whatever its suffix. Return (files, [(path, problem)]) for paths that give nothing."""
    files, problems = [], []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in _walk(path) if p.suffix.lower() in SUFFIXES)
            if not found:
                problems.append((path, f"folder holds no images ({', '.join(SUFFIXES)})"))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append((path, "no such file or folder"))
    return files, problems


def _walk(folder: Path) -> Iterator[Path]:
    """Every path below `folder`, following symbolic links to folders but never in a loop."""
    seen = set()
    for directory, subdirectories, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:
            subdirectories.clear()
            continue
        seen.add(real)
        yield from (Path(directory, name) for name in names)

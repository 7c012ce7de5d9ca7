"""User images to Fashion-MNIST's convention, and every way an image file can be bad."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import photos
from tests.helpers.project import REPO
from tests.helpers.tiny import class_images
from tools import images
from tools.images import ImageError


def _as_photo(
    image: np.ndarray, scale: int = 10, margin: tuple[int, int] = (60, 30)
) -> Image.Image:
    """A Fashion-MNIST image as a product photo: dark on white, large, RGB, off-centre margins."""
    big = Image.fromarray(255 - image).resize((28 * scale, 28 * scale), Image.Resampling.NEAREST)
    canvas = Image.new("L", (28 * scale + 2 * margin[0], 28 * scale + margin[1]), 255)
    canvas.paste(big, margin)
    return canvas.convert("RGB")


@pytest.fixture(scope="module")
def originals() -> np.ndarray:
    """One garment of each tiny class, filling its square."""
    labels = np.arange(10, dtype=np.uint8)
    return photos.fill_square(class_images(labels, np.random.default_rng(3)))


def test_large_rgb_photo_on_white_comes_back_as_the_original(originals):
    for original in originals:
        converted = images.to_fashion_mnist(_as_photo(original))
        assert converted.dtype == np.uint8 and converted.shape == (28, 28)
        assert np.abs(converted.astype(int) - original).max() <= 3


def test_dark_background_is_kept_and_light_background_negated():
    garment = np.zeros((40, 40), np.uint8)
    garment[5:35, 10:30] = 200
    kept = images.to_fashion_mnist(Image.fromarray(garment))
    negated = images.to_fashion_mnist(Image.fromarray(255 - garment))
    assert kept[14, 14] == 255 and kept[0, 0] == 0
    np.testing.assert_array_equal(kept, negated)


def test_aspect_ratio_is_kept_and_the_garment_centred():
    wide = np.zeros((60, 300), np.uint8)
    wide[20:40, 50:250] = 255  # a 200×20 bar: 28×3 once its longer side is 28
    converted = images.to_fashion_mnist(Image.fromarray(wide))
    rows = np.flatnonzero(converted.max(axis=1) > 0)
    cols = np.flatnonzero(converted.max(axis=0) > 0)
    assert (cols[0], cols[-1]) == (0, 27)
    # 25 rows of margin, the odd one on top: of Fashion-MNIST's 10,000 test images, those with an
    # odd margin have the extra row on top or column on the left in 98% of cases (5,145 of 5,267).
    assert len(rows) == 3 and rows[0] == 13


def test_small_image_is_enlarged():
    tiny = np.zeros((7, 7), np.uint8)
    tiny[1:6, 2:5] = 255
    converted = images.to_fashion_mnist(Image.fromarray(tiny))
    assert converted.max() > 200 and (converted > 100).sum() > 100


@pytest.mark.parametrize(
    ("size", "colour"),
    [((50, 80), (255, 255, 255)), ((50, 80), (0, 0, 0)), ((1, 10_000), (255,) * 3)],
)
def test_a_blank_picture_has_no_garment(size, colour):
    with pytest.raises(images.ImageError, match="no garment found"):
        images.to_fashion_mnist(Image.new("RGB", size, colour))


def test_a_garment_lighter_than_its_light_backdrop_is_not_found():
    picture = Image.new("L", (60, 60), 200)
    picture.paste(255, (20, 10, 40, 50))  # not one flat colour, but nothing darker than it
    with pytest.raises(images.ImageError, match="no garment found: nothing stands out"):
        images.to_fashion_mnist(picture)


def test_a_faint_garment_is_still_found():
    picture = Image.new("L", (60, 60), 255)
    picture.paste(200, (20, 10, 40, 50))  # 22% darker than the background
    assert images.to_fashion_mnist(picture).max() == 255


def _garment_box(image: np.ndarray) -> np.ndarray:
    """The first and last rows and columns of a 28×28 image brighter than a quarter of 255."""
    rows, cols = np.nonzero(image > 64)
    return np.array([rows.min(), rows.max(), cols.min(), cols.max()])


@pytest.mark.parametrize("backdrop", photos.BACKGROUNDS)
def test_a_photo_on_any_plain_backdrop_is_trimmed_to_its_garment(tmp_path, backdrop):
    """The garments of docs/examples photographed on white, on light grey with a soft shadow and
    on a woven cloth (JPEG): the shading, the shadow and the grain are not taken for the garment
    (trimming at 5% of the backdrop's level kept them: edges up to 9 pixels off, correlations
    0.25 to 0.66)."""
    for picture in sorted((REPO / "docs/examples").iterdir()):
        garment = images.to_fashion_mnist(images.open_image(picture))  # on white: faithful
        photo = photos.render_photo(garment, backdrop, seed=photos.BACKGROUNDS.index(backdrop))
        photo.save(tmp_path / "photo.jpg", quality=90)
        seen = images.to_fashion_mnist(images.open_image(tmp_path / "photo.jpg"))
        offsets = np.abs(_garment_box(seen) - _garment_box(garment))
        assert offsets.max() <= 1, f"{picture.name} on {backdrop}: edges off by {offsets}"
        likeness = np.corrcoef(seen.ravel(), garment.ravel())[0, 1]
        assert likeness > 0.8, f"{picture.name} on {backdrop}: correlation {likeness:.2f}"


def _photo_in_mode(photo: Image.Image, kind: str, folder: Path) -> Image.Image:
    """`photo` (RGB) as an image of another kind, read back from the file it is saved in, or in
    memory for the modes no format Pillow writes holds (HSV, premultiplied alpha)."""
    gray = photo.convert("L")
    rgba = np.asarray(photo.convert("RGBA")).copy()
    rgba[..., 3] = np.where(rgba[..., 0] == 255, 0, 255)  # the white background transparent
    saved = {
        "16-bit": (Image.fromarray(np.asarray(gray).astype(np.uint16) * 257), "png"),
        "16-bit-big-endian": (Image.fromarray(np.asarray(gray).astype(">u2") * 257), "tif"),
        # 32-bit integers in no particular range: stretched onto [0, 255]
        "32-bit": (Image.fromarray(np.asarray(gray).astype(np.int32) * 1000 - 7), "tif"),
        "float": (Image.fromarray(np.asarray(gray).astype(np.float32) / 255), "tif"),
        "palette": (photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=256), "png"),
        "rgba": (Image.fromarray(rgba), "png"),
        "gray-alpha": (gray.convert("LA"), "png"),
        "jpeg": (photo, "jpg"),
        "cmyk": (photo.convert("CMYK"), "jpg"),
        "ycbcr": (photo.convert("YCbCr"), "tif"),
        "lab": (photo.convert("LAB"), "tif"),  # CIELab: Pillow converts it to RGB only
    }
    in_memory = {
        "hsv": photo.convert("HSV"),
        "premultiplied-alpha": Image.fromarray(rgba).convert("RGBa"),
        "gray-premultiplied-alpha": Image.fromarray(rgba).convert("LA").convert("La"),
    }
    if kind in in_memory:
        return in_memory[kind]
    image, suffix = saved[kind]
    path = folder / f"image.{suffix}"
    image.save(path, **({"quality": 95} if suffix == "jpg" else {}))
    opened = images.open_image(path)
    assert opened.mode == image.mode, (opened.mode, image.mode)  # the file holds that mode
    return opened


@pytest.mark.parametrize(
    "kind",
    [
        "16-bit",
        "16-bit-big-endian",
        "32-bit",
        "float",
        "palette",
        "rgba",
        "gray-alpha",
        "premultiplied-alpha",
        "gray-premultiplied-alpha",
        "jpeg",
        "cmyk",
        "ycbcr",
        "lab",
        "hsv",
    ],
)
def test_every_image_mode_converts_like_plain_grayscale(tmp_path, originals, kind):
    photo = _as_photo(originals[4])
    expected = images.to_fashion_mnist(photo)
    converted = images.to_fashion_mnist(_photo_in_mode(photo, kind, tmp_path))
    tolerance = 40 if kind in ("jpeg", "cmyk") else 3
    assert np.abs(converted.astype(int) - expected).max() <= tolerance, kind


def test_a_float_image_with_pixels_that_are_not_numbers_is_refused():
    pixels = np.ones((40, 40), np.float32)
    pixels[10:30, 10:30] = 0.2
    pixels[20, 20] = np.nan
    with pytest.raises(ImageError, match="some pixels of this F image are not numbers"):
        images.to_fashion_mnist(Image.fromarray(pixels))


def _png_bytes(size=(64, 64), noise: bool = False) -> bytes:
    buffer = io.BytesIO()
    if noise:  # incompressible, so that cutting the file cuts the pixels
        pixels = np.random.default_rng(0).integers(0, 256, (*size[::-1], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(buffer, format="PNG")
    else:
        Image.new("RGB", size, (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "empty file"),
        (b"just some text, not pixels\n", "not an image that Pillow can read"),
        (_png_bytes(noise=True)[:5000], "truncated or corrupt image"),
    ],
    ids=["missing", "empty", "text-named-png", "truncated-png"],
)
def test_bad_files_raise_image_error_naming_the_problem(tmp_path, content, message):
    path = tmp_path / "photo.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        images.open_image(path)


def test_huge_image_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_bytes((4000, 3000)))
    monkeypatch.setattr(images, "MAX_PIXELS", 10_000_000)
    with pytest.raises(ImageError, match="4000×3000 pixels is over the limit of 10,000,000"):
        images.open_image(path)


def test_folders_are_expanded_and_empty_ones_reported(tmp_path):
    (tmp_path / "shoes" / "more").mkdir(parents=True)
    for name in ("shoes/b.PNG", "shoes/a.jpg", "shoes/more/c.webp", "shoes/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    files, problems = images.find_images(
        [
            tmp_path / "shoes",
            tmp_path / "empty",
            tmp_path / "gone.png",
            tmp_path / "shoes/notes.txt",
        ]
    )
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "shoes/a.jpg",
        "shoes/b.PNG",
        "shoes/more/c.webp",
        "shoes/notes.txt",
    ]
    assert [(p.name, reason.split(" (")[0]) for p, reason in problems] == [
        ("empty", "folder holds no images"),
        ("gone.png", "no such file or folder"),
    ]


def test_a_fifo_is_not_read(tmp_path):
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="not a regular file"):
        images.open_image(fifo)  # opening it would block for ever


def test_symlinked_folders_are_followed_without_looping(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.png").write_bytes(b"x")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "linked").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "loop").symlink_to(tmp_path / "real")
    files, problems = images.find_images([tmp_path / "photos"])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["photos/linked/a.png"]
    assert problems == []


# What a phone stores for an EXIF orientation: the upright picture, turned the other way.
STORED = {
    3: Image.Transpose.ROTATE_180,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # the usual one: a phone held upright
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", STORED)
def test_a_phone_photo_is_turned_upright_as_its_exif_says(tmp_path, originals, orientation):
    photo = _as_photo(originals[2])
    expected = images.to_fashion_mnist(photo)
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    photo.transpose(STORED[orientation]).save(tmp_path / "phone.jpg", quality=95, exif=exif)
    upright = images.to_fashion_mnist(images.open_image(tmp_path / "phone.jpg"))
    assert np.abs(upright.astype(int) - expected).max() <= 40  # JPEG's loss, as above
    with Image.open(tmp_path / "phone.jpg") as stored:  # the pixels as stored: not upright
        sideways = images.to_fashion_mnist(stored)
    assert np.abs(sideways.astype(int) - expected).max() > 100

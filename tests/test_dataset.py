import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stages.shared import fashion_mnist, idx, splits
from stages.shared.errors import DataError
from tests.helpers.bad_splits import UNUSABLE_SPLITS
from tests.helpers.tiny import encode_idx


def test_idx_round_trip_of_17_images():
    images = np.random.default_rng(1).integers(0, 256, size=(17, 28, 28), dtype=np.uint8)
    decoded = idx.decode_idx(encode_idx(images), ndim=3, name="images")
    np.testing.assert_array_equal(decoded, images)


def test_idx_header_is_the_documented_one():
    data = encode_idx(np.arange(3, dtype=np.uint8))
    assert data[:8] == bytes([0, 0, 8, 1, 0, 0, 0, 3])


def _images_idx(n: int = 3) -> bytes:
    return encode_idx(np.zeros((n, 28, 28), dtype=np.uint8))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00", "too short"),
        (encode_idx(np.zeros(3, dtype=np.uint8)), "magic 0x801, expected 0x803"),
        (b"\x00\x00\x0d\x03" + _images_idx()[4:], "magic 0xd03"),
        (_images_idx()[:10], "truncated IDX header"),
        (_images_idx()[:-1], "truncated"),
        (_images_idx() + b"\x00", "trailing data"),
    ],
    ids=["short", "labels-not-images", "float-dtype", "cut-header", "cut-data", "extra-data"],
)
def test_corrupt_idx_is_named_with_the_fix(data, message):
    with pytest.raises(DataError, match=message) as error:
        idx.decode_idx(data, ndim=3, name="train-images-idx3-ubyte")
    assert "train-images-idx3-ubyte" in str(error.value)
    assert "dvc repro download" in str(error.value)


def test_images_and_labels_must_agree(tmp_path):
    (tmp_path / "images").write_bytes(_images_idx(3))
    (tmp_path / "labels").write_bytes(encode_idx(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(DataError, match=r"3 images but .* 4 labels"):
        idx.read_images_and_labels(tmp_path / "images", tmp_path / "labels")


def test_label_outside_the_ten_classes_is_refused(tmp_path):
    (tmp_path / "images").write_bytes(_images_idx(2))
    (tmp_path / "labels").write_bytes(encode_idx(np.array([3, 10], dtype=np.uint8)))
    with pytest.raises(DataError, match="label 10"):
        idx.read_images_and_labels(tmp_path / "images", tmp_path / "labels")


def test_images_of_another_size_are_refused(tmp_path):
    (tmp_path / "images").write_bytes(encode_idx(np.zeros((2, 32, 32), dtype=np.uint8)))
    (tmp_path / "labels").write_bytes(encode_idx(np.zeros(2, dtype=np.uint8)))
    with pytest.raises(DataError, match=r"\(32, 32\), expected \(28, 28\)"):
        idx.read_images_and_labels(tmp_path / "images", tmp_path / "labels")


def test_missing_raw_file_names_the_stage_to_rerun(tmp_path):
    with pytest.raises(DataError, match="missing; re-run `dvc repro download`"):
        idx.read_idx(tmp_path / "nope", ndim=1)


def test_tiny_source_decodes(tiny_raw, tiny_source):
    images, labels = idx.read_images_and_labels(
        tiny_raw / fashion_mnist.TRAIN_IMAGES, tiny_raw / fashion_mnist.TRAIN_LABELS
    )
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, tiny_source.train_labels)
    gz = gzip.decompress((tiny_source.directory / f"{fashion_mnist.TEST_LABELS}.gz").read_bytes())
    assert (tiny_raw / fashion_mnist.TEST_LABELS).read_bytes() == gz


def test_split_round_trip(tmp_path):
    images = np.full((4, 28, 28), 7, dtype=np.uint8)
    labels = np.array([0, 1, 2, 9], dtype=np.uint8)
    splits.write_split(tmp_path / "s.npz", images, labels)
    read_images, read_labels = splits.read_split(tmp_path / "s.npz")
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (np.zeros((2, 28, 28), np.float32), np.zeros(2, np.uint8), "images are float32"),
        (np.zeros((2, 784), np.uint8), np.zeros(2, np.uint8), r"images are uint8 \(2, 784\)"),
        (np.zeros((2, 28, 28), np.uint8), np.zeros(3, np.uint8), r"labels are uint8 \(3,\)"),
        (np.zeros((2, 28, 28), np.uint8), np.zeros(2, np.int64), "labels are int64"),
    ],
)
def test_split_of_wrong_shape_or_dtype_is_refused(tmp_path, images, labels, message):
    np.savez(tmp_path / "bad.npz", images=images, labels=labels)
    with pytest.raises(DataError, match=message) as error:
        splits.read_split(tmp_path / "bad.npz")
    assert "dvc repro preprocess" in str(error.value)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04truncated"])
def test_unreadable_split_is_refused(tmp_path, content):
    (tmp_path / "bad.npz").write_bytes(content)
    with pytest.raises(DataError, match="unreadable split"):
        splits.read_split(tmp_path / "bad.npz")


def test_split_without_expected_arrays_is_refused(tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros(1))
    with pytest.raises(DataError, match="unreadable split"):
        splits.read_split(tmp_path / "bad.npz")


def test_raw_file_far_larger_than_fashion_mnist_is_refused_before_it_is_read(
    tmp_path, monkeypatch
):
    """A sparse 100 MB labels file with a real header: refused from its size; never read."""
    path = tmp_path / fashion_mnist.TRAIN_LABELS
    with path.open("wb") as f:
        f.write(encode_idx(np.zeros(3, dtype=np.uint8)))
        f.truncate(100_000_000)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} read"))
    with pytest.raises(DataError) as error:
        idx.read_idx(path, ndim=1)
    assert str(error.value) == (
        f"{path}: 100,000,000 bytes, more than the 60,008 of Fashion-MNIST's file; "
        "re-run `dvc repro download`"
    )


def test_split_with_a_label_outside_the_ten_classes_is_refused(tmp_path):
    np.savez(
        tmp_path / "bad.npz", images=np.zeros((2, 28, 28), np.uint8), labels=np.uint8([3, 10])
    )
    with pytest.raises(DataError) as error:
        splits.read_split(tmp_path / "bad.npz")
    assert str(error.value) == (
        f"{tmp_path / 'bad.npz'}: label 10 is not a class in [0, 10); "
        "re-run `dvc repro preprocess`"
    )


def _write_npz_declaring(path: Path, name: str, shape: tuple) -> Path:
    """A split whose member `name`.npy declares uint8 `shape` over the bytes of two real items."""
    real = {"images": np.zeros((2, 28, 28), np.uint8), "labels": np.uint8([1, 2])}
    with zipfile.ZipFile(path, "w") as archive:
        for member, array in real.items():
            buffer = io.BytesIO()
            if member == name:
                header = {"descr": "|u1", "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(buffer, header)
                buffer.write(array.tobytes())
            else:
                np.lib.format.write_array(buffer, array)
            archive.writestr(f"{member}.npy", buffer.getvalue())
    return path


@pytest.mark.parametrize(
    ("name", "shape", "declared", "held"),
    [
        ("images", (10**9, 28, 28), "uint8 (1000000000, 28, 28), 784,000,000,000", "1,568"),
        ("labels", (10**12,), "uint8 (1000000000000,), 1,000,000,000,000", "2"),
    ],
)
def test_split_whose_header_declares_more_than_it_holds_is_refused_before_it_is_read(
    tmp_path, monkeypatch, name, shape, declared, held
):
    """numpy allocates what a .npy header declares before reading a byte: 784 GB here."""
    path = _write_npz_declaring(tmp_path / "val.npz", name, shape)
    read_array = np.lib.format.read_array

    def read_all_but(member, **kwargs):
        assert member.name != f"{name}.npy", "read"
        return read_array(member, **kwargs)

    monkeypatch.setattr(np.lib.format, "read_array", read_all_but)
    with pytest.raises(DataError) as error:
        splits.read_split(path)
    assert str(error.value) == (
        f"{path}: {name}.npy declares {declared} bytes, but holds {held}; "
        "re-run `dvc repro preprocess`"
    )


def test_split_of_more_items_than_all_fashion_mnist_is_refused_before_it_is_read(tmp_path):
    """The header and the member agree, but no split holds more than Fashion-MNIST's 70,000
    images (a zip can misstate a member's size, too)."""
    path = tmp_path / "train.npz"
    np.savez(path, images=np.zeros((1, 28, 28), np.uint8), labels=np.zeros(70_001, np.uint8))
    with pytest.raises(DataError) as error:
        splits.read_split(path)
    assert str(error.value) == (
        f"{path}: labels.npy declares 70,001 items, more than the 70,000 images of all "
        "Fashion-MNIST; re-run `dvc repro preprocess`"
    )


@pytest.mark.parametrize(("write", "problem"), UNUSABLE_SPLITS)
def test_a_split_no_stage_can_use_is_refused(tmp_path, write, problem):
    """A plain .npy named like a split; an empty split, which no stage can use (a fit has no
    epoch's metrics, a score is NaN) and preprocess never writes."""
    path = tmp_path / "train.npz"
    write(path)
    with pytest.raises(DataError) as error:
        splits.read_split(path)
    assert str(error.value) == f"{path}: {problem}; re-run `dvc repro preprocess`"


def test_a_member_that_is_not_an_npy_array_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as archive:
        archive.writestr("images.npy", b"not an array")
        archive.writestr("labels.npy", b"")
    with pytest.raises(DataError, match="unreadable split"):
        splits.read_split(tmp_path / "bad.npz")

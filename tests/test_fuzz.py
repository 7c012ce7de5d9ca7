"""Property tests: whatever bytes, YAML or JSON come in, the IDX reader, the params loader, the
TF_CONFIG reader and the image reader either succeed or raise our own clear error type, never
anything else."""

import contextlib
import functools
import io
import json
import struct
import warnings

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from stages.shared import idx, params
from stages.shared.errors import DataError, ParamsError, PipelineError
from stages.train import distribution
from tests.helpers import image_seeds
from tests.helpers.project import committed_dataset, committed_params
from tools import images, params_reference

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.binary(max_size=2000), ndim=st.integers(1, 3))
def test_idx_reader_on_random_bytes_raises_only_data_error(data, ndim):
    try:
        array = idx.decode_idx(data, ndim=ndim, name="fuzz")
    except DataError:
        return
    assert array.dtype == np.uint8 and array.ndim == ndim


@FUZZ
@given(
    dims=st.lists(st.integers(0, 6), min_size=1, max_size=3),
    extra=st.integers(-3, 3),
    magic_byte=st.sampled_from([0x08, 0x09, 0x0B, 0x0D]),
)
def test_idx_reader_on_plausible_headers_checks_the_size(dims, extra, magic_byte):
    header = bytes([0, 0, magic_byte, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    body = bytes(max(0, int(np.prod(dims)) + extra))
    try:
        array = idx.decode_idx(header + body, ndim=len(dims), name="fuzz")
    except DataError:
        return
    assert magic_byte == 0x08 and len(body) == np.prod(dims) and list(array.shape) == dims


def _yaml_values():
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=8), children, max_size=3)
        ),
        max_leaves=8,
    )


@FUZZ
@given(text=st.text(max_size=300))
def test_params_loader_on_random_text_raises_only_params_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "params.yaml"
    path.write_text(text, encoding="utf-8")
    for section in (*params_reference.SECTIONS, *params_reference.DATASET):
        with contextlib.suppress(ParamsError):
            params.load(path, section)


@FUZZ
@given(
    section=st.sampled_from((*params_reference.SECTIONS, *params_reference.DATASET)),
    key=st.sampled_from(
        ["epochs", "val_size", "sources", "sha256", "count", "early_stopping", "x"]
    ),
    value=_yaml_values(),
)
def test_params_loader_on_random_values_raises_only_params_error(
    tmp_path_factory, section, key, value
):
    document = committed_dataset() if section in params_reference.DATASET else committed_params()
    document[section.section][key] = value
    path = tmp_path_factory.mktemp("fuzz") / "params.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with contextlib.suppress(ParamsError):
        params.load(path, section)


def _json_values():
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=10)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=8), children, max_size=3)
        ),
        max_leaves=8,
    )


_ADDRESSES = st.builds(
    "{}:{}".format,
    st.sampled_from(["host1", "10.0.0.2", "[::1]", "node-2.example.org"]),
    st.integers(1, 65535),
)
# Two spellings of one address, so that clusters naming an address twice are common.
_CLASHING_ADDRESSES = st.sampled_from(["host1:2222", "HOST1:2222"])


@st.composite
def _well_formed_tf_config(draw) -> dict:
    """A cluster of 1–3 workers and perhaps a chief, each at its own address, a task in it, and
    perhaps the other keys TensorFlow reads."""
    chief = draw(st.booleans())
    addresses = draw(
        st.lists(_ADDRESSES, min_size=1 + chief, max_size=3 + chief, unique_by=str.lower)
    )
    cluster = {"chief": addresses[:1], "worker": addresses[1:]} if chief else {"worker": addresses}
    kind = draw(st.sampled_from(sorted(cluster)))
    others = st.fixed_dictionaries(
        {},
        optional={
            "rpc_layer": st.sampled_from(["grpc", "", None]),
            "environment": _json_values(),
            "session_master": _json_values(),
        },
    )
    return {
        "cluster": cluster,
        "task": {"type": kind, "index": draw(st.integers(0, 3)) % len(cluster[kind])},
        **draw(others),
    }


@st.composite
def _changed_tf_config(draw) -> dict:
    """A well-formed TF_CONFIG with one piece changed: a cluster list emptied, an address in it
    twice, one more key (TensorFlow's or not), or the task's type or index."""
    config = draw(_well_formed_tf_config())
    cluster, kind = config["cluster"], draw(st.sampled_from(["worker", "chief"]))
    change = draw(st.sampled_from(["empty", "repeat", "key", "task"]))
    if change == "empty":
        cluster[kind] = []
    elif change == "repeat":
        address = draw(st.sampled_from([a for addresses in cluster.values() for a in addresses]))
        cluster.setdefault(kind, []).append(draw(st.sampled_from([address, address.upper()])))
    elif change == "key":
        key = draw(st.sampled_from(["rpc_layer", "rpc", "clusters"]) | st.text(max_size=5))
        config[key] = draw(st.sampled_from(["grpc", "", "bogus"]) | _json_values())
    else:
        field = draw(st.sampled_from(["type", "index"]))
        config["task"][field] = draw(st.sampled_from(["worker", "chief", 1]) | _json_values())
    return config


def _tf_config_structures():
    """TF_CONFIG's shape with any piece replaced by something else, an address perhaps twice, and
    perhaps other keys, TensorFlow's or not."""
    junk = _json_values()
    addresses = st.lists(_ADDRESSES | _CLASHING_ADDRESSES | junk, max_size=3) | junk
    roles = st.sampled_from(["worker", "chief"]) | st.sampled_from(["ps"]) | st.text(max_size=5)
    cluster = st.dictionaries(roles, addresses, min_size=1, max_size=2) | junk
    task = (
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["worker", "chief"]) | junk,
                "index": st.integers(-1, 3) | junk,
            }
        )
        | junk
    )
    known = st.fixed_dictionaries(
        {"cluster": cluster, "task": task},
        optional={
            "rpc_layer": st.sampled_from(["grpc", "", "bogus", "grpc+verbs"]) | junk,
            "environment": junk,
            "session_master": junk,
        },
    )
    unknown = st.dictionaries(
        st.sampled_from(["rpc", "clusters"]) | st.text(max_size=5), junk, max_size=2
    )
    return st.tuples(known, unknown).map(lambda pair: pair[0] | pair[1]) | junk


def _assert_usable(config: dict) -> None:
    """What TensorFlow needs of an accepted TF_CONFIG, by its rules (multi_worker_util
    `_validate_cluster_spec`) and where it crashes or fails later: only keys it reads, its one
    rpc_layer ("grpc", or empty for it); workers and at most one chief, no empty list, each task
    at its own "host:port"; the task at one of them."""
    keys = {"cluster", "task", "rpc_layer", "environment", "session_master"}
    assert set(config) <= keys and config.get("rpc_layer") in (None, "", "grpc"), config
    cluster = config["cluster"]
    assert "chief" not in cluster or len(cluster["chief"]) == 1, config
    seen = []
    for kind, addresses in cluster.items():
        assert kind in ("worker", "chief") and isinstance(addresses, list) and addresses, config
        for address in addresses:
            host, _, port = address.rpartition(":")
            assert host and port.isdigit() and 1 <= int(port) <= 65535, config
        seen += [address.lower() for address in addresses]
    assert len(set(seen)) == len(seen), config
    kind, index = config["task"]["type"], config["task"]["index"]
    assert type(index) is int and 0 <= index < len(cluster[kind]), config


def _marked_tf_configs():
    """A well-formed TF_CONFIG, marked True, or a changed one or any structure, marked False."""
    return _well_formed_tf_config().map(lambda c: (c, True)) | (
        _changed_tf_config() | _tf_config_structures()
    ).map(lambda c: (c, False))


def _check_tf_config_reading(config: tuple[object, bool], text: str | None) -> None:
    """Any TF_CONFIG, as JSON of any structure or as any text: accepted and usable, or refused in
    one line; a well-formed one is accepted."""
    structure, well_formed = config
    source = json.dumps(structure) if text is None else text
    try:
        accepted = distribution.read_tf_config({"TF_CONFIG": source})
    except PipelineError as error:
        assert "\n" not in str(error)
        assert not (well_formed and text is None), error
        return
    assert accepted == json.loads(source)
    _assert_usable(accepted)


@FUZZ
@given(config=_marked_tf_configs(), text=st.none() | st.text(max_size=200))
def test_tf_config_reader_raises_only_pipeline_error(config, text):
    _check_tf_config_reading(config, text)


@pytest.mark.slow
@settings(max_examples=3_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=_marked_tf_configs(), text=st.none() | st.text(max_size=200))
def test_tf_config_reader_on_many_configs_raises_only_pipeline_error(config, text):
    _check_tf_config_reading(config, text)


Image.init()  # registers every format Pillow has a plugin for
# The modes tried, in order, for a format's writer: the first it accepts is used.
WRITER_MODES = ("RGB", "L", "RGBA", "1", "P")


@functools.cache
def _saved_image(image_format: str) -> bytes | None:
    """The garment picture of tests/helpers/image_seeds.py as Pillow writes it in
    `image_format`, or None if Pillow cannot write that format here (a stub with no handler)."""
    picture = Image.fromarray(image_seeds.garment())
    for mode in WRITER_MODES:
        buffer = io.BytesIO()
        try:
            with warnings.catch_warnings(action="ignore", category=DeprecationWarning):  # IM
                picture.convert(mode).save(buffer, format=image_format)
        except (OSError, ValueError, KeyError):  # this writer takes another mode, or none here
            continue
        return buffer.getvalue()
    return None


def _mutations():
    """Up to 4 edits of a file's bytes: flip bits of one byte, cut the file, insert bytes. A
    position is taken modulo the length of the bytes it edits."""
    position = st.integers(0, 2**16)
    return st.lists(
        st.one_of(
            st.tuples(st.just("flip"), position, st.integers(1, 255)),
            st.tuples(st.just("cut"), position),
            st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=8)),
        ),
        min_size=1,
        max_size=4,
    )


def _mutate(data: bytes, edits: list[tuple]) -> bytes:
    mutated = bytearray(data)
    for kind, position, *argument in edits:
        at = position % (len(mutated) + 1)
        if kind == "flip" and at < len(mutated):
            mutated[at] ^= argument[0]
        elif kind == "cut":
            del mutated[at:]
        elif kind == "insert":
            mutated[at:at] = argument[0]
    return bytes(mutated)


# Every format Pillow can write here: BUFR, GRIB, HDF5 and WMF are stubs without a save handler.
SAVABLE = [name for name in sorted(Image.SAVE) if _saved_image(name) is not None]
# Every format Pillow reads but cannot write, from a file built by tests/helpers/image_seeds.py.
# Two are fuzzed only in part: Pillow reads only an MPEG's header (it never decodes a picture, so
# every MPEG ends in ImageError), and a PCD is 768 KiB, of which the edits reach the first 64.
READ_ONLY = sorted(image_seeds.READ_ONLY)


@functools.cache
def _seed(image_format: str) -> bytes:
    """The file whose bytes the fuzz edits: the garment picture in `image_format`."""
    if image_format in image_seeds.READ_ONLY:
        return image_seeds.READ_ONLY[image_format](image_seeds.garment())
    return _saved_image(image_format)


def test_every_format_pillow_reads_but_cannot_write_has_a_seed():
    assert set(Image.OPEN) - set(Image.SAVE) == set(READ_ONLY)


@pytest.mark.parametrize("image_format", READ_ONLY)
def test_read_only_seed_is_read_as_its_format_and_converted(tmp_path, image_format):
    """Each hand-built seed is taken by Pillow for its format and, as tools.classify reads it,
    gives the picture's own conversion; an MPEG, of which Pillow reads only the header, is
    refused with ImageError."""
    path = tmp_path / "seed"
    path.write_bytes(_seed(image_format))
    with Image.open(path) as image:
        assert image.format.upper() == image_format
    if image_format == "MPEG":
        with pytest.raises(images.ImageError, match="cannot load this image"):
            images.open_image(path)
        return
    expected = images.to_fashion_mnist(Image.fromarray(image_seeds.garment()))
    converted = images.to_fashion_mnist(images.open_image(path))
    assert np.abs(converted.astype(int) - expected).max() <= 1


def pillow_notes_ignored(test):
    """Pillow's own notes on what it reads, which are not failures: IM is deprecated, a corrupt
    TIFF tag is skipped, a header declares a huge image (which open_image then refuses)."""
    test = pytest.mark.filterwarnings("ignore:IM image format is deprecated")(test)
    test = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")(test)
    return pytest.mark.filterwarnings("ignore::UserWarning")(test)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """Where each example's file is written; images over 1 megapixel are refused, so that an edit
    of the size in a header does not make an example decode and convert 50 megapixels."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(images, "MAX_PIXELS", 1_000_000)
        yield tmp_path_factory.mktemp("fuzz-images")


def _check_reading(folder, image_format: str, edits: list[tuple]) -> None:
    """Write the mutated file and read it as tools.classify does: a (28, 28) uint8 image, or
    ImageError (one line naming the problem); any other exception fails the test."""
    path = folder / f"image.{image_format.lower()}"
    path.write_bytes(_mutate(_seed(image_format), edits))
    try:
        converted = images.to_fashion_mnist(images.open_image(path))
    except images.ImageError as error:
        assert "\n" not in str(error)
        return
    assert converted.dtype == np.uint8 and converted.shape == (28, 28)


@pillow_notes_ignored
@pytest.mark.parametrize("image_format", SAVABLE + READ_ONLY)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=_mutations())
# What the long run found, kept for every format: Pillow raised RuntimeError for this AVIF (its
# primary image's id changed), NotImplementedError for this DDS (its pixel format flags shifted),
# BLPFormatError for this BLP (its compression changed), IndexError for this IPTC (a byte left
# over after its last field) and OverflowError for this McIDAS (its band count made 2**25 + 1).
@example(edits=[("flip", 89, 1)])
@example(edits=[("insert", 5, b"\x00")])
@example(edits=[("flip", 4, 1)])
@example(edits=[("insert", 32, b"w")])
@example(edits=[("flip", 52, 2)])
def test_image_reader_on_mutated_files_raises_only_image_error(image_folder, image_format, edits):
    _check_reading(image_folder, image_format, edits)


@pytest.mark.slow
@pillow_notes_ignored
@pytest.mark.parametrize("image_format", SAVABLE + READ_ONLY)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=_mutations())
def test_image_reader_on_many_mutated_files_raises_only_image_error(
    image_folder, image_format, edits
):
    _check_reading(image_folder, image_format, edits)

"""Property tests: whatever bytes, YAML or JSON come in, the IDX reader, the params loader and the
TF_CONFIG reader either
succeed or raise our own clear error type, never anything else."""

import contextlib
import json
import struct

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.shared import idx, params
from stages.shared.errors import DataError, ParamsError, PipelineError
from stages.train import distribution
from tests.helpers.project import committed_params
from tools import params_reference

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
    for section in params_reference.SECTIONS:
        with contextlib.suppress(ParamsError):
            params.load(path, section)


@FUZZ
@given(
    section=st.sampled_from(params_reference.SECTIONS),
    key=st.sampled_from(["epochs", "val_size", "sources", "count", "early_stopping", "x"]),
    value=_yaml_values(),
)
def test_params_loader_on_random_values_raises_only_params_error(
    tmp_path_factory, section, key, value
):
    document = committed_params()
    document[section.__name__.lower()][key] = value
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


@st.composite
def _well_formed_tf_config(draw) -> dict:
    """A cluster of 1–3 workers and perhaps a chief, and a task in it."""
    cluster = {"worker": draw(st.lists(_ADDRESSES, min_size=1, max_size=3))}
    if draw(st.booleans()):
        cluster["chief"] = [draw(_ADDRESSES)]
    kind = draw(st.sampled_from(sorted(cluster)))
    return {
        "cluster": cluster,
        "task": {"type": kind, "index": draw(st.integers(0, 3)) % len(cluster[kind])},
    }


def _tf_config_structures():
    """TF_CONFIG's shape with any piece replaced by something else."""
    junk = _json_values()
    addresses = st.lists(_ADDRESSES | junk, min_size=1, max_size=3) | junk
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
    return st.fixed_dictionaries({"cluster": cluster, "task": task}) | junk


def _assert_usable(config: dict) -> None:
    """What TensorFlow needs of an accepted TF_CONFIG: workers and a chief at "host:port"
    addresses, and a task at one of them."""
    for kind, addresses in config["cluster"].items():
        assert kind in ("worker", "chief") and isinstance(addresses, list), config
        for address in addresses:
            host, _, port = address.rpartition(":")
            assert host and port.isdigit() and 1 <= int(port) <= 65535, config
    kind, index = config["task"]["type"], config["task"]["index"]
    assert type(index) is int and 0 <= index < len(config["cluster"][kind]), config


@FUZZ
@given(
    config=_well_formed_tf_config().map(lambda c: (c, True))
    | _tf_config_structures().map(lambda c: (c, False)),
    text=st.none() | st.text(max_size=200),
)
def test_tf_config_reader_raises_only_pipeline_error(config, text):
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

"""Property tests: whatever bytes or YAML come in, the IDX reader and the params loader either
succeed or raise our own clear error type, never anything else."""

import contextlib
import struct

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.shared import idx, params
from stages.shared.errors import DataError, ParamsError
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

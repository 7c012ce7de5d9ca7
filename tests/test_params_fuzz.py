"""Property tests of the params loader, key by key: any value at any key of any section, out of
range or of the wrong type, is refused with one ParamsError line that starts with the file and
`section.key` (or, for a rule between two keys, the other key, naming this one), or accepted;
and what is accepted has a real range: no integer of 32 bits or more, no number beyond
float32's."""

import copy
import math
from typing import get_args, get_origin

import pydantic
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stages.preprocess.settings import Preprocess
from stages.shared import params
from stages.shared.errors import ParamsError
from tests.helpers.project import committed_dataset, committed_params, write_yaml
from tools import params_reference

FLOAT32_MAX = 3.4028234663852886e38


def _keys(model: type[pydantic.BaseModel], prefix: str, committed: dict) -> list[str]:
    """Every dotted key of `model` under `prefix`: each field, the fields of a nested section, and
    each key of a mapping (dataset.sha256's files)."""
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}"
        keys.append(key)
        if isinstance(field.annotation, type) and issubclass(field.annotation, params.Section):
            keys += _keys(field.annotation, key, committed[name])
        elif isinstance(committed.get(name), dict):
            keys += [f"{key}.{inner}" for inner in committed[name]]
    return keys


COMMITTED = committed_params()
DATASET = committed_dataset()
# Each section's committed file, with its name: params.yaml's five, and dataset.yaml's.
FILES = {
    **{section: (COMMITTED, "params.yaml") for section in params_reference.SECTIONS},
    **{section: (DATASET, "dataset.yaml") for section in params_reference.DATASET},
}
KEYS = [
    (section, key)
    for section, (document, _) in FILES.items()
    for key in _keys(section, section.section, document[section.section])
]

HUGE = [2**31, 2**32, 2**63, 2**64, 10**30, -(2**63), -1, 0]
_numbers = (
    st.integers()
    | st.sampled_from(HUGE)
    | st.floats()
    | st.sampled_from([math.nan, math.inf, -math.inf, 1e308, 3.5e38, -1e-300])
)
_scalars = _numbers | st.text(max_size=10) | st.none() | st.booleans()
BAD_VALUES = (
    _scalars
    | st.lists(_scalars, max_size=4)
    | st.lists(st.integers(1, 4), min_size=30, max_size=40)  # too many layers
    | st.dictionaries(st.text(max_size=5), _scalars, max_size=3)
)


def _with(document: dict, key: str, value: object) -> dict:
    """A copy of `document` with the dotted `key` set to `value`."""
    document = copy.deepcopy(document)
    *parents, last = key.split(".")
    node = document
    for part in parents:
        node = node[part]
    node[last] = value
    return document


def _numbers_in(value: object) -> list:
    """Every int (not bool) and float in a model's dump, however nested."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers_in(v)]
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return [value] if is_number else []


def _check_any_value_at_any_key(tmp_path_factory, section_key, value) -> None:
    section, key = section_key
    document, name = FILES[section]
    path = write_yaml(tmp_path_factory.mktemp("fuzz") / name, _with(document, key, value))
    try:
        loaded = params.load(path, section)
    except ParamsError as error:
        message = str(error)
        # A rule between two keys starts with the one it checks and names the other.
        head = f"{path}: {section.section}."
        assert message.startswith(f"{path}: {key}") or (
            message.startswith(head) and key in message[len(head) :]
        ), message
        assert "\n" not in message, message
        return
    for number in _numbers_in(loaded.model_dump()):
        assert abs(number) < (2**32 if isinstance(number, int) else FLOAT32_MAX), (key, number)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(section_key=st.sampled_from(KEYS), value=BAD_VALUES)
@example(section_key=(Preprocess, "preprocess.subset"), value=2)  # 20 images, val_size 5,000
def test_any_value_at_any_key_is_refused_in_one_line_or_in_range(
    tmp_path_factory, section_key, value
):
    _check_any_value_at_any_key(tmp_path_factory, section_key, value)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(section_key=st.sampled_from(KEYS), value=BAD_VALUES)
def test_any_value_at_any_key_is_refused_in_one_line_or_in_range_long(
    tmp_path_factory, section_key, value
):
    _check_any_value_at_any_key(tmp_path_factory, section_key, value)


def _takes_int(hint: object) -> bool:
    return hint is int or any(_takes_int(arg) for arg in get_args(hint))


def _field(section: type[pydantic.BaseModel], key: str) -> object:
    """The field that holds the dotted `key`; None for a key of a mapping (dataset.sha256's)."""
    model, field = section, None
    for part in key.split(".")[1:]:
        if not hasattr(model, "model_fields"):
            return None
        field = model.model_fields[part]
        model = field.annotation
    return field


INT_KEYS = [
    (section, key)
    for section, key in KEYS
    if _takes_int(getattr(_field(section, key), "annotation", None))
]


@pytest.mark.parametrize(("section", "key"), INT_KEYS, ids=[key for _, key in INT_KEYS])
def test_every_integer_key_has_a_real_range(tmp_path, section, key):
    """2**32 (or a list holding it) is refused at every key that takes an integer."""
    list_of = get_origin(_field(section, key).annotation) is list
    document, name = FILES[section]
    path = write_yaml(tmp_path / name, _with(document, key, [2**32] if list_of else 2**32))
    with pytest.raises(ParamsError) as error:
        params.load(path, section)
    assert str(error.value).startswith(f"{path}: {key}") and "\n" not in str(error.value)

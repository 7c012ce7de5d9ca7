"""params.yaml, read as DVC reads it, into a stage's settings model: the shared machinery.

Each stage's section is a pydantic model in its own folder (`stages/<stage>/settings.py`): strict
types, unknown keys refused, frozen, each field with its description and limits. This module reads
the file with ruamel.yaml set up exactly as DVC sets it up (`dvc.utils.serialize.parse_yaml`: YAML
1.2, duplicate keys refused), so a stage runs with the values that `dvc.lock` and
`dvc params diff` record (tests/test_params_dialect.py proves it against DVC), and turns every
validation error into one line: `section.key`, the value, and what it must be."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, get_args, get_origin

import annotated_types
import pydantic
from pydantic_core import PydanticCustomError

from stages.shared import record
from stages.shared.errors import ParamsError

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

# YAML 1.1 (PyYAML, older tools) reads these as booleans; YAML 1.2, which DVC reads, as strings.
_YAML11_BOOLEANS = {"yes": True, "on": True, "y": True, "no": False, "off": False, "n": False}
# YAML 1.1 reads 1:30 as the base-60 number 90; YAML 1.2 as a string.
_YAML11_SEXAGESIMAL = re.compile(r"[-+]?\d+(:[0-5]?\d)+")

S = TypeVar("S", bound="Section")


@dataclasses.dataclass(frozen=True)
class Unit:
    """What a number counts, for its error and its docs ("a rate", "epochs"); the limits follow."""

    text: str


@dataclasses.dataclass(frozen=True)
class Allowed:
    """What a value must be, in words, where the type and limits do not say it alone (a list's
    items, a union): used instead of the unit and limits."""

    text: str


class Section(pydantic.BaseModel):
    """One section of params.yaml (its name: the class name, lower case)."""

    model_config = pydantic.ConfigDict(
        strict=True, frozen=True, extra="forbid", allow_inf_nan=False
    )
    section: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.section = cls.__name__.lower()


def rule(ok: bool, key: str, allowed: str) -> None:
    """A cross-field rule of a model validator: if not `ok`, `key` (of the model being validated,
    dotted; "sources.1" for a list's item) must be `allowed`."""
    if not ok:
        raise PydanticCustomError(
            "rule", "{key} must be {allowed}", {"key": key, "allowed": allowed}
        )


def limits_text(field: FieldInfo) -> str:
    """A field's limits in words: "≥ 1", "in [0, 1)", "> 0"…"""
    bounds = {type(m): m for m in field.metadata if isinstance(m, annotated_types.BaseMetadata)}
    low = bounds.get(annotated_types.Ge) or bounds.get(annotated_types.Gt)
    high = bounds.get(annotated_types.Le) or bounds.get(annotated_types.Lt)
    low_value = getattr(low, "ge", getattr(low, "gt", None))
    high_value = getattr(high, "le", getattr(high, "lt", None))
    if low is not None and high is not None:
        left = "[" if isinstance(low, annotated_types.Ge) else "("
        right = "]" if isinstance(high, annotated_types.Le) else ")"
        return f"in {left}{_number(low_value)}, {_number(high_value)}{right}"
    if low is not None:
        return f"{'≥' if isinstance(low, annotated_types.Ge) else '>'} {_number(low_value)}"
    if high is not None:
        return f"{'≤' if isinstance(high, annotated_types.Le) else '<'} {_number(high_value)}"
    return ""


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def allowed_text(field: FieldInfo) -> str:
    """What a field's value must be, in words: its Allowed text, or its unit and limits."""
    for marker in field.metadata:
        if isinstance(marker, Allowed):
            return marker.text
    unit = next((m.text for m in field.metadata if isinstance(m, Unit)), "")
    if not unit and field.annotation is int:
        unit = "an integer"
    return " ".join(part for part in (unit, limits_text(field)) if part)


def type_name(hint: object) -> str:
    """A type as a params.yaml user reads it: "int", "one of sgd, adam", "int or null"…"""
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(map(str, get_args(hint)))
    if hint is type(None):
        return "null"
    if isinstance(hint, type) and issubclass(hint, pydantic.BaseModel):
        return "a mapping"
    if get_args(hint) and get_origin(hint) not in (list, dict):  # a union, or Annotated
        names = [type_name(arg) for arg in get_args(hint) if not _is_marker(arg)]
        return " or ".join(names)
    origin = get_origin(hint)
    return getattr(origin or hint, "__name__", str(hint))


def _is_marker(arg: object) -> bool:
    return not isinstance(arg, type) and get_origin(arg) is None and arg is not type(None)


def _yaml11_hint(value: object, hint: object) -> str:
    """For a string that YAML 1.1 would have read as a boolean or a number: its 1.2 spelling."""
    if not isinstance(value, str):
        return ""
    if hint is bool and value.lower() in _YAML11_BOOLEANS:
        spelling = str(_YAML11_BOOLEANS[value.lower()]).lower()
    elif hint in (int, float) and _YAML11_SEXAGESIMAL.fullmatch(value):
        sign = -1 if value.startswith("-") else 1
        parts = value.lstrip("+-").split(":")
        spelling = str(sign * sum(int(d) * 60**i for i, d in enumerate(reversed(parts))))
    else:
        return ""
    return f"; YAML 1.2, which DVC reads, makes {value} a string: write {spelling}"


@dataclasses.dataclass
class _Place:
    """Where an error points, resolved against the models: its dotted key, the field that holds
    it (None inside a mapping of free keys), the value found there, and whether it is a list's
    item."""

    key: str
    field: FieldInfo | None
    value: object
    in_list: bool = False


def _place(model: type[pydantic.BaseModel], loc: tuple, raw: object) -> _Place:
    """Follow pydantic's `loc` through `model` and the raw document `raw`; union branch tags
    (`int`, `float`…) in `loc` are skipped."""
    key, field, value, in_list = model.section, None, raw, False
    for part in loc:
        fields = model.model_fields if model is not None else {}
        if isinstance(part, int):
            key, in_list = f"{key}[{part}]", True
            value = value[part] if isinstance(value, list) and part < len(value) else None
        elif part in fields and not in_list:
            key, field = f"{key}.{part}", fields[part]
            value = value.get(part) if isinstance(value, dict) else None
            inner = field.annotation
            model = (
                inner
                if isinstance(inner, type) and issubclass(inner, pydantic.BaseModel)
                else None
            )
        elif field is not None and get_origin(field.annotation) is dict:
            key = f"{key}.{part}"
            value = value.get(part) if isinstance(value, dict) else None
        # else: a union's branch tag
    return _Place(key, field, value, in_list)


def _shown(value: object, field: FieldInfo | None) -> str:
    """`value` as the error shows it: an int given for a float field as the float it becomes."""
    if field is not None and field.annotation is float and type(value) is int:
        with contextlib.suppress(OverflowError):  # past float's range: shown as the int
            value = float(value)
    return _repr(value)


def _repr(value: object) -> str:
    """repr(value), or what it is where Python will not print it: an int of more digits than
    `sys.get_int_max_str_digits()` (a 0x… literal is read whatever its length)."""
    try:
        return repr(value)
    except ValueError:
        if isinstance(value, int):
            return f"<an integer of {len(hex(abs(value))) - 2:,} hex digits>"
        return "<a value holding an integer too long to print>"


_CONSTRAINTS = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "too_short",
    "too_long",
    "string_pattern_mismatch",
}


def _message(model: type[Section], error: dict, raw: dict) -> str:
    """One pydantic error as one line: `section.key=value: what it must be`."""
    kind, loc = error["type"], error["loc"]
    if kind == "rule":
        # the rule's key, dotted; a list's item by its index ("sources.1")
        parts = [int(p) if p.isdigit() else p for p in error["ctx"]["key"].split(".")]
        place = _place(model, (*loc, *parts), raw)
        return f"{place.key}={_shown(place.value, place.field)}: must be {error['ctx']['allowed']}"
    place = _place(model, loc, raw)
    if kind == "extra_forbidden":
        names = ", ".join(_model_at(model, loc[:-1]).model_fields)
        key = f"{_place(model, loc[:-1], raw).key}.{loc[-1]}"
        return f"{key}: unknown key (allowed: {names}); a typo?"
    if kind == "missing":
        return f"{place.key}: missing; add it ({type_name(place.field.annotation)})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{place.key}: expected a mapping of keys, got {_repr(place.value)}"
    if kind in _CONSTRAINTS and place.field is not None:
        whole = _place(model, loc[: _field_depth(loc)], raw) if place.in_list else place
        return (
            f"{whole.key}={_shown(whole.value, whole.field)}: must be {allowed_text(place.field)}"
        )
    if kind == "finite_number":
        return f"{place.key}={_repr(place.value)}: expected a finite number"
    hint = place.field.annotation if place.field is not None and not place.in_list else None
    if place.in_list and place.field is not None:
        hint = _item_type(place.field.annotation)
    if kind == "literal_error" and all(isinstance(v, int) for v in get_args(hint) or [None]):
        choices = [str(v) for v in get_args(hint)]
        return (
            f"{place.key}={_repr(place.value)}: must be {', '.join(choices[:-1])} or {choices[-1]}"
        )
    expected = type_name(hint) if hint is not None else error["msg"].lower()
    return (
        f"{place.key}={_repr(place.value)}: expected {expected}{_yaml11_hint(place.value, hint)}"
    )


def _model_at(model: type[pydantic.BaseModel], loc: tuple) -> type[pydantic.BaseModel]:
    """The model of the mapping that `loc` names (a section, or a mapping inside it)."""
    for part in loc:
        model = model.model_fields[part].annotation
    return model


def _field_depth(loc: tuple) -> int:
    """How many parts of `loc` lead to the list whose item it names."""
    return next(i for i, part in enumerate(loc) if isinstance(part, int))


def _item_type(hint: object) -> object:
    (item,) = get_args(hint)
    return get_args(item)[0] if get_args(item) and get_origin(item) is not Literal else item


def _first(errors: list[dict]) -> dict:
    """The error to report: an unknown key first (a typo also leaves its key missing), then a
    missing key, then the first in the file's order; of a union's branches, a failed limit."""
    order = {"extra_forbidden": 0, "missing": 1}
    errors = sorted(errors, key=lambda e: order.get(e["type"], 2))
    first = errors[0]
    same_field = [e for e in errors if e["loc"][:1] == first["loc"][:1]]
    return next((e for e in same_field if e["type"] in _CONSTRAINTS), first)


def validate(model: type[S], raw: object) -> S:
    """`raw` (a section's mapping) as a `model`; ParamsError naming `section.key`, the value and
    what it must be."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{model.section}: expected a mapping of keys, got {_repr(raw)}")
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as error:
        raise ParamsError(_message(model, _first(error.errors()), raw)) from None


def _yaml_problem(error: BaseException) -> str:
    """ruamel.yaml's complaint in one line, with the line number; the fix for duplicate keys."""
    problem = getattr(error, "problem", None) or str(error)
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    if "duplicate key" in problem:
        return f"{problem.split(' with value')[0]}{where}; keep one: DVC refuses the file"
    return f"not valid YAML ({problem}{where}); fix the syntax"


def _long_integer(text: str, error: ValueError) -> str:
    """Python's refusal of a long decimal integer (one of more digits than
    `sys.get_int_max_str_digits()`) in one line, with the integer's place."""
    limit = sys.get_int_max_str_digits()
    for match in re.finditer(r"\d[\d_]*", text):
        digits = len(match.group().replace("_", ""))
        if digits > limit:
            line = text.count("\n", 0, match.start()) + 1
            return (
                f"an integer of {digits:,} digits at line {line}, more than the {limit:,} that "
                "Python reads; no param is that large: fix that value"
            )
    return f"not a value Python reads ({error}); fix that value"


def read_yaml(path: Path) -> object:
    """The YAML document at `path`, parsed as DVC parses params files (ruamel.yaml, typ "safe",
    an empty file as {}); ParamsError if it cannot be read or parsed."""
    from ruamel.yaml import YAML, YAMLError  # here: `import` of this module stays cheap

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ParamsError(f"{path}: cannot read ({error.strerror})") from error
    except UnicodeDecodeError as error:
        raise ParamsError(f"{path}: not UTF-8 text ({error.reason})") from error
    try:
        return YAML(typ="safe").load(text) or {}
    except YAMLError as error:
        raise ParamsError(f"{path}: {_yaml_problem(error)}") from error
    except RecursionError:
        raise ParamsError(
            f"{path}: a value nested too deeply to read (hundreds of lists or mappings, "
            "one inside the other); no param nests more than a few: fix that value"
        ) from None
    except ValueError as error:  # int() of more digits than sys.get_int_max_str_digits()
        raise ParamsError(f"{path}: {_long_integer(text, error)}") from None


def load(path: Path, model: type[S]) -> S:
    """The section of the params file at `path` that `model` describes; ParamsError, naming the
    file, if it is missing or invalid."""
    document = read_yaml(path)
    if not isinstance(document, dict) or model.section not in document:
        raise ParamsError(
            f"{path}: no `{model.section}:` section; every stage reads its own section"
        )
    try:
        settings = validate(model, document[model.section])
    except ParamsError as error:
        raise ParamsError(f"{path}: {error}") from None
    record.note_section(path, model.section, document[model.section], read_yaml)
    return settings

"""params.yaml: one frozen dataclass per stage section, loaded strictly (no defaults, no extra).

The file is parsed by DVC's own YAML parser (YAML 1.2, duplicate keys refused), so a stage runs
with exactly the values that `dvc.lock` and `dvc params diff` record."""

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Literal, TypeVar

from dvc.utils.serialize import YAMLFileCorruptedError, parse_yaml

from stages import dataset
from stages.errors import ParamsError

# YAML 1.1 (PyYAML, older tools) reads these as booleans; YAML 1.2, which DVC reads, as strings.
_YAML11_BOOLEANS = {"yes": True, "on": True, "y": True, "no": False, "off": False, "n": False}
# YAML 1.1 reads 1:30 as the base-60 number 90; YAML 1.2 as a string.
_YAML11_SEXAGESIMAL = re.compile(r"[-+]?\d+(:[0-5]?\d)+")
MAX_TIMEOUT = 3600

T = TypeVar("T")

Monitor = Literal["loss", "accuracy", "val_loss", "val_accuracy"]


class _Invalid(Exception):
    """A value out of range; the loader adds the section.key and the value to the message."""

    def __init__(self, key: str, allowed: str) -> None:
        super().__init__(key, allowed)
        self.key, self.allowed = key, allowed


def _require(ok: bool, key: str, allowed: str) -> None:
    if not ok:
        raise _Invalid(key, allowed)


@dataclasses.dataclass(frozen=True)
class Download:
    sources: list[str]
    sha256: dict[str, str]
    timeout: float

    def __post_init__(self) -> None:
        _require(len(self.sources) > 0, "sources", "at least one directory or http(s) URL")
        _require(
            sorted(self.sha256) == sorted(dataset.RAW_FILES),
            "sha256",
            f"exactly the keys {', '.join(dataset.RAW_FILES)}",
        )
        for name, digest in self.sha256.items():
            _require(
                bool(re.fullmatch(r"[0-9a-f]{64}", digest)),
                f"sha256.{name}",
                "64 hex digits",
            )
        _require(0 < self.timeout <= MAX_TIMEOUT, "timeout", f"seconds in (0, {MAX_TIMEOUT}]")


@dataclasses.dataclass(frozen=True)
class Preprocess:
    val_strategy: Literal["head", "stratified"]
    val_size: int | float
    subset: int | None
    seed: int

    def __post_init__(self) -> None:
        if isinstance(self.val_size, int):
            _require(self.val_size >= 1, "val_size", "a count ≥ 1 or a fraction in (0, 1)")
        else:
            _require(0 < self.val_size < 1, "val_size", "a count ≥ 1 or a fraction in (0, 1)")
        _require(
            self.subset is None or self.subset >= 2,
            "subset",
            "null or images per class ≥ 2",
        )


@dataclasses.dataclass(frozen=True)
class EarlyStopping:
    enabled: bool
    monitor: Monitor
    patience: int
    restore_best_weights: bool

    def __post_init__(self) -> None:
        _require(self.patience >= 0, "patience", "epochs ≥ 0")


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    enabled: bool
    monitor: Monitor


@dataclasses.dataclass(frozen=True)
class Plateau:
    factor: float
    patience: int

    def __post_init__(self) -> None:
        _require(0 < self.factor < 1, "factor", "a factor in (0, 1)")
        _require(self.patience >= 0, "patience", "epochs ≥ 0")


@dataclasses.dataclass(frozen=True)
class Augment:
    translation: float
    horizontal_flip: bool
    erasing: float

    def __post_init__(self) -> None:
        _require(0 <= self.translation < 0.5, "translation", "a fraction of the image in [0, 0.5)")
        _require(0 <= self.erasing <= 1, "erasing", "a probability in [0, 1]")

    @classmethod
    def none(cls) -> "Augment":
        """No augmentation: what the exported model holds."""
        return cls(translation=0.0, horizontal_flip=False, erasing=0.0)


@dataclasses.dataclass(frozen=True)
class Train:
    architecture: Literal["mlp", "cnn", "resnet"]
    conv_filters: list[int]
    convs_per_block: int
    residual_blocks: int
    head: Literal["flatten", "global_average"]
    kernel_size: int
    conv_padding: Literal["same", "valid"]
    conv_dropout: float
    hidden_units: list[int]
    activation: Literal["relu", "elu", "gelu", "selu", "sigmoid", "swish", "tanh"]
    dropout: float
    batch_norm: bool
    augment: Augment
    optimizer: Literal["sgd", "adam", "adamw"]
    learning_rate: float
    momentum: float
    nesterov: bool
    weight_decay: float
    schedule: Literal["constant", "cosine", "plateau"]
    warmup_epochs: int
    plateau: Plateau
    label_smoothing: float
    batch_size: int
    steps_per_execution: int
    distribution: Literal["none", "mirrored", "multi_worker"]
    cpu_replicas: int
    epochs: int
    early_stopping: EarlyStopping
    checkpoint: Checkpoint
    seed: int
    numerics: Literal["portable", "fastest"]

    def __post_init__(self) -> None:
        _require(len(self.conv_filters) > 0, "conv_filters", "at least one block")
        _require(all(n >= 1 for n in self.conv_filters), "conv_filters", "filters ≥ 1 per block")
        _require(self.convs_per_block >= 1, "convs_per_block", "an integer ≥ 1")
        _require(self.residual_blocks >= 1, "residual_blocks", "an integer ≥ 1")
        _require(self.kernel_size in (1, 3, 5, 7), "kernel_size", "1, 3, 5 or 7")
        _require(0 <= self.conv_dropout < 1, "conv_dropout", "a rate in [0, 1)")
        _require(all(n >= 1 for n in self.hidden_units), "hidden_units", "units ≥ 1 per layer")
        _require(0 <= self.dropout < 1, "dropout", "a rate in [0, 1)")
        _require(self.learning_rate > 0, "learning_rate", "a rate > 0")
        _require(0 <= self.momentum < 1, "momentum", "in [0, 1)")
        _require(self.weight_decay >= 0, "weight_decay", "≥ 0")
        _require(0 <= self.label_smoothing < 1, "label_smoothing", "in [0, 1)")
        _require(self.batch_size >= 1, "batch_size", "an integer ≥ 1")
        _require(self.steps_per_execution >= 1, "steps_per_execution", "an integer ≥ 1")
        _require(self.cpu_replicas >= 1, "cpu_replicas", "a device count ≥ 1")
        _require(
            not (self.activation == "gelu" and self.numerics == "fastest"),
            "activation",
            "another activation with train.numerics=fastest, or numerics portable: Keras' GELU "
            "runs Erfc there, which the ONNX export cannot express",
        )
        _require(self.epochs >= 1, "epochs", "an integer ≥ 1")
        _require(
            0 <= self.warmup_epochs < self.epochs, "warmup_epochs", "epochs in [0, train.epochs)"
        )
        _require(
            self.warmup_epochs == 0 or self.schedule == "cosine",
            "warmup_epochs",
            "0, or train.schedule: cosine (the warm-up leads into the cosine decay)",
        )
        _require(
            self.head == "flatten" or self.architecture != "mlp",
            "head",
            "flatten for train.architecture: mlp (it has no feature maps to average)",
        )
        if self.architecture == "resnet":
            _require(
                self.conv_padding == "same",
                "conv_padding",
                "same for train.architecture: resnet (a shortcut adds maps of equal size)",
            )
            # A stem at 28×28, then each stage after the first halves the size (stride 2).
            _require(
                len(self.conv_filters) <= 5, "conv_filters", "at most 5 stages (28 → 2 pixels)"
            )
        if self.architecture == "cnn":
            size, pools = 28, len(self.conv_filters)
            for _ in range(pools):
                size = (
                    size
                    - (self.kernel_size - 1)
                    * self.convs_per_block
                    * (self.conv_padding == "valid")
                ) // 2
            _require(size >= 1, "conv_filters", "few enough blocks to leave a 1×1 feature map")


@dataclasses.dataclass(frozen=True)
class Evaluate:
    batch_size: int
    samples: int

    def __post_init__(self) -> None:
        _require(self.batch_size >= 1, "batch_size", "an integer ≥ 1")
        _require(1 <= self.samples <= 100, "samples", "an image count in [1, 100]")


@dataclasses.dataclass(frozen=True)
class Predict:
    count: int

    def __post_init__(self) -> None:
        _require(1 <= self.count <= 100, "count", "an image count in [1, 100]")


SECTIONS = (Download, Preprocess, Train, Evaluate, Predict)


def _type_name(hint: object) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(hint)))
    if isinstance(hint, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in hint.__args__)
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _convert(value: object, hint: object, key: str) -> object:
    """Check `value` against the type `hint`; return it, with ints widened to float where asked."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is Literal:
        if value in args and not isinstance(value, bool):
            return value
    elif isinstance(hint, types.UnionType):
        for arg in args:  # in declaration order, so `int | float` keeps an int an int
            try:
                return _convert(value, arg, key)
            except ParamsError:
                continue
    elif origin is list and isinstance(value, list):
        return [_convert(item, args[0], f"{key}[{i}]") for i, item in enumerate(value)]
    elif origin is dict and isinstance(value, dict):
        return {
            _convert(k, args[0], key): _convert(v, args[1], f"{key}.{k}") for k, v in value.items()
        }
    elif hint is type(None) and value is None:
        return None
    elif hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ParamsError(f"{key}={value!r}: expected a finite number")
        return float(value)
    elif hint in (int, str, bool) and type(value) is hint:
        return value
    raise ParamsError(f"{key}={value!r}: expected {_type_name(hint)}{_yaml11_hint(value, hint)}")


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


def _build(cls: type, raw: object, section: str) -> object:
    """Build dataclass `cls` from the mapping `raw`, naming `section.key` in every error."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{section}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(raw) - set(hints))
    if unknown:
        raise ParamsError(
            f"{section}.{unknown[0]}: unknown key (allowed: {', '.join(hints)}); a typo?"
        )
    missing = [key for key in hints if key not in raw]
    if missing:
        raise ParamsError(
            f"{section}.{missing[0]}: missing; add it ({_type_name(hints[missing[0]])})"
        )
    values = {key: _convert(raw[key], hint, f"{section}.{key}") for key, hint in hints.items()}
    try:
        return cls(**values)
    except _Invalid as invalid:
        key = f"{section}.{invalid.key}"
        value = _lookup(values, invalid.key)
        raise ParamsError(f"{key}={value!r}: must be {invalid.allowed}") from None


def _yaml_problem(error: BaseException | None) -> str:
    """ruamel.yaml's complaint in one line, with the line number; the fix for duplicate keys."""
    problem = getattr(error, "problem", None) or str(error)
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    if "duplicate key" in problem:
        return f"{problem.split(' with value')[0]}{where}; keep one: DVC refuses the file"
    return f"not valid YAML ({problem}{where}); fix the syntax"


def _lookup(values: dict, dotted: str) -> object:
    for part in dotted.split("."):
        values = values[part] if isinstance(values, dict) else getattr(values, part)
    return values


def read_yaml(path: Path) -> object:
    """The YAML document at `path`, parsed as DVC parses params files; ParamsError if it cannot
    be read or parsed."""
    try:
        return parse_yaml(Path(path).read_text(encoding="utf-8"), str(path))
    except OSError as error:
        raise ParamsError(f"{path}: cannot read ({error.strerror})") from error
    except UnicodeDecodeError as error:
        raise ParamsError(f"{path}: not UTF-8 text ({error.reason})") from error
    except YAMLFileCorruptedError as error:
        raise ParamsError(f"{path}: {_yaml_problem(error.__cause__)}") from error


def load(path: Path, section: type[T]) -> T:
    """Read the section of the params file at `path` named after `section`; raise ParamsError."""
    name = section.__name__.lower()
    document = read_yaml(path)
    if not isinstance(document, dict) or name not in document:
        raise ParamsError(f"{path}: no `{name}:` section; every stage reads its own section")
    try:
        return _build(section, document[name], name)
    except ParamsError as error:
        raise ParamsError(f"{path}: {error}") from None

"""The saved model's contract: a Keras `.keras` file that takes uint8 images (n, 28, 28), outputs
one probability per class, and carries the names of those classes and the numerics mode it was
trained in (`train.numerics`) in a `fashion_mnist.json` member of its zip archive, so that they
travel with the weights. Loaded in Keras' safe mode (no arbitrary code), in its numerics mode,
and checked."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stages.shared import fashion_mnist
from stages.shared.errors import DataError
from stages.train import tensorflow_setup

if TYPE_CHECKING:
    import keras

MEMBER = "fashion_mnist.json"
_FIXED_DATE = "1980-01-01@00:00:00"  # Keras' format; the real date would change every save
_FIX = "run `dvc repro train`"


def normalise_bytes(path: Path) -> None:
    """Rewrite a `.keras` file that Keras has just written so that its bytes depend on the model
    alone: the zip entries get a fixed timestamp, Keras' `date_saved` a fixed value (loading reads
    neither) and the shared-object ids small numbers, so retraining with the same params gives
    the same file, and `dvc repro` the same dvc.lock (docs/reproducibility.md says on which
    CPUs)."""
    members = _read_archive(path)
    metadata = json.loads(members["metadata.json"])
    metadata["date_saved"] = _FIXED_DATE
    members["metadata.json"] = json.dumps(metadata).encode()
    config = json.loads(members["config.json"])
    members["config.json"] = json.dumps(_renumber_shared_objects(config, {})).encode()
    _write_archive(path, members)


def embed_facts(path: Path, class_names: Sequence[str], numerics: str) -> None:
    """Add to a `.keras` file the class names and the numerics mode (MEMBER), so that they travel
    with the weights."""
    members = _read_archive(path)
    facts = {"class_names": list(class_names), "numerics": numerics}
    members[MEMBER] = json.dumps(facts, indent=2).encode()
    _write_archive(path, members)


def _read_archive(path: Path) -> dict[str, bytes]:
    """The members of a zip archive by name, in name order."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in sorted(archive.namelist())}


def _write_archive(path: Path, members: dict[str, bytes]) -> None:
    """Write `members` as a zip archive, in their order, each entry with a fixed timestamp and
    mode: equal members give equal bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)


def _renumber_shared_objects(node: object, numbers: dict) -> object:
    """Replace Keras' `shared_object_id`s (Python object addresses, new in every process) by
    0, 1, 2… in order of appearance: the same objects stay shared, as loading needs."""
    if isinstance(node, dict):
        return {
            key: numbers.setdefault(value, len(numbers))
            if key == "shared_object_id"
            else _renumber_shared_objects(value, numbers)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_renumber_shared_objects(item, numbers) for item in node]
    return node


def _read_member(path: Path) -> dict:
    try:
        with zipfile.ZipFile(path) as archive:
            facts = json.loads(archive.read(MEMBER))
    except KeyError:
        raise DataError(
            f"{path}: carries no class names (not saved by the train stage); {_FIX}"
        ) from None
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise DataError(f"{path}: not a loadable Keras model ({error}); {_FIX}") from error
    if not isinstance(facts, dict):
        raise DataError(f"{path}: its {MEMBER} is not a JSON object; {_FIX}")
    return facts


def read_class_names(path: Path) -> list[str]:
    """The class names stored in a model file by `embed_facts`."""
    names = _read_member(path).get("class_names")
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise DataError(f"{path}: its {MEMBER} holds no list of class names; {_FIX}")
    return names


def read_numerics(path: Path) -> str:
    """The numerics mode stored in a model file by `embed_facts`: the one to compute with it in."""
    numerics = _read_member(path).get("numerics")
    modes = ", ".join(tensorflow_setup.NUMERICS_ENV)
    if numerics not in tensorflow_setup.NUMERICS_ENV:
        raise DataError(
            f"{path}: its {MEMBER} names no numerics mode ({modes}), found {numerics!r}; {_FIX}"
        )
    return numerics


def load(path: Path) -> keras.Model:
    """Load a model saved by the train stage, in the numerics mode it was trained in (before
    TensorFlow loads), and check its interface against this pipeline's: uint8 input
    (n, 28, 28), one output per class, the same class names in the same order."""
    if not path.is_file():
        raise DataError(f"{path}: missing; {_FIX}")
    names = read_class_names(path)
    if names != list(fashion_mnist.CLASS_NAMES):
        raise DataError(
            f"{path}: predicts the classes {names}, but this pipeline's are "
            f"{list(fashion_mnist.CLASS_NAMES)}; {_FIX}"
        )
    tensorflow_setup.set_numerics(read_numerics(path))
    keras = tensorflow_setup.import_keras()
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a loadable Keras model ({error}); {_FIX}") from error
    expected = ((None, *fashion_mnist.IMAGE_SHAPE), "uint8", (None, len(names)))
    found = (tuple(model.input_shape), model.inputs[0].dtype, tuple(model.output_shape))
    if found != expected:
        raise DataError(f"{path}: takes/gives {found}, expected {expected}; {_FIX}")
    return model

"""The saved model's contract: a Keras `.keras` file that takes uint8 images (n, 28, 28), outputs
one probability per class, and carries the names of those classes in a `fashion_mnist.json`
member of its zip archive, so that the names travel with the weights. Loaded in Keras' safe mode
(no arbitrary code), and checked."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stages import dataset, runtime
from stages.errors import DataError

if TYPE_CHECKING:
    import keras

MEMBER = "fashion_mnist.json"
_FIX = "run `dvc repro train`"


def add_class_names(path: Path, class_names: Sequence[str]) -> None:
    """Add the class names to a `.keras` file that Keras has just written."""
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(MEMBER, json.dumps({"class_names": list(class_names)}, indent=2))


def read_class_names(path: Path) -> list[str]:
    """The class names stored in a model file by `add_class_names`."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = json.loads(archive.read(MEMBER))["class_names"]
    except KeyError:
        raise DataError(
            f"{path}: carries no class names (not saved by the train stage); {_FIX}"
        ) from None
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise DataError(f"{path}: not a loadable Keras model ({error}); {_FIX}") from error
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise DataError(f"{path}: its {MEMBER} holds no list of class names; {_FIX}")
    return names


def load(path: Path) -> keras.Model:
    """Load a model saved by the train stage and check its interface against this pipeline's:
    uint8 input (n, 28, 28), one output per class, the same class names in the same order."""
    if not path.is_file():
        raise DataError(f"{path}: missing; {_FIX}")
    names = read_class_names(path)
    if names != list(dataset.CLASS_NAMES):
        raise DataError(
            f"{path}: predicts the classes {names}, but this pipeline's are "
            f"{list(dataset.CLASS_NAMES)}; {_FIX}"
        )
    keras = runtime.import_keras()
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a loadable Keras model ({error}); {_FIX}") from error
    expected = ((None, *dataset.IMAGE_SHAPE), "uint8", (None, len(names)))
    found = (tuple(model.input_shape), model.inputs[0].dtype, tuple(model.output_shape))
    if found != expected:
        raise DataError(f"{path}: takes/gives {found}, expected {expected}; {_FIX}")
    return model

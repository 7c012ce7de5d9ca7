"""This project's files as the tests read them: its root (REPO), dvc.yaml with its `${vars}`
filled in, the committed params and dataset file; and YAML and file trees written and compared by
the tests."""

import json
import string
from pathlib import Path

import yaml

from tools.project_copy import REPO


def load_pipeline() -> dict:
    """dvc.yaml with its `${vars}` filled in, as DVC reads it."""
    text = (REPO / "dvc.yaml").read_text()
    variables = {k: v for block in yaml.safe_load(text)["vars"] for k, v in block.items()}
    # DVC's `${name}` is string.Template's syntax; substitute() fails on an unknown name.
    return yaml.safe_load(string.Template(text).substitute(variables))


def committed_params() -> dict:
    with open(REPO / "params.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def committed_dataset() -> dict:
    """dataset.yaml: the real data set's sources and checksums. A test that runs download points
    it at the tiny data instead (tests/helpers/tiny.py's `tiny_dataset`)."""
    with open(REPO / "dataset.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def write_yaml(path: Path, document: dict) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(document, f, sort_keys=False)
    return path


def file_tree(root: Path) -> dict[str, bytes]:
    """Every file under `root`, by relative path, with its bytes: to compare before and after."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def apply_overrides(document: dict, overrides: dict) -> dict:
    """A copy of a params document with the dotted keys of `overrides` (a preset's, a frontier
    run's) set; KeyError naming a key that the document lacks."""
    document = json.loads(json.dumps(document))
    for dotted, value in overrides.items():
        *parents, last = dotted.split(".")
        node = document
        for part in parents:
            node = node[part]
        if last not in node:
            raise KeyError(f"key {dotted!r} is not in params.yaml")
        node[last] = value
    return document

"""Generate docs/layout.md's table "you change this file → these stages rerun" from the deps in
dvc.yaml, between its `<!-- rerun-table -->` markers (`python -m tools.generated` writes it;
tests/test_generated.py fails when it is stale); tests/test_pipeline.py checks its rows against a
real `dvc status`."""

from pathlib import Path

import yaml

from tools.generated import with_block
from tools.project_copy import REPO

LAYOUT = REPO / "docs" / "layout.md"
BLOCK = "rerun-table"


def code_deps(pipeline: dict) -> dict[str, list[str]]:
    """Each code path and the stages that depend on it: the stages' folders in the pipeline's
    order, then the shared modules by name."""
    found: dict[str, list[str]] = {}
    for stage, definition in pipeline["stages"].items():
        for dep in definition.get("deps", []):
            if dep.startswith("stages/"):
                found.setdefault(dep, []).append(stage)
    folders = [f"stages/{stage}" for stage in pipeline["stages"] if f"stages/{stage}" in found]
    return {path: found[path] for path in [*folders, *sorted(set(found) - set(folders))]}


def input_files(pipeline: dict) -> dict[str, list[str]]:
    """Each committed file that stages read and no stage writes (dataset.yaml), by its path from
    `vars`, and the stages that depend on it."""
    variables = {
        name: value for block in pipeline.get("vars", []) for name, value in block.items()
    }
    written = {
        next(iter(entry)) if isinstance(entry, dict) else entry
        for definition in pipeline["stages"].values()
        for kind in ("outs", "metrics", "plots")
        for entry in definition.get(kind, [])
    }
    found: dict[str, list[str]] = {}
    for stage, definition in pipeline["stages"].items():
        for dep in definition.get("deps", []):
            if not dep.startswith("stages/") and dep not in written:
                path = variables.get(dep.removeprefix("${").removesuffix("}"), dep)
                found.setdefault(path, []).append(stage)
    return found


def table(pipeline: dict) -> str:
    """The markdown table of `code_deps`, the stage folders first, then `input_files` and each
    stage's params section."""
    rows = ["| you change | `dvc repro` reruns |", "| --- | --- |"]
    for path, stages in code_deps(pipeline).items():
        shown = f"any file of `{path}/`" if not path.endswith(".py") else f"`{path}`"
        rows.append(f"| {shown} | {', '.join(stages)} |")
    for path, stages in input_files(pipeline).items():
        rows.append(f"| `{path}` | {', '.join(stages)} |")
    for stage in pipeline["stages"]:
        rows.append(f"| `params.yaml`'s `{stage}:` section | {stage} |")
    return "\n".join(rows)


def generated() -> dict[Path, str]:
    """docs/layout.md as dvc.yaml says it should be (`python -m tools.generated` writes it)."""
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    return {LAYOUT: with_block(LAYOUT.read_text(encoding="utf-8"), BLOCK, table(pipeline))}

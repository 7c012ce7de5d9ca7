"""Generate, from the stages' settings models, what documents params.yaml and dataset.yaml:
`params.schema.json` and `dataset.schema.json` (JSON Schemas that editors use to validate and
complete each file as it is typed) and `docs/params.md` (the reference of every key, with its
committed value). `python -m tools.generated` writes them; tests/test_generated.py fails when
any is stale."""

import json
from pathlib import Path
from typing import get_args, get_origin

import pydantic

from stages.download.settings import Dataset, Download
from stages.evaluate.settings import Evaluate
from stages.predict.settings import Predict
from stages.preprocess.settings import Preprocess
from stages.shared import params
from stages.train.settings import Train
from tools.project_copy import REPO

# params.yaml's sections, in the pipeline's order.
SECTIONS: tuple[type[params.Section], ...] = (Download, Preprocess, Train, Evaluate, Predict)
SCHEMA = REPO / "params.schema.json"
# dataset.yaml's one section: the data set's sources and checksums, which the download stage
# depends on as a file (not as params: `dvc exp show` would list a column for each).
DATASET: tuple[type[params.Section], ...] = (Dataset,)
DATASET_FILE = REPO / "dataset.yaml"
DATASET_SCHEMA = REPO / "dataset.schema.json"
REFERENCE = REPO / "docs" / "params.md"
SCHEMA_ID = "https://json-schema.org/draft/2020-12/schema"
DATASET_DOC = (
    "Not params: facts about the data set, not settings to tune. They are in `dataset.yaml`, "
    "which the download stage reads (`--dataset`) and depends on in dvc.yaml, so that a change "
    "reruns download and `dvc exp show` lists no column per source and checksum; editors check "
    "it with `dataset.schema.json`, which its first line names."
)
GENERATED_BY = (
    "Generated from stages/<stage>/settings.py by tools/params_reference.py (`make generate`)."
)


def schema(
    sections: tuple[type[params.Section], ...] = SECTIONS,
    title: str = "params.yaml of the Fashion-MNIST pipeline",
    description: str = "Every setting of the pipeline: one section per stage, named like the "
    "stage.",
) -> dict:
    """The JSON Schema of a file of `sections` (params.yaml's, by default): one property per
    section, each its model's schema, no other key."""
    definitions, properties = {}, {}
    for model in sections:
        found = model.model_json_schema(ref_template="#/$defs/{model}")
        definitions.update(found.pop("$defs", {}))
        properties[model.section] = found
    return {
        "$schema": SCHEMA_ID,
        "title": title,
        "description": f"{description} {GENERATED_BY}",
        "type": "object",
        "properties": properties,
        "required": [model.section for model in sections],
        "additionalProperties": False,
        **({"$defs": dict(sorted(definitions.items()))} if definitions else {}),
    }


def dataset_schema() -> dict:
    """The JSON Schema of dataset.yaml: its one `dataset` section."""
    return schema(
        DATASET,
        "dataset.yaml of the Fashion-MNIST pipeline",
        "Where the data set comes from and the SHA-256 of each of its files: the download "
        "stage's input (`--dataset`), a dependency in dvc.yaml, not a param.",
    )


def _rows(model: type[pydantic.BaseModel], prefix: str, committed: object) -> list[str]:
    """One table row per key of `model`, with its value in `committed` (the committed section);
    a nested section's keys follow its own row."""
    rows = []
    for name, field in model.model_fields.items():
        key, hint = f"{prefix}.{name}", field.annotation
        value = committed.get(name) if isinstance(committed, dict) else None
        nested = isinstance(hint, type) and issubclass(hint, pydantic.BaseModel)
        allowed = "a mapping, below" if nested else _allowed(field)
        text = field.description or (hint.__doc__ if nested else "") or ""
        description = " ".join(text.split()).replace("|", "\\|")
        shown = "" if nested else _shown(value)
        rows.append(f"| `{key}` | {allowed} | {shown} | {description} |")
        if nested:
            rows += _rows(hint, key, value)
    return rows


def _shown(value: object) -> str:
    """A committed value as the file spells it; a mapping (the checksums) by reference."""
    if isinstance(value, dict):
        return "(in dataset.yaml)"
    return f"`{value if isinstance(value, str) else json.dumps(value)}`"


def _allowed(field) -> str:
    """What a key takes, for the table: its choices, its type with its limits."""
    hint = field.annotation
    if get_origin(hint) is not None and get_origin(hint).__name__ == "Literal":
        return ", ".join(f"`{value}`" for value in get_args(hint))
    words = params.allowed_text(field).removeprefix("an integer").strip()
    kind = params.type_name(hint)
    return f"{kind}: {words}" if words else kind


def _section(model: type[params.Section], committed: dict, heading: str, doc: str) -> list[str]:
    """The lines of one section of docs/params.md: its heading, `doc`, and a row per key."""
    rows = _rows(model, model.section, committed.get(model.section))
    table = ["| key | takes | committed | meaning |", "| --- | --- | --- | --- |", *rows]
    return ["", f"## {heading}", "", " ".join(doc.split()), "", *table]


def reference() -> str:
    """docs/params.md: every key of params.yaml, by section, from the models, with the value that
    the committed params.yaml gives it; dataset.yaml's keys after the download section's."""
    lines = [
        "# params.yaml, key by key",
        "",
        "<!-- Generated from stages/<stage>/settings.py by tools/params_reference.py",
        "     (`make generate`); a test fails when it is stale: edit the models, not here. -->",
        "",
        "Every key is required, and no other key is accepted: a stage refuses a missing, unknown,",
        "mistyped or out-of-range value in one line naming `section.key`, the value and what it",
        "must be ([Failure modes](failure-modes.md)). Editors that speak the YAML language server",
        "(VS Code's YAML extension, for one) validate and complete params.yaml as it is typed,",
        "with `params.schema.json`, which the file's first line names. What each stage does with",
        "its section: [The pipeline](pipeline.md). Where the data comes from is not a setting:",
        "it is in `dataset.yaml`, [below](#datasetyaml).",
    ]
    committed = params.read_yaml(REPO / "params.yaml")
    dataset = params.read_yaml(DATASET_FILE)
    for model in SECTIONS:
        lines += _section(model, committed, model.section, model.__doc__ or "")
        if model is Download:
            (data,) = DATASET
            lines += _section(data, dataset, DATASET_FILE.name, f"{data.__doc__} {DATASET_DOC}")
    return "\n".join(lines) + "\n"


def generated() -> dict[Path, str]:
    """Each generated file and the text it should hold."""
    return {
        SCHEMA: _json(schema()),
        DATASET_SCHEMA: _json(dataset_schema()),
        REFERENCE: reference(),
    }


def _json(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

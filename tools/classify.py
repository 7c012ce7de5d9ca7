"""Classify your own images of clothes with the trained model.

    python -m tools.classify photo.jpg shoes/ --model data/model/model.onnx
    python -m tools.classify shoes/ --model data/model/model.onnx --format csv --output shoes.csv

Files of any size and colour, or folders of them, are converted to Fashion-MNIST's convention
(tools.images.to_fashion_mnist) and classified in batches. Prints a table (file, class,
confidence, top 3) or writes CSV/JSON. An unreadable file is reported and the others are still
classified; the exit code is then 1 (2 for a missing or unusable model, or results that cannot be
written)."""

import argparse
import contextlib
import csv
import io
import json
import logging
import os
import sys
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import tqdm

from stages.shared import artifacts, cli, fashion_mnist, onnx_model
from stages.shared.errors import DataError, PipelineError
from tools import images

if TYPE_CHECKING:
    from google.protobuf.message import Message  # onnx's protobuf classes

logger = logging.getLogger(__name__)

EXIT_SOME_FAILED = 1
KERAS_SUFFIXES = (".keras", ".h5")
MODEL_SUFFIXES = (".onnx", *KERAS_SUFFIXES)
_NAME_A_FILE = "name a regular file, or leave out --output to write to standard output"
COLUMNS = ["file", "predicted", "confidence", "top3", "error"]
# A CSV cell starting with one of these is a formula to a spreadsheet (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def top_classes(probabilities: np.ndarray, k: int = 3) -> list[tuple[str, float]]:
    """The `k` most probable class names with their probabilities (4 decimals), best first."""
    best = np.argsort(-probabilities, kind="stable")[:k]
    return [(fashion_mnist.CLASS_NAMES[i], round(float(probabilities[i]), 4)) for i in best]


def classify(
    files: Iterable[Path], model: onnx_model.Classifier, batch_size: int
) -> Iterator[dict]:
    """One row per file, in order: its top classes, or the reason it could not be read. Files are
    decoded and predicted `batch_size` at a time, so memory does not grow with their number."""
    files = iter(files)
    while batch := [path for _, path in zip(range(batch_size), files, strict=False)]:
        converted, rows = [], []
        for path in batch:
            try:
                converted.append(images.to_fashion_mnist(images.open_image(path)))
                rows.append({"file": str(path)})
            except images.ImageError as error:
                rows.append({"file": str(path), "error": str(error)})
        readable = [row for row in rows if "error" not in row]
        if converted:
            probabilities = model.predict(np.stack(converted), batch_size=len(converted))
            for row, p in zip(readable, probabilities, strict=True):
                top = top_classes(p)
                row.update(predicted=top[0][0], confidence=top[0][1], top3=top)
        yield from rows


def classify_with_progress(
    files: list[Path], model: onnx_model.Classifier, batch_size: int
) -> list[dict]:
    """`classify`'s rows, with a progress bar on a terminal; the bar is closed even if the model
    fails, so that the error starts a line of its own."""
    rows = []
    with tqdm.tqdm(total=len(files), unit="image", disable=None, file=sys.stderr) as progress:
        for row in classify(files, model, batch_size):
            rows.append(row)
            progress.update()
    return rows


def external_locations(message: "Message") -> Iterator[str]:
    """The `location` of every tensor in an ONNX protobuf `message` (a model, and the graphs,
    nodes and attributes in it) whose data is stored outside the model file."""
    tensor = message.DESCRIPTOR.full_name == "onnx.TensorProto"
    if tensor and message.data_location == message.EXTERNAL:
        yield from (entry.value for entry in message.external_data if entry.key == "location")
    for field, value in message.ListFields():
        if field.message_type is not None:
            for item in value if field.is_repeated else [value]:
                yield from external_locations(item)


def external_data_files(model: Path) -> list[Path]:
    """The files besides `model` that ONNX Runtime reads its weights from (external data, named
    relative to the model's folder): none for the train stage's model."""
    import onnx  # here: `import onnx` takes 0.1–0.2 s, which only `--output` pays
    from google.protobuf.message import DecodeError

    try:  # from bytes: onnx.load would guess a text format from some suffixes
        proto = onnx.load_model_from_string(model.read_bytes())
    except DecodeError:  # ONNX Runtime's own format (.ort), which it loads too: no external data
        return []
    return sorted({model.parent / location for location in external_locations(proto)})


def check_output(output: Path, model: Path, files: Iterable[Path]) -> None:
    """Raise PipelineError, naming the fix, if writing `output` would replace the model, a file
    it loads, an image to classify, a symbolic link, a folder, a device, a FIFO or a socket, or
    would name the results like a model (`model.keras` beside `model.onnx`)."""
    # os.path.realpath, not Path.resolve, which raises on a symbolic link that points to itself
    target = os.path.realpath(output)
    if target == os.path.realpath(model):
        raise PipelineError(f"--output {output}: is the model; name another file for the results")
    weights = [path for path in external_data_files(model) if os.path.realpath(path) == target]
    if weights:
        raise PipelineError(
            f"--output {output}: is the model's external data ({weights[0].name}, which "
            f"{model} loads its weights from); name another file for the results"
        )
    if any(os.path.realpath(path) == target for path in files):
        raise PipelineError(
            f"--output {output}: is one of the images to classify; name another file for the "
            "results"
        )
    if output.is_symlink():
        raise PipelineError(
            f"--output {output}: is a symbolic link (to {os.readlink(output)}), which writing "
            f"would replace with a file; {_NAME_A_FILE}"
        )
    if output.is_dir():
        raise PipelineError(
            f"--output {output}: is a folder; name a file, e.g. {output / 'results.csv'}"
        )
    if output.exists() and not output.is_file():
        raise PipelineError(
            f"--output {output}: is not a regular file (a device, FIFO or socket); {_NAME_A_FILE}"
        )
    if output.suffix.lower() in MODEL_SUFFIXES:
        raise PipelineError(
            f"--output {output}: is named like a model ({output.suffix}), as the train stage "
            "names model.keras beside model.onnx; name a file for the results, e.g. results.csv"
        )


def check_model(model: Path) -> None:
    """Raise PipelineError if `model` is a Keras file, naming the ONNX file to use instead: the
    one the train stage writes beside it."""
    is_zip = model.is_file() and zipfile.is_zipfile(model)  # a .keras file is a zip; ONNX never
    if model.suffix.lower() not in KERAS_SUFFIXES and not is_zip:
        return
    onnx = model.with_suffix(".onnx")
    missing = "" if onnx.is_file() else " (missing: run `dvc repro train`)"
    raise PipelineError(
        f"--model {model}: a Keras file; tools.classify runs the ONNX model, which the train "
        f"stage writes beside it: --model {onnx}{missing}"
    )


def csv_cell(value: object) -> object:
    """`value` as a CSV cell that no spreadsheet runs: text starting like a formula gets a
    leading apostrophe, as OWASP advises; a missing value is an empty cell."""
    if isinstance(value, str):
        return f"'{value}" if value.startswith(FORMULA_STARTS) else value
    return "" if pd.isna(value) else value


def render_csv(table: pd.DataFrame) -> str:
    """`table` as CSV with every text cell quoted: a file name holding a comma, a quote, a
    newline or a carriage return stays in its cell, and reading it back gives one row per image."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows([csv_cell(value) for value in row] for row in table.itertuples(index=False))
    return buffer.getvalue()


def render(rows: list[dict], output_format: str) -> str:
    """The rows as an aligned text table, CSV or JSON."""
    if output_format == "json":
        try:  # NaN is not JSON: refuse to write it rather than write a file no parser reads
            return json.dumps(rows, indent=2, allow_nan=False) + "\n"
        except ValueError:
            raise DataError(
                "the model gave scores that are not numbers (NaN or infinity), which JSON cannot "
                "hold: the model file is broken; train it again (`dvc repro train`)"
            ) from None
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["top3"] = [
        ", ".join(f"{name} {p:.2f}" for name, p in top) if isinstance(top, list) else ""
        for top in table["top3"]
    ]
    if output_format == "csv":
        return render_csv(table)
    table["confidence"] = table["confidence"].map(lambda c: "" if pd.isna(c) else f"{c:.0%}")
    cells = [COLUMNS, *table.astype(object).fillna("").astype(str).to_numpy().tolist()]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in cells
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.classify",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", type=Path, nargs="+", help="image files or folders of them")
    parser.add_argument("--model", type=Path, required=True, help="e.g. data/model/model.onnx")
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    parser.add_argument("--batch-size", type=int, default=256, help="images decoded at a time")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")

    check_model(args.model)
    files, problems = images.find_images(args.paths)  # names only: no image is read yet
    model = onnx_model.load(args.model)
    if args.output:  # after the model: a file it loads besides itself must not be replaced
        check_output(args.output, args.model, files)
    with contextlib.ExitStack() as stack:
        # Staged first, so that an unwritable --output stops the run before any work.
        output = stack.enter_context(artifacts.atomic_path(args.output)) if args.output else None
        rows = [{"file": str(path), "error": problem} for path, problem in problems]
        rows += classify_with_progress(files, model, args.batch_size)
        text = render(rows, args.format)
        if output:
            artifacts.write_text(output, text)
        else:
            sys.stdout.write(text)
    failed = sum("error" in row for row in rows)
    logger.info("classified %d of %d inputs; %d failed", len(rows) - failed, len(rows), failed)
    return EXIT_SOME_FAILED if failed else 0


if __name__ == "__main__":
    cli.run(main)

"""Classifying your own images end to end: files and folders in, a table, CSV or JSON out."""

import csv
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from stages.shared import fashion_mnist, onnx_model, splits
from stages.shared.errors import DataError, PipelineError
from tests.helpers.model_files import rewrite_onnx_metadata
from tests.helpers.photos import BACKGROUNDS, fill_square, render_photo
from tests.helpers.project import REPO, load_pipeline
from tools import classify, images


@pytest.fixture(scope="module")
def photos(tmp_path_factory, tiny_run):
    """The first six tiny test images, as garments filling their square, saved as large RGB
    photos on white, and the classes the model gives the originals."""
    folder = tmp_path_factory.mktemp("photos")
    originals, _ = splits.read_split(tiny_run.test)
    originals = fill_square(originals[:6])
    for i, image in enumerate(originals):
        big = Image.fromarray(255 - image).resize((336, 336), Image.Resampling.NEAREST)
        canvas = Image.new("L", (436, 396), 255)
        canvas.paste(big, (50, 30))
        canvas.convert("RGB").save(folder / f"photo{i}.png")
    probabilities = onnx_model.load(tiny_run.onnx).predict(originals, batch_size=6)
    return folder, [fashion_mnist.CLASS_NAMES[k] for k in probabilities.argmax(axis=1)]


def _run(*argv, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.classify", *map(str, argv)],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(REPO)),  # tools.classify from anywhere
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_photos_get_the_class_of_the_original_images(tiny_run, photos):
    folder, expected = photos
    model = onnx_model.load(tiny_run.onnx)
    rows = list(classify.classify(sorted(folder.iterdir()), model, batch_size=4))
    assert [row["predicted"] for row in rows] == expected
    for row in rows:
        names = [name for name, _ in row["top3"]]
        assert names[0] == row["predicted"] and len(set(names)) == 3
        assert row["confidence"] == pytest.approx(row["top3"][0][1], abs=1e-4)


# Set by .ci/run after it reproduced the committed run: the model must then be there.
REQUIRE_COMMITTED_MODEL = "REQUIRE_COMMITTED_MODEL"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_COMMITTED_MODEL):
        pytest.fail(reason)
    pytest.skip(reason)


def _committed_model() -> Path:
    """The shipped model (dvc.yaml's `model` artifact) of the committed run, as dvc.lock records
    it; the test is skipped if the workspace holds another or none (fails, with
    REQUIRE_COMMITTED_MODEL set)."""
    path = load_pipeline()["artifacts"]["model"]["path"]
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())
    (md5,) = [
        out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if out["path"] == path
    ]
    if not (REPO / path).is_file():
        _unavailable(f"{path} is missing: `make pull` (or `make repro`) puts it there")
    if hashlib.md5((REPO / path).read_bytes()).hexdigest() != md5:
        _unavailable(f"{path} is not the committed run's model (dvc.lock)")
    return REPO / path


def test_photos_on_shaded_or_textured_backdrops_are_classified_as_on_white(tmp_path):
    """The five garments of docs/examples photographed (JPEG) on white, on light grey with a soft
    shadow and on a woven cloth, classified by the committed model. The standalone block of
    docs/own-images.md gets 14 of the 15 right (the shirt on grey is a Pullover); so must
    tools.classify, which got 7 when it trimmed at 5% of the backdrop's level."""
    model = onnx_model.load(_committed_model())
    expected = {}
    for backdrop in BACKGROUNDS:
        for picture in sorted((REPO / "docs/examples").iterdir()):
            garment = images.to_fashion_mnist(images.open_image(picture))
            photo = render_photo(garment, backdrop, seed=BACKGROUNDS.index(backdrop))
            path = tmp_path / f"{picture.stem}-on-{backdrop}.jpg"
            photo.save(path, quality=90)
            # Each picture is named after its class: ankle-boot.png is an Ankle boot.
            (expected[str(path)],) = [
                name
                for name in fashion_mnist.CLASS_NAMES
                if picture.name.startswith(name.lower().replace(" ", "-"))
            ]

    rows = list(classify.classify([Path(file) for file in expected], model, batch_size=16))

    wrong = [
        f"{Path(row['file']).name}: {row['predicted']}"
        for row in rows
        if row["predicted"] != expected[row["file"]]
    ]
    assert len(rows) == 15 and len(wrong) <= 1, wrong


def test_batches_do_not_change_the_results(tiny_run, photos):
    folder, _ = photos
    model = onnx_model.load(tiny_run.onnx)
    files = sorted(folder.iterdir())
    one_by_one = list(classify.classify(files, model, batch_size=1))
    all_at_once = list(classify.classify(files, model, batch_size=100))
    assert [r["predicted"] for r in one_by_one] == [r["predicted"] for r in all_at_once]


def test_one_bad_file_is_reported_and_the_others_classified(tmp_path, tiny_run, photos):
    folder, expected = photos
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "empty-folder").mkdir()
    result = _run(
        folder / "photo0.png",
        tmp_path / "notes.png",
        tmp_path / "empty-folder",
        tmp_path / "missing.jpg",
        folder / "photo1.png",
        "--model",
        tiny_run.onnx,
        "--format",
        "json",
    )
    assert result.returncode == classify.EXIT_SOME_FAILED, result.stderr
    rows = {Path(row["file"]).name: row for row in json.loads(result.stdout)}
    assert rows["photo0.png"]["predicted"] == expected[0]
    assert rows["photo1.png"]["predicted"] == expected[1]
    assert rows["notes.png"]["error"] == "not an image that Pillow can read"
    assert rows["empty-folder"]["error"].startswith("folder holds no images")
    assert rows["missing.jpg"]["error"] == "no such file or folder"
    assert "classified 2 of 5 inputs; 3 failed" in result.stderr


def _corrupt(image_format: str) -> bytes:
    """A small image saved as `image_format`, with its header broken: an AVIF that names no
    primary image (Pillow raises RuntimeError), a DDS of no known pixel format
    (NotImplementedError)."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buffer, format=image_format)
    data = bytearray(buffer.getvalue())
    if image_format == "AVIF":
        data[data.index(b"pitm")] = 0  # the box naming the primary image, renamed away
    else:
        data[80:84] = struct.pack("<I", 0)  # the pixel format's flags
    return bytes(data)


@pytest.mark.parametrize(
    ("image_format", "raised"), [("AVIF", RuntimeError), ("DDS", NotImplementedError)]
)
def test_a_file_pillow_fails_on_in_its_own_way_is_one_row_among_the_others(
    tmp_path, tiny_run, photos, image_format, raised
):
    folder, expected = photos
    bad = tmp_path / f"bad.{image_format.lower()}"
    bad.write_bytes(_corrupt(image_format))
    with pytest.raises(raised), Image.open(bad) as image:  # what Pillow itself raises
        image.load()

    result = _run(
        folder / "photo0.png",
        bad,
        folder / "photo1.png",
        "--model",
        tiny_run.onnx,
        "--format",
        "json",
    )

    assert result.returncode == classify.EXIT_SOME_FAILED, result.stderr
    rows = {Path(row["file"]).name: row for row in json.loads(result.stdout)}
    assert [rows[f"photo{i}.png"]["predicted"] for i in (0, 1)] == expected[:2]
    assert rows[bad.name]["error"].startswith(f"Pillow cannot decode it ({raised.__name__}: ")
    assert "classified 2 of 3 inputs; 1 failed" in result.stderr


def test_a_lab_tiff_is_classified_among_the_others(tmp_path, tiny_run, photos):
    """A CIELab TIFF, which Pillow converts to RGB only (through its colour profiles): it ended
    the run with `ValueError: conversion from LAB to RGB not supported` and no rows at all."""
    folder, expected = photos
    with Image.open(folder / "photo0.png") as photo:
        photo.convert("LAB").save(tmp_path / "lab.tif")

    result = _run(
        folder / "photo1.png",
        tmp_path / "lab.tif",
        folder / "photo2.png",
        "--model",
        tiny_run.onnx,
        "--format",
        "json",
    )

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [Path(row["file"]).name for row in rows] == ["photo1.png", "lab.tif", "photo2.png"]
    assert [row["predicted"] for row in rows] == [expected[1], expected[0], expected[2]]


def test_an_error_while_converting_one_image_is_its_row_among_the_others(
    tmp_path, tiny_run, photos, monkeypatch
):
    folder, expected = photos
    with Image.open(folder / "photo0.png") as photo:
        photo.convert("LAB").save(tmp_path / "lab.tif")
    real = images.grayscale

    def grayscale_without_lab(image: Image.Image) -> np.ndarray:
        if image.mode == "LAB":  # what Pillow raised when it was asked for Lab's luminance
            raise ValueError("conversion from LAB to RGB not supported")
        return real(image)

    monkeypatch.setattr(images, "grayscale", grayscale_without_lab)
    files = [folder / "photo1.png", tmp_path / "lab.tif", folder / "photo2.png"]

    rows = list(classify.classify(files, onnx_model.load(tiny_run.onnx), batch_size=4))

    assert rows[1] == {
        "file": str(tmp_path / "lab.tif"),
        "error": "cannot convert this LAB image (ValueError: conversion from LAB to RGB not "
        "supported)",
    }
    assert [rows[0]["predicted"], rows[2]["predicted"]] == expected[1:3]


@pytest.mark.parametrize("target", ["folder", "model", "image"])
def test_output_over_a_folder_the_model_or_an_image_is_refused_first(
    tmp_path, tiny_run, photos, target
):
    folder, _ = photos
    model = tmp_path / "model.onnx"
    model.write_bytes(tiny_run.onnx.read_bytes())
    image = tmp_path / "photo0.png"
    image.write_bytes((folder / "photo0.png").read_bytes())
    output = {"folder": tmp_path, "model": model, "image": image}[target]
    before = {path: path.read_bytes() for path in (model, image)}

    result = _run(tmp_path, folder, "--model", model, "--format", "csv", "--output", output)

    assert result.returncode == 2
    assert result.stderr.startswith(f"error: --output {output}: is ")  # and nothing else:
    assert result.stderr.count("\n") == 1  # no image was classified
    assert {path: path.read_bytes() for path in (model, image)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "photo0.png"]


def _model_with_external_data(source: Path, target: Path) -> Path:
    """A copy of an ONNX model whose weights are stored in `weights.bin` beside it (ONNX's
    external data, which ONNX Runtime reads from the model's folder)."""
    import onnx

    onnx.save_model(
        onnx.load(source),
        target,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
    )
    return target


def _entries(folder: Path) -> dict[str, object]:
    """What each entry of `folder` is: where a link points, a file's bytes, or "fifo"."""
    entries = {}
    for path in folder.iterdir():
        if path.is_symlink():
            entries[path.name] = path.readlink()
        else:
            entries[path.name] = path.read_bytes() if path.is_file() else "fifo"
    return entries


_NAME_A_FILE = "name a regular file, or leave out --output to write to standard output"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "link.csv",
            "is a symbolic link (to results.csv), which writing would replace with a file; "
            + _NAME_A_FILE,
        ),
        (
            "dangling.csv",
            "is a symbolic link (to gone.csv), which writing would replace with a file; "
            + _NAME_A_FILE,
        ),
        (
            "loop.csv",
            "is a symbolic link (to loop.csv), which writing would replace with a file; "
            + _NAME_A_FILE,
        ),
        ("fifo.csv", "is not a regular file (a device, FIFO or socket); " + _NAME_A_FILE),
        (
            "weights.bin",
            "is the model's external data (weights.bin, which {model} loads its weights from); "
            "name another file for the results",
        ),
        (
            "model.keras",
            "is named like a model (.keras), as the train stage names model.keras beside "
            "model.onnx; name a file for the results, e.g. results.csv",
        ),
    ],
)
def test_output_over_a_link_a_fifo_the_models_weights_or_the_keras_model_is_refused_first(
    tmp_path, tiny_run, photos, name, message
):
    folder, _ = photos
    model = _model_with_external_data(tiny_run.onnx, tmp_path / "model.onnx")
    (tmp_path / "model.keras").write_bytes(tiny_run.model.read_bytes())
    (tmp_path / "results.csv").write_text("the last run's results\n")
    (tmp_path / "link.csv").symlink_to("results.csv")
    (tmp_path / "dangling.csv").symlink_to("gone.csv")
    (tmp_path / "loop.csv").symlink_to("loop.csv")
    (tmp_path / "loop.png").symlink_to("loop.png")  # an input too: Path.resolve raises on it
    os.mkfifo(tmp_path / "fifo.csv")  # opening it to write would block
    before = _entries(tmp_path)

    result = _run(
        folder, tmp_path, "--model", model, "--format", "csv", "--output", tmp_path / name
    )

    assert result.returncode == 2
    assert result.stderr == f"error: --output {tmp_path / name}: {message.format(model=model)}\n"
    assert _entries(tmp_path) == before


@pytest.mark.parametrize("output", ["/dev/stdout", "/dev/null"])
def test_output_to_standard_output_or_a_device_by_name_is_refused(tiny_run, output):
    with pytest.raises(PipelineError, match=f"^--output {output}: is .*; {_NAME_A_FILE}$"):
        classify.check_output(Path(output), tiny_run.onnx, [])


def test_a_model_in_onnx_runtimes_own_format_writes_its_results(tmp_path, tiny_run, photos):
    """An .ort file, which ONNX Runtime loads and `onnx` cannot parse, has no external data."""
    import onnxruntime

    folder, expected = photos
    options = onnx_model.session_options()
    options.optimized_model_filepath = str(tmp_path / "model.ort")
    options.add_session_config_entry("session.save_model_format", "ORT")
    onnxruntime.InferenceSession(str(tiny_run.onnx), options, providers=["CPUExecutionProvider"])

    output = tmp_path / "o.csv"
    code = classify.main(
        [str(folder), "--model", str(tmp_path / "model.ort"), "--format=csv", f"--output={output}"]
    )

    assert code == 0
    assert pd.read_csv(output)["predicted"].tolist() == expected


def test_table_and_csv_outputs(tmp_path, tiny_run, photos):
    folder, expected = photos
    result = _run(folder, "--model", tiny_run.onnx)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["file", "predicted", "confidence", "top3"]
    assert len(lines) == 7 and "%" in lines[1]
    result = _run(
        folder, "--model", tiny_run.onnx, "--format", "csv", "--output", tmp_path / "o.csv"
    )
    assert result.returncode == 0 and result.stdout == ""
    table = pd.read_csv(tmp_path / "o.csv")
    assert list(table.columns) == classify.COLUMNS
    assert table["predicted"].tolist() == expected


# Names a spreadsheet would run as formulas, and one whose carriage return would end a CSV row.
HOSTILE_NAMES = ["=cmd|' -C calc'!A0.png", "+SUM(1+1).png", "two\rlines.png"]


def test_csv_file_names_are_cells_no_spreadsheet_runs_and_one_row_each(tmp_path, tiny_run, photos):
    folder, expected = photos
    for name in HOSTILE_NAMES:
        (tmp_path / name).write_bytes((folder / "photo0.png").read_bytes())

    result = _run(
        *HOSTILE_NAMES,
        "--model",
        tiny_run.onnx,
        "--format",
        "csv",
        "--output",
        "out.csv",
        cwd=tmp_path,  # the names as typed: the cells start with them
    )

    assert result.returncode == 0, result.stderr
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    assert header == classify.COLUMNS
    assert [row[0] for row in rows] == [
        "'=cmd|' -C calc'!A0.png",
        "'+SUM(1+1).png",
        "two\rlines.png",
    ]
    assert [row[1] for row in rows] == expected[:1] * 3
    assert b'"two\rlines.png"' in (tmp_path / "out.csv").read_bytes()


def test_every_csv_cell_that_starts_like_a_formula_is_neutralised():
    starts = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "x=1", "a\nb"]
    rows = [{"file": name, "error": "not an image that Pillow can read"} for name in starts]

    text = classify.render(rows, "csv")

    cells = [row[0] for row in csv.reader(io.StringIO(text, newline=""))][1:]
    assert cells == [f"'{name}" for name in starts[:6]] + starts[6:]
    for cell in cells:
        assert f'\n"{cell}",' in text  # quoted, so a newline or carriage return stays inside


def _scaled_model(source: Path, target: Path, factor: float) -> Path:
    """A copy of an ONNX model whose probabilities are multiplied by `factor` (NaN: all NaN)."""
    import onnx
    from onnx import helper

    proto = onnx.load(source)
    (last,) = [n for n in proto.graph.node if onnx_model.OUTPUT in n.output]
    last.output[list(last.output).index(onnx_model.OUTPUT)] = "unscaled"
    proto.graph.initializer.append(
        helper.make_tensor("factor", onnx.TensorProto.FLOAT, [], [factor])
    )
    proto.graph.node.append(helper.make_node("Mul", ["unscaled", "factor"], [onnx_model.OUTPUT]))
    onnx.save(proto, target)
    return target


def test_a_model_giving_nan_is_one_line_and_never_json_with_nan(tmp_path, tiny_run, photos):
    folder, _ = photos
    model = _scaled_model(tiny_run.onnx, tmp_path / "nan.onnx", float("nan"))

    result = _run(folder, "--model", model, "--format", "json")

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert result.stdout == ""  # no JSON at all rather than NaN, which no JSON parser reads


def test_missing_model_is_a_user_error_with_exit_2(tmp_path, photos):
    folder, _ = photos
    result = _run(folder, "--model", tmp_path / "none.onnx")
    assert result.returncode == 2
    assert (
        result.stderr.strip() == f"error: {tmp_path / 'none.onnx'}: missing; run `dvc repro train`"
    )


def test_the_keras_model_is_refused_naming_the_onnx_file_beside_it(tmp_path, tiny_run, photos):
    folder, _ = photos
    result = _run(folder, "--model", tiny_run.model)
    assert result.returncode == 2
    assert result.stderr == (
        f"error: --model {tiny_run.model}: a Keras file; tools.classify runs the ONNX model, "
        f"which the train stage writes beside it: --model {tiny_run.onnx}\n"
    )
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["model.keras", "model.h5", "renamed.bin"])
def test_a_keras_file_without_its_onnx_file_names_both(tmp_path, tiny_run, name):
    model = tmp_path / name
    model.write_bytes(tiny_run.model.read_bytes())  # a zip, whatever its name
    with pytest.raises(PipelineError) as raised:
        classify.main([str(tmp_path), "--model", str(model)])
    assert str(raised.value) == (
        f"--model {model}: a Keras file; tools.classify runs the ONNX model, which the train "
        f"stage writes beside it: --model {model.with_suffix('.onnx')} "
        "(missing: run `dvc repro train`)"
    )


def test_model_with_other_classes_is_refused_in_process(tmp_path, tiny_run):
    target = tmp_path / "m.onnx"
    rewrite_onnx_metadata(tiny_run.onnx, target, "class_names", json.dumps(["cat", "dog"]))
    with pytest.raises(DataError, match="predicts the classes"):
        classify.main([str(tmp_path), "--model", str(target)])


def test_top_classes_are_sorted_by_probability():
    probabilities = np.array([0.1, 0.5, 0.0, 0.3, 0.1, 0, 0, 0, 0, 0])
    assert classify.top_classes(probabilities) == [
        ("Trouser", 0.5),
        ("Dress", 0.3),
        ("T-shirt/top", 0.1),
    ]

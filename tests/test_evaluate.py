import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stages.evaluate import __main__ as evaluate
from stages.shared import fashion_mnist, figures, image_grids
from stages.shared.errors import DataError
from tests.helpers.bad_splits import UNUSABLE_SPLITS
from tests.helpers.model_files import write_onnx_classifier


def test_main_writes_metrics_plots_and_images(tmp_path, tiny_run):
    out = {
        "eval-metrics": tmp_path / "eval.json",
        "per-class": tmp_path / "per_class.csv",
        "confusion": tmp_path / "confusion.csv",
        "confusion-png": tmp_path / "confusion.png",
        "samples-png": tmp_path / "samples.png",
        "misclassified-png": tmp_path / "misclassified.png",
    }
    evaluate.main(
        [
            f"--test={tiny_run.test}",
            f"--val={tiny_run.val}",
            f"--model={tiny_run.onnx}",
            f"--params={tiny_run.params}",
            *(f"--{flag}={path}" for flag, path in out.items()),
        ]
    )
    scores = json.loads(out["eval-metrics"].read_text())
    assert list(scores) == ["test", "val"] and set(scores["val"]) == {"loss", "accuracy"}
    assert 0.5 < scores["val"]["accuracy"] <= 1 and scores["val"]["loss"] > 0
    metrics = scores["test"]
    assert set(metrics) == {"loss", "accuracy", "macro_f1"}
    assert 0.5 < metrics["accuracy"] <= 1 and 0 < metrics["macro_f1"] <= 1 and metrics["loss"] > 0
    pairs = pd.read_csv(out["confusion"])
    assert list(pairs.columns) == ["actual", "predicted"] and len(pairs) == 50
    assert set(pairs["actual"]) == set(fashion_mnist.CLASS_NAMES)
    assert (pairs["actual"] == pairs["predicted"]).mean() == pytest.approx(metrics["accuracy"])
    per_class = pd.read_csv(out["per-class"], index_col="class")
    assert list(per_class.index) == list(fashion_mnist.CLASS_NAMES)
    assert per_class["f1"].mean() == pytest.approx(metrics["macro_f1"], abs=1e-5)
    for name in ("confusion-png", "samples-png", "misclassified-png"):
        assert out[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_are_byte_identical_when_redrawn(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    for name in ("a.png", "b.png"):
        figure = image_grids.prediction_grid(
            images, np.array([0, 1, 2]), np.array([0, 2, 2]), "abc"
        )
        figures.save(figure, tmp_path / name)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def _evaluate(tmp_path, test_split, model, params) -> Path:
    """evaluate.main on `test_split` (the validation split too) and `model`, every output into
    tmp_path/out."""
    out = tmp_path / "out"
    flags = ["eval-metrics", "per-class", "confusion", "confusion-png", "samples-png"]
    evaluate.main(
        [
            f"--test={test_split}",
            f"--val={test_split}",
            f"--model={model}",
            f"--params={params}",
            *(f"--{flag}={out / flag}" for flag in [*flags, "misclassified-png"]),
        ]
    )
    return out


@pytest.mark.parametrize("which", ["test", "val"])
@pytest.mark.parametrize(("write", "problem"), UNUSABLE_SPLITS)
def test_a_split_that_cannot_be_scored_is_refused_not_scored_nan(
    tmp_path, tiny_run, which, write, problem
):
    """Both splits are scored: empty, their accuracy and loss would be NaN in
    metrics/eval.json."""
    split = tmp_path / f"{which}.npz"
    write(split)
    out = tmp_path / "out"
    flags = ["eval-metrics", "per-class", "confusion", "confusion-png", "samples-png"]
    with pytest.raises(DataError) as error:
        evaluate.main(
            [
                f"--test={tiny_run.test}",
                f"--val={tiny_run.val}",
                f"--{which}={split}",  # the last of a flag counts
                f"--model={tiny_run.onnx}",
                f"--params={tiny_run.params}",
                *(f"--{flag}={out / flag}" for flag in [*flags, "misclassified-png"]),
            ]
        )
    assert str(error.value) == f"{split}: {problem}; re-run `dvc repro preprocess`"
    assert not out.exists()


def test_a_model_answering_nan_writes_no_metrics(tmp_path, tiny_run):
    model = write_onnx_classifier(tmp_path / "nan.onnx", "nan")
    with pytest.raises(DataError, match="nan.onnx: answered .* not finite"):
        _evaluate(tmp_path, tiny_run.test, model, tiny_run.params)
    assert not (tmp_path / "out").exists()

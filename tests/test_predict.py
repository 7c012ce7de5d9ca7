import numpy as np
import pandas as pd
import pytest

from stages.predict import __main__ as predict
from stages.predict import table
from stages.shared import fashion_mnist, splits
from stages.shared.errors import DataError
from tests.helpers.bad_splits import UNUSABLE_SPLITS
from tests.helpers.project import write_yaml
from tests.helpers.tiny import tiny_params


def test_prediction_table_schema():
    probabilities = np.eye(10)[[9, 2]] * 0.9 + 0.01
    predictions = table.prediction_table(probabilities, np.array([9, 1], dtype=np.uint8))
    assert list(predictions.columns) == [
        "index",
        "actual",
        "predicted",
        *fashion_mnist.CLASS_NAMES,
    ]
    assert predictions["predicted"].tolist() == ["Ankle boot", "Pullover"]
    assert predictions["actual"].tolist() == ["Ankle boot", "Trouser"]
    assert predictions["Pullover"].tolist() == pytest.approx([0.01, 0.91])


def _main(tmp_path, tiny_run, params_path):
    predict.main(
        [
            f"--test={tiny_run.test}",
            f"--model={tiny_run.onnx}",
            f"--predictions={tmp_path / 'predictions.csv'}",
            f"--predictions-png={tmp_path / 'predictions.png'}",
            f"--params={params_path}",
        ]
    )


def test_main_predicts_the_first_test_images(tmp_path, tiny_run, caplog):
    caplog.set_level("INFO")
    _main(tmp_path, tiny_run, tiny_run.params)
    table = pd.read_csv(tmp_path / "predictions.csv")
    _, labels = splits.read_split(tiny_run.test)
    assert table["index"].tolist() == [0, 1, 2, 3, 4]
    assert table["actual"].tolist() == [fashion_mnist.CLASS_NAMES[k] for k in labels[:5]]
    np.testing.assert_allclose(table[list(fashion_mnist.CLASS_NAMES)].sum(axis=1), 1, rtol=1e-4)
    assert (tmp_path / "predictions.png").read_bytes()[:4] == b"\x89PNG"
    assert f"predicted: {', '.join(table['predicted'])}" in caplog.text


def test_count_beyond_the_test_set_is_refused_before_writing(tmp_path, tiny_run, tiny_source):
    document = tiny_params(tiny_source)
    document["predict"]["count"] = 51
    with pytest.raises(DataError, match="predict.count=51, but the test split has 50 images"):
        _main(tmp_path, tiny_run, write_yaml(tmp_path / "params.yaml", document))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


@pytest.mark.parametrize(("write", "problem"), UNUSABLE_SPLITS)
def test_a_test_split_that_cannot_be_read_is_refused_before_writing(
    tmp_path, tiny_run, write, problem
):
    split = tmp_path / "test.npz"
    write(split)
    out = tmp_path / "out"
    with pytest.raises(DataError) as error:
        predict.main(
            [
                f"--test={split}",
                f"--model={tiny_run.onnx}",
                f"--predictions={out / 'predictions.csv'}",
                f"--predictions-png={out / 'predictions.png'}",
                f"--params={tiny_run.params}",
            ]
        )
    assert str(error.value) == f"{split}: {problem}; re-run `dvc repro preprocess`"
    assert not out.exists()

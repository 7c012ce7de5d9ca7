"""stages.evaluate.scoring against numbers worked by hand."""

import numpy as np
import pytest

from stages.evaluate import scoring

# A 3-class toy example, worked by hand:
#   actual    0 0 0 0 1 1 1 2 2 2
#   predicted 0 0 1 2 1 1 0 2 2 2
ACTUAL = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
PREDICTED = np.array([0, 0, 1, 2, 1, 1, 0, 2, 2, 2])


def test_confusion_matrix_rows_are_actual_columns_predicted():
    matrix = scoring.confusion_matrix(ACTUAL, PREDICTED, 3)
    np.testing.assert_array_equal(matrix, [[2, 1, 1], [1, 2, 0], [0, 0, 3]])


def test_per_class_metrics_match_the_hand_computed_values():
    per_class = scoring.per_class_metrics(scoring.confusion_matrix(ACTUAL, PREDICTED, 3))
    # precision = TP / predicted: 2/3, 2/3, 3/4; recall = TP / actual: 2/4, 2/3, 3/3
    np.testing.assert_allclose(per_class["precision"], [2 / 3, 2 / 3, 3 / 4])
    np.testing.assert_allclose(per_class["recall"], [1 / 2, 2 / 3, 1])
    # F1 = 2PR / (P + R): 4/7, 2/3, 6/7
    np.testing.assert_allclose(per_class["f1"], [4 / 7, 2 / 3, 6 / 7])
    np.testing.assert_array_equal(per_class["support"], [4, 3, 3])


def test_summary_metrics_match_the_hand_computed_values():
    matrix = scoring.confusion_matrix(ACTUAL, PREDICTED, 3)
    summary = scoring.summary_metrics(matrix, scoring.per_class_metrics(matrix), loss=0.123456789)
    assert summary == {
        "loss": 0.123457,
        "accuracy": 0.7,
        "macro_f1": round((4 / 7 + 2 / 3 + 6 / 7) / 3, 6),
    }


def test_a_class_never_predicted_or_absent_scores_zero_not_nan():
    matrix = scoring.confusion_matrix(np.array([0, 0, 1]), np.array([0, 0, 0]), 3)
    per_class = scoring.per_class_metrics(matrix)
    np.testing.assert_allclose(per_class["precision"], [2 / 3, 0, 0])
    np.testing.assert_allclose(per_class["recall"], [1, 0, 0])
    assert not per_class.isna().any().any()


def test_score_names_the_classes_and_agrees_with_its_parts():
    probabilities = np.eye(3)[PREDICTED] * 0.7 + 0.1
    scores = scoring.score(probabilities, ACTUAL, ["a", "b", "c"])
    np.testing.assert_array_equal(scores.matrix, [[2, 1, 1], [1, 2, 0], [0, 0, 3]])
    assert list(scores.per_class.index) == ["a", "b", "c"]
    assert scores.per_class.index.name == "class"
    np.testing.assert_allclose(scores.per_class["f1"], [4 / 7, 2 / 3, 6 / 7])
    assert scores.metrics["accuracy"] == 0.7
    assert scores.metrics["loss"] == pytest.approx(
        -(7 * np.log(0.8) + 3 * np.log(0.1)) / 10, abs=1e-6
    )

import json

import numpy as np
import pandas as pd
import pytest

from stages.preprocess import __main__ as preprocess
from stages.preprocess import settings as preprocess_settings
from stages.preprocess import split
from stages.shared import fashion_mnist, splits
from stages.shared.errors import DataError
from tests.helpers.project import write_yaml
from tests.helpers.tiny import tiny_params

LABELS = np.repeat(np.arange(10, dtype=np.uint8), [30, 30, 30, 30, 30, 30, 30, 30, 30, 60])


def _cfg(**changes) -> preprocess_settings.Preprocess:
    base = {"val_strategy": "head", "val_size": 40, "subset": None, "seed": 7}
    return preprocess_settings.Preprocess(**(base | changes))


def test_head_holds_out_the_first_images():
    train, val = split.split_train_val(LABELS, _cfg(val_size=40))
    np.testing.assert_array_equal(val, np.arange(40))
    np.testing.assert_array_equal(train, np.arange(40, len(LABELS)))


@pytest.mark.parametrize("strategy", ["head", "stratified"])
@pytest.mark.parametrize(("val_size", "val_count"), [(40, 40), (0.2, 66), (0.25, 82)])
def test_splits_have_the_asked_size_and_are_disjoint(strategy, val_size, val_count):
    train, val = split.split_train_val(LABELS, _cfg(val_strategy=strategy, val_size=val_size))
    assert len(val) == val_count
    assert len(train) + len(val) == len(LABELS)
    assert not set(train) & set(val)


def test_stratified_keeps_each_class_share():
    _train, val = split.split_train_val(LABELS, _cfg(val_strategy="stratified", val_size=0.2))
    counts = np.bincount(LABELS[val], minlength=10)
    # 66 of 330: 6 per class of 30 (exactly 6) and 12 for the class of 60.
    np.testing.assert_array_equal(counts, [6] * 9 + [12])


def test_stratified_is_deterministic_per_seed():
    cfg = _cfg(val_strategy="stratified", val_size=0.3)
    first, second = (
        split.split_train_val(LABELS, cfg),
        split.split_train_val(LABELS, cfg),
    )
    np.testing.assert_array_equal(first[1], second[1])
    other = split.split_train_val(LABELS, _cfg(val_strategy="stratified", val_size=0.3, seed=8))
    assert not np.array_equal(first[1], other[1])


def test_stratified_largest_remainder_hits_the_exact_count():
    labels = np.repeat(np.arange(10, dtype=np.uint8), [7, 11, 13, 17, 19, 23, 29, 31, 37, 41])
    for count in (1, 9, 10, 57, 100, 227):
        _, val = split.split_stratified(labels, count, np.random.default_rng(0))
        assert len(val) == count


def test_subset_takes_n_per_class_before_splitting():
    train, val = split.split_train_val(LABELS, _cfg(subset=10, val_size=20))
    kept = np.concatenate([train, val])
    np.testing.assert_array_equal(np.bincount(LABELS[kept], minlength=10), [10] * 10)
    assert len(val) == 20


def test_subset_larger_than_a_class_is_refused():
    with pytest.raises(DataError, match="preprocess.subset=31 .* class 0 .* has only 30"):
        split.split_train_val(LABELS, _cfg(subset=31))


@pytest.mark.parametrize("val_size", [330, 1000, 0.999])
def test_validation_as_large_as_the_data_is_refused(val_size):
    with pytest.raises(DataError, match="preprocess.val_size=.* out of 330"):
        split.split_train_val(LABELS, _cfg(val_size=val_size))


def test_main_writes_three_splits_and_counts(tmp_path, tiny_raw, tiny_source):
    params_path = write_yaml(tmp_path / "params.yaml", tiny_params(tiny_source))
    out = tmp_path / "prepared"
    preprocess.main(
        [
            f"--raw={tiny_raw}",
            f"--train={out / 'train.npz'}",
            f"--val={out / 'val.npz'}",
            f"--test={out / 'test.npz'}",
            f"--data-metrics={tmp_path / 'data.json'}",
            f"--class-counts={tmp_path / 'class_counts.csv'}",
            f"--params={params_path}",
        ]
    )
    _train_images, train_labels = splits.read_split(out / "train.npz")
    _val_images, val_labels = splits.read_split(out / "val.npz")
    _, test_labels = splits.read_split(out / "test.npz")
    assert (len(train_labels), len(val_labels), len(test_labels)) == (160, 40, 50)
    np.testing.assert_array_equal(val_labels, tiny_source.train_labels[:40])
    assert json.loads((tmp_path / "data.json").read_text()) == {
        "images": {"test": 50, "train": 160, "val": 40}
    }
    counts = pd.read_csv(tmp_path / "class_counts.csv", index_col="class")
    assert list(counts.index) == list(fashion_mnist.CLASS_NAMES)
    assert counts.sum().to_dict() == {"train": 160, "val": 40, "test": 50}
    assert (counts["test"] == 5).all()

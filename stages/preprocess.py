"""preprocess stage: decode the raw IDX files, optionally keep a per-class subset, split the
training images into train and validation, and write the three splits plus their class counts."""

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stages import artifacts, cli, dataset, params
from stages.errors import DataError

logger = logging.getLogger(__name__)


def select_subset(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `per_class` random images of each class, in their original order."""
    chosen = []
    for k in range(dataset.NUM_CLASSES):
        members = np.flatnonzero(labels == k)
        if len(members) < per_class:
            raise DataError(
                f"preprocess.subset={per_class} images per class, but class {k} "
                f"({dataset.CLASS_NAMES[k]}) has only {len(members)}; lower preprocess.subset"
            )
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def validation_count(val_size: int | float, n: int) -> int:
    """The number of validation images: `val_size` itself if a count, else that fraction of `n`."""
    count = val_size if isinstance(val_size, int) else round(val_size * n)
    if not 1 <= count < n:
        raise DataError(
            f"preprocess.val_size={val_size} gives {count} validation images out of {n}; "
            f"it must leave at least one image on each side"
        )
    return count


def split_head(n: int, val_count: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: the first `val_count` images validate (the MLP script)."""
    return np.arange(val_count, n), np.arange(val_count)


def split_stratified(
    labels: np.ndarray, val_count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices with each class's share of the validation set equal to its share
    of the data (largest remainder), chosen at random within the class; both in original order."""
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * val_count / len(labels)
    quota = np.floor(exact).astype(int)
    remainder_order = np.argsort(-(exact - quota), kind="stable")
    quota[remainder_order[: val_count - quota.sum()]] += 1
    val = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == k), size=q, replace=False)
            for k, q in zip(classes, quota, strict=True)
        ]
    )
    val_mask = np.zeros(len(labels), dtype=bool)
    val_mask[val] = True
    return np.flatnonzero(~val_mask), np.flatnonzero(val_mask)


def split_train_val(labels: np.ndarray, cfg: params.Preprocess) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices into `labels` by `cfg.val_strategy`, after any subset."""
    rng = np.random.default_rng(cfg.seed)
    pool = np.arange(len(labels))
    if cfg.subset is not None:
        pool = select_subset(labels, cfg.subset, rng)
    val_count = validation_count(cfg.val_size, len(pool))
    if cfg.val_strategy == "head":
        train, val = split_head(len(pool), val_count)
    else:
        train, val = split_stratified(labels[pool], val_count, rng)
    return pool[train], pool[val]


def class_counts(splits: dict[str, np.ndarray]) -> list[list]:
    """Rows [class name, count in each split] for every class, in class order."""
    counts = [np.bincount(labels, minlength=dataset.NUM_CLASSES) for labels in splits.values()]
    return [[name, *(int(c[k]) for c in counts)] for k, name in enumerate(dataset.CLASS_NAMES)]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="directory of the IDX files")
    parser.add_argument("--train", type=Path, required=True, help="output: training split .npz")
    parser.add_argument("--val", type=Path, required=True, help="output: validation split .npz")
    parser.add_argument("--test", type=Path, required=True, help="output: test split .npz")
    parser.add_argument("--data-metrics", type=Path, required=True, help="output: counts .json")
    parser.add_argument("--class-counts", type=Path, required=True, help="output: per class .csv")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = params.load(args.params, params.Preprocess)

    images, labels = dataset.read_images_and_labels(
        args.raw / dataset.TRAIN_IMAGES, args.raw / dataset.TRAIN_LABELS
    )
    test = dataset.read_images_and_labels(
        args.raw / dataset.TEST_IMAGES, args.raw / dataset.TEST_LABELS
    )
    train, val = split_train_val(labels, cfg)
    splits = {
        "train": (images[train], labels[train]),
        "val": (images[val], labels[val]),
        "test": test,
    }
    paths = {"train": args.train, "val": args.val, "test": args.test}
    split_labels = {name: split[1] for name, split in splits.items()}
    counts = {name: len(split) for name, split in split_labels.items()}
    with artifacts.outputs() as out:
        for name, (split_images, labels_of_split) in splits.items():
            dataset.write_split(out.file(paths[name]), split_images, labels_of_split)
        artifacts.write_json(out.file(args.data_metrics), counts)
        rows = class_counts(split_labels)
        artifacts.write_csv(out.file(args.class_counts), ["class", *splits], rows)
    logger.info(
        "read %d training and %d test images from %s; wrote %s",
        len(labels),
        len(test[1]),
        args.raw,
        ", ".join(f"{paths[name]} ({count})" for name, count in counts.items()),
    )


if __name__ == "__main__":
    cli.run(main)

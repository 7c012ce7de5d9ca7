"""How the training images are split: an optional per-class subset, then train and validation
(the first images, or a stratified random choice), and the class counts of the splits."""

import numpy as np

from stages.preprocess import settings
from stages.shared import fashion_mnist
from stages.shared.errors import DataError

Split = tuple[np.ndarray, np.ndarray]  # uint8 images (n, 28, 28), uint8 labels (n,)


def select_subset(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `per_class` random images of each class, in their original order."""
    chosen = []
    for k in range(fashion_mnist.NUM_CLASSES):
        members = np.flatnonzero(labels == k)
        if len(members) < per_class:
            raise DataError(
                f"preprocess.subset={per_class} images per class, but class {k} "
                f"({fashion_mnist.CLASS_NAMES[k]}) has only {len(members)}; "
                "lower preprocess.subset"
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


def split_train_val(labels: np.ndarray, cfg: settings.Preprocess) -> tuple[np.ndarray, np.ndarray]:
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


def split_sets(train: Split, test: Split, cfg: settings.Preprocess) -> dict[str, Split]:
    """The three splits, by name: the training set's `train` and `val` parts as `cfg` says, and
    the test set as it is."""
    images, labels = train
    train_part, val_part = split_train_val(labels, cfg)
    return {
        "train": (images[train_part], labels[train_part]),
        "val": (images[val_part], labels[val_part]),
        "test": test,
    }


def class_counts(splits: dict[str, np.ndarray]) -> list[list]:
    """Rows [class name, count in each split] for every class, in class order."""
    counts = [
        np.bincount(labels, minlength=fashion_mnist.NUM_CLASSES) for labels in splits.values()
    ]
    return [
        [name, *(int(c[k]) for c in counts)] for k, name in enumerate(fashion_mnist.CLASS_NAMES)
    ]

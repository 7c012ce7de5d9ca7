"""preprocess stage: decode the raw IDX files, optionally keep a per-class subset, split the
training images into train and validation, and write the three splits plus their class counts."""

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from stages.preprocess import settings, split
from stages.shared import artifacts, cli, idx, params, splits

logger = logging.getLogger(__name__)


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
    cfg = params.load(args.params, settings.Preprocess)
    train, test = idx.read_training_and_test_sets(args.raw)
    parts = split.split_sets(train, test, cfg)
    paths = {"train": args.train, "val": args.val, "test": args.test}
    labels = {name: part_labels for name, (_, part_labels) in parts.items()}
    with artifacts.outputs() as out:
        for name, (images, part_labels) in parts.items():
            splits.write_split(out.file(paths[name]), images, part_labels)
        counts = {name: len(part_labels) for name, part_labels in labels.items()}
        # `images.test`, not `test`: in `dvc exp show`, `test.*` are the test split's scores.
        artifacts.write_json(out.file(args.data_metrics), {"images": counts})
        rows = split.class_counts(labels)
        artifacts.write_csv(out.file(args.class_counts), ["class", *parts], rows)
    logger.info(
        "read %d training and %d test images from %s; wrote %s",
        *(len(train[1]), len(test[1]), args.raw),
        ", ".join(f"{paths[name]} ({count})" for name, count in counts.items()),
    )


if __name__ == "__main__":
    cli.run(main)

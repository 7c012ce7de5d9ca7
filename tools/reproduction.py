"""After `dvc repro`, check that it reproduced the committed results: the given files (dvc.lock,
metrics/) byte for byte where portable numerics hold (an x86-64 CPU with AVX2 and
`train.numerics: portable`), otherwise test accuracy within 0.005 of the committed figure
(docs/reproducibility.md). Exit 0 if reproduced, 1 if not.

    python -m tools.reproduction --eval-metrics metrics/eval.json dvc.lock metrics
"""

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from stages.shared import cli, params
from stages.train import settings as train_settings
from stages.train import tensorflow_setup
from tools import commands

logger = logging.getLogger(__name__)

# Where the bytes may differ, 50 of the 10,000 test images: room for float rounding, far less
# than any change worth committing.
TOLERANCE = 0.005


def changed_files(paths: Sequence[str]) -> list[str]:
    """Files under `paths` that differ from the last commit: modified, deleted or new."""
    status = commands.git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths)
    return sorted(entry[3:] for entry in status.split("\0") if entry)


def accuracies(eval_metrics: str) -> tuple[float, float]:
    """(committed, reproduced) test accuracy of the eval metrics file."""
    committed = json.loads(commands.git("show", f"HEAD:{eval_metrics}"))["test"]["accuracy"]
    reproduced = json.loads(Path(eval_metrics).read_text())["test"]["accuracy"]
    return committed, reproduced


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", help="files and folders to compare with the commit")
    parser.add_argument("--eval-metrics", required=True, help="eval metrics .json (accuracy)")
    parser.add_argument(
        "--except",
        dest="excepted",
        action="append",
        default=[],
        help="a file under PATHS that differs on every run (the training time): not compared",
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    numerics = params.load(args.params, train_settings.Train).numerics

    limit = tensorflow_setup.portable_here(numerics)
    if limit is None:
        changed = [p for p in changed_files(args.paths) if p not in args.excepted]
        if changed:
            logger.error(
                "not reproduced byte for byte: %s differ from the commit (`git diff` shows how); "
                "after changing code or params, commit what `dvc repro` wrote",
                ", ".join(changed),
            )
            return 1
        logger.info("reproduced byte for byte: %s", ", ".join(args.paths))
        return 0
    committed, reproduced = accuracies(args.eval_metrics)
    gap = abs(reproduced - committed)
    logger.info(
        "%s, so bytes may differ; test accuracy: committed %.4f, reproduced %.4f, gap %.4f "
        "(tolerance %s)",
        limit,
        committed,
        reproduced,
        gap,
        TOLERANCE,
    )
    return 1 if gap > TOLERANCE else 0


if __name__ == "__main__":
    cli.run(main)

"""download stage: fetch the four Fashion-MNIST IDX files from the first source of dataset.yaml
that has a copy whose decompressed SHA-256 matches dataset.yaml's, and write them decompressed to
data/raw/."""

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from stages.download import settings, sources
from stages.shared import artifacts, cli, fashion_mnist, params

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, required=True, help="sources and checksums")
    parser.add_argument("--raw", type=Path, required=True, help="output directory")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    cfg = params.load(args.params, settings.Download)
    dataset = params.load(args.dataset, settings.Dataset)

    with artifacts.outputs() as out:
        tmp = out.directory(args.raw)
        for name in fashion_mnist.RAW_FILES:
            source = sources.fetch_from_first_source(name, dataset, cfg, tmp)
            logger.info("%s: verified, from %s", name, source)
    size = sum(f.stat().st_size for f in args.raw.iterdir())
    logger.info(
        "wrote %d files (%.1f MB) to %s", len(fashion_mnist.RAW_FILES), size / 1e6, args.raw
    )


if __name__ == "__main__":
    cli.run(main)

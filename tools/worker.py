"""This machine's share of multi-worker training (train.distribution: multi_worker): the train
stage's command, as DVC reads it from dvc.yaml, run with this machine's TF_CONFIG. The chief runs
`dvc repro` (or `dvc exp run`); every other machine of the cluster runs, from the repository root:

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 1}}' python -m tools.worker

It trains in step with the chief and keeps nothing: the chief writes the model and the metrics.
"""

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from stages.shared import cli, params
from stages.shared.errors import PipelineError
from stages.train import distribution
from stages.train import settings as train_settings

STAGE = "train"

logger = logging.getLogger(__name__)


def stage_command(root: Path) -> tuple[list[str], list[Path]]:
    """The train stage's command as argv, with this interpreter as `python`, and the paths it
    depends on, as DVC interpolates them from dvc.yaml: no path is spelled here."""
    import dvc.repo

    with dvc.repo.Repo(str(root)) as repo:
        (stage,) = repo.stage.collect(STAGE)
        argv = shlex.split(stage.cmd)
        deps = [Path(repo.root_dir, dep.def_path) for dep in stage.deps]
    if argv[0] == "python":  # dvc.yaml's `python` is the one on PATH; ours has the packages
        argv[0] = sys.executable
    return argv, deps


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.worker", description=__doc__)
    parser.parse_args(argv)
    config = distribution.read_tf_config(os.environ)
    if distribution.is_chief(config):
        raise PipelineError(
            f"TF_CONFIG names {config['task']}, the chief: run `dvc repro` or `dvc exp run` on "
            "this machine; `python -m tools.worker` is for the other machines of the cluster"
        )
    import dvc.exceptions
    import dvc.repo

    try:
        root = Path(dvc.repo.Repo.find_root())
    except dvc.exceptions.NotDvcRepoError as error:
        raise PipelineError(f"{error}: run this from the project's clone") from None
    cfg = params.load(root / "params.yaml", train_settings.Train)
    if cfg.distribution != "multi_worker":
        raise PipelineError(
            f"{root / 'params.yaml'}: train.distribution={cfg.distribution!r}; every machine "
            "needs multi_worker, and the same params.yaml and code as the chief (git pull)"
        )
    command, deps = stage_command(root)
    missing = [str(path.relative_to(root)) for path in deps if not path.exists()]
    if missing:
        raise PipelineError(
            f"missing {', '.join(missing)}: run `dvc pull preprocess` (or `dvc repro "
            "preprocess`) first"
        )
    logger.info("task %s: %s", config["task"], shlex.join(command))
    os.chdir(root)
    # The training replaces this process: a signal reaches it directly, and its exit code is ours.
    os.execv(command[0], command)


if __name__ == "__main__":
    cli.run(main)

"""A copy of this project in a new git + DVC repository, apart from the checkout (its own data,
DVC cache and commits): where the tests and the benchmark run the real `dvc repro`."""

import shutil
from collections.abc import Mapping
from pathlib import Path

from tools import commands

REPO = Path(__file__).resolve().parents[1]
# What `dvc repro` needs: the pipeline, its params, the data set's sources and checksums, and its
# code. And the locks, copied with their dates (as copytree does), so that the Makefile run in the
# copy finds the virtual environment up to date with them.
FILES = (
    "dvc.yaml",
    "params.yaml",
    "params.schema.json",
    "dataset.yaml",
    "dataset.schema.json",
    ".gitignore",
    ".dvcignore",
)
DIRECTORIES = ("stages", "tools", "requirements")


def copy_project(root: Path, env: Mapping[str, str]) -> Path:
    """Copy the pipeline into `root` (a new directory) and make it a git repository on branch
    main, with DVC initialised and everything committed; the commands run with the environment
    `env`. Return `root`."""
    root.mkdir(parents=True)
    for name in FILES:
        shutil.copy(REPO / name, root / name)
    for name in DIRECTORIES:
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    commands.git("init", "-q", "-b", "main", cwd=root, env=env)
    commands.dvc("init", "-q", cwd=root, env=env)
    commands.git("add", "-A", cwd=root, env=env)
    # An identity of its own, which `env` may override: the machine may have none configured.
    identity = ["-c", "user.name=project copy", "-c", "user.email=copy@localhost"]
    commands.git(*identity, "commit", "-q", "-m", "the project, copied", cwd=root, env=env)
    return root

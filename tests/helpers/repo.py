"""A copy of the project in a temporary git + DVC repository (tools/project_copy.py), driven as a
user drives it: DVC, git and make as commands (tools/commands.py)."""

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.project import REPO, write_yaml
from tests.helpers.tiny import TinySource, tiny_dataset, tiny_params
from tools import commands, project_copy

TIMEOUT = 600  # seconds for one command: a hung `dvc repro` fails its test instead of the suite


def user_environment() -> dict[str, str]:
    """This process's environment, with this virtual environment's `python` first on the PATH
    (dvc.yaml's commands run `python`), DVC's analytics off and a git identity."""
    venv_bin = str(Path(sys.executable).parent)
    return dict(
        os.environ,
        PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )


@dataclasses.dataclass
class Repo:
    """A git + DVC repository holding the project, and the environment its commands run in."""

    root: Path
    env: dict[str, str] = dataclasses.field(default_factory=user_environment)

    def attempt(self, *argv: str) -> subprocess.CompletedProcess:
        """Run a command that may fail; its exit code and output are the caller's to check."""
        return commands.attempt(argv, cwd=self.root, env=self.env, timeout=TIMEOUT)

    def run(self, *argv: str) -> str:
        """Run a command; its stdout, or CommandError with its output if it fails."""
        return commands.run(argv, cwd=self.root, env=self.env, timeout=TIMEOUT)

    def dvc(self, *argv: str) -> str:
        return self.run(*commands.dvc_argv(*argv))

    def make_argv(self, target: str, **variables: str) -> list[str]:
        """The project's Makefile run here, with this virtual environment (already set up)."""
        settings = [f"{name}={value}" for name, value in variables.items()]
        return [
            "make",
            "-s",
            "-f",
            str(REPO / "Makefile"),
            f"VENV={sys.prefix}",
            target,
            *settings,
        ]

    def make(self, target: str, **variables: str) -> str:
        return self.run(*self.make_argv(target, **variables))

    def repro(self, *argv: str) -> list[str]:
        """Run `dvc repro`; return the stages it ran, in order."""
        return re.findall(r"Running stage '(\w+)'", self.dvc("repro", *argv))

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)

    def set_params(self, section: str, **values) -> None:
        document = yaml.safe_load((self.root / "params.yaml").read_text())
        document[section].update(values)
        write_yaml(self.root / "params.yaml", document)

    def read_json(self, path: str) -> dict:
        return json.loads((self.root / path).read_text())


def make_repo(root: Path, source: TinySource) -> Repo:
    """The project's pipeline and code in a fresh git + DVC repository, with tiny params and a
    dataset.yaml of the tiny data committed."""
    repo = Repo(root)
    project_copy.copy_project(root, repo.env)
    write_yaml(root / "params.yaml", tiny_params(source))
    write_yaml(root / "dataset.yaml", tiny_dataset(source))
    repo.commit("tiny params and data")
    return repo

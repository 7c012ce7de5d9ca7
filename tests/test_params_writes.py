"""params.yaml survives DVC's writes. `dvc exp run -S key=value` reads the whole file with
ruamel.yaml's round trip, sets the values and writes every line back in ruamel's style
(dvc/utils/hydra.py `apply_overrides`); `dvc exp apply` checks out the bytes it wrote. The file is
committed in that style, so both change the value lines and nothing else; a value that a stage
refuses stays in the file until it is undone (docs/experiments.md)."""

import difflib
import shutil

import pytest
from dvc.utils.hydra import apply_overrides

from tests.helpers.project import REPO
from tests.helpers.repo import Repo
from tools import commands, params_reference

# One key of each kind, and its lines before and after: the only lines that may change.
OVERRIDES = {
    "train.epochs=5": (["  epochs: 30"], ["  epochs: 5"]),  # an int
    "train.learning_rate=1e-3": (["  learning_rate: 0.01"], ["  learning_rate: 0.001"]),  # a float
    "train.batch_norm=true": (["  batch_norm: false"], ["  batch_norm: true"]),  # a boolean
    "preprocess.subset=600": (["  subset:"], ["  subset: 600"]),  # null, written as nothing
    "train.hidden_units=[64,32,16]": (["  - 300", "  - 100"], ["  - 64", "  - 32", "  - 16"]),
    "train.early_stopping.patience=3": (["    patience: 5"], ["    patience: 3"]),  # nested
}
# The same keys set back to the committed values: the committed bytes again.
COMMITTED = [
    "train.epochs=30",
    "train.learning_rate=0.01",
    "train.batch_norm=false",
    "preprocess.subset=null",
    "train.hidden_units=[300,100]",
    "train.early_stopping.patience=5",
]
# The trivial stage: every section of params.yaml loaded as the stages load it, so that a value
# they refuse fails it in their one line.
CHECK = """\
from stages.shared import cli, params
from tools.params_reference import SECTIONS


def main() -> None:
    for section in SECTIONS:
        params.load("params.yaml", section)


cli.run(main)
"""


def _diff(before: str, after: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0))


def _lines_of(diff: str) -> tuple[list[str], list[str]]:
    """The lines that a unified diff removes, and the lines it adds."""
    lines = [line for line in diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
    return (
        [line[1:] for line in lines if line.startswith("-")],
        [line[1:] for line in lines if line.startswith("+")],
    )


def test_params_yaml_is_spelled_as_dvcs_writer_writes_it(tmp_path):
    """DVC's own writer, with nothing to set, gives the committed bytes back."""
    path = shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    apply_overrides(str(path), [])
    assert path.read_bytes() == (REPO / "params.yaml").read_bytes()


@pytest.mark.parametrize("override", OVERRIDES)
def test_dvcs_writer_changes_the_value_lines_only(tmp_path, override):
    path = shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    apply_overrides(str(path), [override])
    before, after = (REPO / "params.yaml").read_text(), path.read_text()
    assert _lines_of(_diff(before, after)) == OVERRIDES[override]


@pytest.fixture
def repo(tmp_path) -> Repo:
    """A git + DVC repository with the project's params.yaml and one trivial stage that depends
    on every section, its code this checkout's (PYTHONPATH)."""
    repo = Repo(tmp_path / "project")
    repo.env["PYTHONPATH"] = str(REPO)
    repo.root.mkdir()
    shutil.copy(REPO / "params.yaml", repo.root / "params.yaml")
    (repo.root / "check.py").write_text(CHECK)
    sections = "".join(f"      - {model.section}\n" for model in params_reference.SECTIONS)
    (repo.root / "dvc.yaml").write_text(
        f"stages:\n  check:\n    cmd: python check.py\n    params:\n{sections}"
    )
    repo.run("git", "init", "-q", "-b", "main")
    repo.dvc("init", "-q")
    repo.commit("the project's params.yaml")
    return repo


def _diff_of_params(repo: Repo) -> tuple[list[str], list[str]]:
    """What `git diff` shows of params.yaml in `repo`: the lines removed, the lines added."""
    return _lines_of(repo.run("git", "diff", "-U0", "params.yaml"))


def _set(*overrides: str) -> list[str]:
    return [word for override in overrides for word in ("-S", override)]


@pytest.mark.e2e
def test_dvc_exp_run_and_apply_change_the_value_lines_only(repo):
    repo.dvc("exp", "run", "-n", "kinds", *_set(*OVERRIDES))
    removed = [line for old, _ in OVERRIDES.values() for line in old]
    added = [line for _, new in OVERRIDES.values() for line in new]
    numstat = repo.run("git", "diff", "--numstat", "params.yaml").split()
    assert numstat == [str(len(added)), str(len(removed)), "params.yaml"]
    assert sorted(_diff_of_params(repo)[0]) == sorted(removed)
    assert sorted(_diff_of_params(repo)[1]) == sorted(added)

    # The old values set again: the committed bytes, null and the list included.
    repo.dvc("exp", "run", "-n", "back", *_set(*COMMITTED))
    assert repo.run("git", "diff", "params.yaml") == ""

    repo.dvc("exp", "apply", "kinds")
    assert sorted(_diff_of_params(repo)[1]) == sorted(added)
    assert repo.run("git", "diff", "--numstat").split() == numstat


@pytest.mark.e2e
def test_a_refused_value_stays_in_params_yaml_until_undone(repo):
    result = repo.attempt(*commands.dvc_argv("exp", "run", "-S", "train.epochs=abc"))
    assert result.returncode != 0
    assert "error: params.yaml: train.epochs='abc': expected int" in result.stderr
    assert _diff_of_params(repo) == (["  epochs: 30"], ["  epochs: abc"])
    assert repo.dvc("exp", "list", "--name-only").strip() == ""  # no experiment kept
    repo.run("git", "checkout", "params.yaml")
    assert repo.run("git", "status", "--porcelain") == ""


@pytest.mark.e2e
def test_an_unknown_key_is_refused_before_params_yaml_is_written(repo):
    result = repo.attempt(*commands.dvc_argv("exp", "run", "-S", "train.epoch=3"))
    assert result.returncode != 0
    assert "Could not override 'train.epoch'" in result.stdout + result.stderr
    assert repo.run("git", "status", "--porcelain") == ""

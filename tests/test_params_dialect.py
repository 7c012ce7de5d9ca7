"""The stages read params.yaml exactly as DVC does (YAML 1.2, duplicate keys refused): what a stage
runs with is what `dvc.lock` and `dvc params diff` record."""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.shared import params
from stages.shared.errors import ParamsError
from stages.train import settings as train_settings
from tests.helpers.project import REPO
from tools import commands


def _params_text(**lines: str) -> str:
    """The committed params.yaml with the line of each `key` (unique in the file) replaced."""
    text = (REPO / "params.yaml").read_text()
    for key, value in lines.items():
        old = next(line for line in text.splitlines() if line.strip().startswith(f"{key}:"))
        indent = old[: len(old) - len(old.lstrip())]
        text = text.replace(old, f"{indent}{key}: {value}", 1)
    return text


def _load_text(tmp_path, text, section=train_settings.Train):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return params.load(path, section)


def test_a_leading_zero_is_decimal_as_for_dvc(tmp_path):
    assert _load_text(tmp_path, _params_text(epochs="010")).epochs == 10  # YAML 1.1: 8


def test_an_exponent_without_a_dot_is_a_float(tmp_path):
    assert _load_text(tmp_path, _params_text(learning_rate="1e-3")).learning_rate == 0.001


@pytest.mark.parametrize(
    ("key", "value", "spelling"),
    [
        ("batch_norm", "yes", "write true"),
        ("batch_norm", "Off", "write false"),
        ("nesterov", '"on"', "write true"),
        ("epochs", "1:30", "write 90"),
    ],
)
def test_yaml_1_1_spellings_are_refused_with_the_1_2_one(tmp_path, key, value, spelling):
    with pytest.raises(ParamsError, match=f"YAML 1.2, which DVC reads, makes .* {spelling}$"):
        _load_text(tmp_path, _params_text(**{key: value}))


def test_duplicate_keys_are_refused_as_dvc_refuses_them(tmp_path):
    text = _params_text(epochs="30\n  epochs: 3")
    with pytest.raises(ParamsError, match='duplicate key "epochs" at line \\d+; keep one'):
        _load_text(tmp_path, text)


# Scalars whose meaning differs between YAML dialects or tools, spelled as a user might.
SCALARS = [
    "010",
    "0o10",
    "0x1F",
    "1_000",
    "1e-3",
    "1.",
    ".5",
    "+1",
    "-0",
    "1:30",
    ".nan",
    ".inf",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "true",
    "True",
    "FALSE",
    "~",
    "null",
    '"2"',
    "'0.1'",
    "3",
]
FIELDS = ["epochs", "learning_rate", "batch_norm", "nesterov", "momentum", "seed", "dropout"]


@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory):
    """An empty git + DVC repository whose dvc.yaml tracks the train params."""
    from dvc.repo import Repo

    root = tmp_path_factory.mktemp("dialect")
    commands.git("init", "-q", cwd=root)
    Repo.init(str(root))
    (root / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: 'true'\n    params:\n      - train\n"
    )
    return root


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(SCALARS), min_size=1, max_size=3))
def test_what_a_stage_accepts_is_what_dvc_records(dvc_repo, lines):
    from dvc.repo import Repo

    text = _params_text(**lines)
    path = dvc_repo / "params.yaml"
    path.write_text(text)
    with Repo(str(dvc_repo)) as repo:
        recorded = repo.params.show()[""]["data"]["params.yaml"]["data"]["train"]
    try:
        cfg = params.load(path, train_settings.Train)
    except ParamsError:
        return  # refused: the stage writes nothing, so nothing can be recorded for these values
    for key in lines:
        assert _same(getattr(cfg, key), recorded[key]) or (
            isinstance(recorded[key], int) and getattr(cfg, key) == float(recorded[key])
        ), (key, lines[key], getattr(cfg, key), recorded[key])


def test_dvc_params_diff_records_the_value_the_stage_runs_with(dvc_repo):
    """The issue's case: `epochs: 010` trained 8 epochs while DVC recorded 10."""
    path = dvc_repo / "params.yaml"
    path.write_text(_params_text(epochs="30"))
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin", "DVC_NO_ANALYTICS": "1"}
    commands.git("add", "-A", cwd=dvc_repo)
    commands.git("commit", "-qm", "base", cwd=dvc_repo, env=env)
    path.write_text(_params_text(epochs="010"))
    diff = commands.dvc("params", "diff", "--json", cwd=dvc_repo)
    recorded = json.loads(diff)["params.yaml"]["train.epochs"]["new"]
    assert recorded == params.load(path, train_settings.Train).epochs == 10

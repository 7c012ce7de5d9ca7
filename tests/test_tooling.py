"""The project's own tooling: hashed, split dependency locks and the git hooks."""

import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from tests.helpers.project import REPO

LOCKS = {name: REPO / "requirements" / f"{name}.lock" for name in ("runtime", "dev")}


def _pins(path) -> dict[str, tuple[str, list[str]]]:
    """{package: (version, [hashes])} of a `uv pip compile --generate-hashes` lock file."""
    pins = {}
    for block in re.split(r"\n(?=[a-z0-9])", path.read_text()):
        found = re.match(r"([a-z0-9._-]+)(?:\[[^\]]*\])?==(\S+)", block)
        if found:
            pins[found[1]] = (found[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>]", requirement)[0].lower()


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_package_has_a_version_and_hashes(lock):
    pins = _pins(LOCKS[lock])
    assert len(pins) > 100
    assert all(hashes for _, hashes in pins.values()), [p for p, (_, h) in pins.items() if not h]


def test_the_runtime_lock_carries_no_development_tool():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime, dev = _pins(LOCKS["runtime"]), _pins(LOCKS["dev"])
    for requirement in project["dependencies"]:
        assert _name(requirement) in runtime, requirement
    for requirement in project["optional-dependencies"]["dev"]:
        assert _name(requirement) not in runtime and _name(requirement) in dev, requirement
    for heavy in ("flask", "docker", "cfn-lint"):  # moto's server's tree
        assert heavy not in runtime and heavy in dev
    assert {p: v for p, (v, _) in runtime.items()} == {p: dev[p][0] for p in runtime}


def test_pyproject_pins_are_the_locked_versions():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dev = _pins(LOCKS["dev"])
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert dev[_name(requirement)][0] == requirement.split("==")[1], requirement


def test_the_git_hooks_are_valid_and_run_the_projects_own_tools():
    config = REPO / ".pre-commit-config.yaml"
    subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(config)], check=True
    )
    hooks = {
        h["id"]: h for repo in yaml.safe_load(config.read_text())["repos"] for h in repo["hooks"]
    }
    assert set(hooks) == {
        "ruff-check",
        "ruff-format",
        "dvc-pre-commit",
        "dvc-pre-push",
        "dvc-post-checkout",
    }
    for hook in hooks.values():
        assert hook["language"] == "system" and ".venv/bin/" in hook["entry"], hook
    makefile = (REPO / "Makefile").read_text()
    assert "ruff check stages tools bench tests" in makefile  # what the hook runs, CI runs

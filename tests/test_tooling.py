"""The project's own tooling: hashed, split dependency locks and the git hooks."""

import os
import re
import subprocess
import sys
import time
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


DPKG_LOCK = "/var/lib/dpkg/lock-frontend"


def _makefile_apt_get() -> list[str]:
    """The apt-get command every apt install of the Makefile runs, as make expands it."""
    printed = subprocess.run(
        ["make", "-s", "--eval", "print-apt-get: ; @echo $(APT_GET)", "print-apt-get"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return printed.stdout.split()


def test_every_apt_get_of_the_makefile_waits_for_the_package_lock():
    makefile = (REPO / "Makefile").read_text()
    assert makefile.count("$(SUDO) apt-get") == 1  # APT_GET's definition: every call uses it
    assert "DPkg::Lock::Timeout=" in " ".join(_makefile_apt_get())
    assert makefile.count("$(APT_WAIT_NOTE); $(APT_GET) update") == makefile.count(
        "$(APT_GET) update"
    )


@pytest.mark.slow
@pytest.mark.skipif(
    sys.platform != "linux" or not os.path.exists(DPKG_LOCK) or os.geteuid() != 0,
    reason="needs Debian's dpkg lock, as root",
)
def test_apt_get_waits_while_another_process_holds_the_dpkg_lock():
    """As unattended upgrades after a boot do: plain apt-get fails at once, the Makefile's waits
    until the lock is free (an installed package, so nothing is downloaded)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'w'); "
            "fcntl.lockf(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(3)",
            DPKG_LOCK,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "held\n"
    install = ["install", "-y", "-qq", "dpkg"]
    plain = subprocess.run(["apt-get", *install], capture_output=True, text=True)
    assert plain.returncode != 0 and "lock" in plain.stderr
    started = time.monotonic()
    waited = subprocess.run([*_makefile_apt_get(), *install], capture_output=True, text=True)
    assert waited.returncode == 0, waited.stderr
    assert holder.wait(timeout=30) == 0
    assert time.monotonic() - started > 1

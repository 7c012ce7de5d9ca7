"""The CI workflow shipped for users, parsed and checked (no packaged actionlint is at hand)."""

import re
import subprocess

import yaml

from tests.helpers.project import REPO

WORKFLOW = REPO / ".github/workflows/pipeline.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps() -> list[dict]:
    """The steps of the job that tests, reproduces and reports."""
    return _workflow()["jobs"]["reproduce"]["steps"]


def _step(uses_or_name: str) -> dict:
    return next(s for s in _steps() if uses_or_name in (s.get("uses", ""), s.get("name")))


def test_runs_on_pull_requests_and_pushes_to_main():
    triggers = _workflow()[True]  # YAML 1.1 reads the key `on` as True
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]


def test_checkout_fetches_the_base_revision():
    assert _step("actions/checkout@v4")["with"]["fetch-depth"] == 0


def test_python_311_with_pip_caching_keyed_on_the_lock():
    setup = _step("actions/setup-python@v5")["with"]
    assert (setup["python-version"], setup["cache"]) == ("3.11", "pip")
    assert setup["cache-dependency-path"] == "requirements/*.lock"


def test_tests_docs_then_repro_pulling_from_a_remote_when_one_exists_then_the_report():
    names = [s.get("name") for s in _steps() if "run" in s]
    assert names == ["Lint", "Test", "Docs", "Reproduce", "Report", "Compare", "Share"]
    assert _step("Lint")["run"].strip() == "make lint"
    assert _step("Test")["run"].strip() == "make test"
    assert _step("Docs")["run"].strip() == "make docs"
    assert "dvc repro --pull --allow-missing" in _step("Reproduce")["run"]
    report = _step("Report")["run"]
    assert 'make report BASE="$BASE"' in report and '>> "$GITHUB_STEP_SUMMARY"' in report
    upload = _step("actions/upload-artifact@v4")
    assert upload["with"]["path"] == "report/" and upload["if"] == "always()"


def test_the_reproduction_is_compared_with_the_commit_as_in_ci_before_it_is_shared():
    compare = _step("Compare")["run"].strip()
    check = (
        "-m tools.reproduction --eval-metrics metrics/eval.json --except metrics/time.json "
        "dvc.lock metrics"
    )
    assert compare == f".venv/bin/python {check}"
    assert f"python {check}" in (REPO / ".ci/run").read_text()


def test_main_pushes_its_results_to_the_remote_with_credentials_from_secrets():
    share = _step("Share")
    assert share["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert "make push" in share["run"]
    job = _workflow()["jobs"]["reproduce"]
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert job["env"][variable] == f"${{{{ secrets.{variable} }}}}"


def test_every_make_target_it_runs_exists():
    targets = set(re.findall(r"^([a-z0-9-]+):", (REPO / "Makefile").read_text(), re.M))
    for step in _steps():
        for target in re.findall(r"make (\w+)", step.get("run", "")):
            assert target in targets


def test_every_run_script_is_valid_bash():
    for step in _steps():
        if "run" in step:
            result = subprocess.run(
                ["bash", "-n"], input=step["run"], capture_output=True, text=True
            )
            assert result.returncode == 0, (step.get("name"), result.stderr)


def test_a_pull_request_gets_one_report_comment_updated_on_each_push():
    workflow = _workflow()
    assert workflow["permissions"] == {"contents": "read"}
    comment = workflow["jobs"]["comment"]
    assert comment["if"] == "github.event_name == 'pull_request'"
    assert comment["needs"] == "reproduce"
    assert comment["permissions"] == {"pull-requests": "write"}  # this job alone
    assert "permissions" not in workflow["jobs"]["reproduce"]
    download, sticky = comment["steps"]
    assert download["uses"] == "actions/download-artifact@v4"
    assert download["with"] == {"name": "pipeline-report", "path": "report"}
    upload = _step("actions/upload-artifact@v4")
    assert upload["with"]["name"] == download["with"]["name"]
    # The same header finds the earlier comment, which is edited instead of duplicated.
    assert sticky["uses"] == "marocchino/sticky-pull-request-comment@v2"
    assert sticky["with"] == {"header": "pipeline-report", "path": "report/summary.md"}
    assert "report/summary.md" in _step("Report")["run"]

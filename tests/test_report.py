"""Experiments and branch reports, end to end, in a temporary git repository with tiny data."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import sync_playwright

from tests.helpers.project import REPO, file_tree
from tests.helpers.repo import Repo, make_repo

pytestmark = pytest.mark.e2e


def _report(repo, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.report", *argv],
        cwd=repo.root,
        env=repo.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def branched(tmp_path_factory, tiny_source):
    """A baseline committed on main, and a branch that changed the learning rate and reran."""
    repo = make_repo(tmp_path_factory.mktemp("branched") / "project", tiny_source)
    repo.repro()
    repo.commit("baseline")
    repo.run("git", "checkout", "-q", "-b", "faster")
    repo.set_params("train", learning_rate=0.2)
    assert repo.repro() == ["train", "evaluate", "predict"]
    repo.commit("learning rate 0.2")
    return repo


@pytest.fixture(scope="module")
def report(branched) -> Path:
    """`python -m tools.report --base main` on the branch: the report directory."""
    result = _report(branched, "--base", "main", "--out", "report")
    assert result.returncode == 0, result.stderr
    return branched.root / "report"


def test_report_has_both_tables_and_every_plot_as_an_image(branched, report):
    params_diff = json.loads(branched.dvc("params", "diff", "main", "--json"))
    change = params_diff["params.yaml"]["train.learning_rate"]
    assert (change["old"], change["new"]) == (0.05, 0.2)
    metrics_diff = json.loads(branched.dvc("metrics", "diff", "main", "--json"))
    assert "accuracy" in metrics_diff["metrics/eval.json"]

    markdown = (report / "report.md").read_text()
    assert re.search(r"\| params.yaml +\| train.learning_rate +\| 0.05 +\| 0.2 +\|", markdown)
    assert re.search(r"\| metrics/eval.json +\| accuracy ", markdown)
    images = re.findall(r"!\[[^]]*\]\((plots/[^)]+)\)", markdown)
    for image in images:
        assert (report / image).read_bytes()[:4] == b"\x89PNG", image
    names = " ".join(images)
    for expected in ("Loss", "Accuracy", "metrics_confusion.png", "metrics_curves_main"):
        assert expected in names
    summary = (report / "summary.md").read_text()
    assert "train.learning_rate" in summary and "![" not in summary


def test_report_refuses_a_base_missing_from_the_clone(branched, tmp_path):
    result = _report(branched, "--base", "no-such-branch", "--out", str(tmp_path / "report"))
    assert result.returncode == 2
    assert "'no-such-branch' is not in this clone (a shallow clone?)" in result.stderr
    assert not (tmp_path / "report").exists()


def test_report_fails_when_dvc_cannot_load_a_metrics_file(branched, tmp_path):
    (branched.root / "metrics/eval.json").write_text("{ not json")
    try:
        result = _report(branched, "--base", "main", "--out", str(tmp_path / "report"))
    finally:
        branched.run("git", "checkout", "metrics/eval.json")
    assert result.returncode == 2
    assert "metrics/eval.json" in result.stderr
    assert not (tmp_path / "report").exists()


@pytest.fixture(scope="module")
def plotted(tmp_path_factory) -> Repo:
    """A git + DVC repository with one metric and two plots (a data series and an image) committed
    on main, and no pipeline: what `tools.report` needs, in seconds."""
    repo = Repo(tmp_path_factory.mktemp("plotted") / "project")
    repo.env["PYTHONPATH"] = str(REPO)  # tools.report, from this checkout
    (repo.root / "metrics").mkdir(parents=True)
    (repo.root / "metrics/eval.json").write_text('{"accuracy": 0.5}\n')
    (repo.root / "metrics/curve.csv").write_text("step,loss\n0,1.0\n1,0.5\n")
    Image.new("RGB", (4, 4), (200, 10, 10)).save(repo.root / "metrics/picture.png")
    (repo.root / "dvc.yaml").write_text(
        "metrics:\n- metrics/eval.json\nplots:\n- metrics/curve.csv:\n    x: step\n"
        "    y: loss\n- metrics/picture.png\n"
    )
    repo.run("git", "init", "-q", "-b", "main")
    repo.dvc("init", "-q")
    repo.commit("metrics and plots")
    return repo


@pytest.mark.parametrize("out", ["mine", "metrics", "metrics/eval.json"])
def test_report_refuses_to_replace_what_it_did_not_write(plotted, out):
    (plotted.root / "mine").mkdir(exist_ok=True)
    (plotted.root / "mine/keep").write_text("x")
    before = file_tree(plotted.root)

    result = _report(plotted, "--base", "main", "--out", out)

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: --out {out}: ") and result.stderr.count("\n") == 1
    assert "name a" in result.stderr
    assert file_tree(plotted.root) == before


def test_a_previous_report_is_replaced_unless_it_holds_a_file_of_yours(plotted):
    for _ in range(2):  # `make report` twice: the second replaces the first
        result = _report(plotted, "--base", "main", "--out", "report")
        assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (plotted.root / "report").iterdir())
    assert written == ["index.html", "plots", "report.md", "summary.md"]
    (plotted.root / "report/notes.txt").write_text("mine")

    result = _report(plotted, "--base", "main", "--out", "report")

    assert result.returncode == 2
    assert "report: holds notes.txt, which the report does not write" in result.stderr
    assert (plotted.root / "report/notes.txt").read_text() == "mine"


def test_experiment_with_a_set_param_shows_in_exp_show_and_leaves_dvc_yaml_alone(repo):
    before = hashlib.sha256((repo.root / "dvc.yaml").read_bytes()).hexdigest()
    repo.repro()
    repo.commit("baseline")
    output = repo.dvc("exp", "run", "-S", "train.epochs=3", "-n", "three-epochs")
    assert "Running stage 'train'" in output and "Running stage 'preprocess'" not in output
    experiments = json.loads(repo.dvc("exp", "show", "--json"))
    names = [
        exp["name"]
        for commit in experiments
        for branch in commit.get("experiments") or []
        for exp in branch["revs"]
    ]
    assert "three-epochs" in names
    workspace = next(commit for commit in experiments if commit["rev"] == "workspace")
    params = workspace["data"]["params"]["params.yaml"]["data"]
    assert params["train"]["epochs"] == 3
    metrics = workspace["data"]["metrics"]["metrics/train/metrics.json"]["data"]
    assert metrics["epochs_run"] == 3
    assert hashlib.sha256((repo.root / "dvc.yaml").read_bytes()).hexdigest() == before


# Debian's chromium (`make browser` installs it), with every background connection switched off:
# the page must draw with no network at all.
CHROMIUM = "chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# For each chart, the box around the marks that draw its data (lines, bars, cells; not the axes
# nor the legend), in page coordinates: null when no mark has a size, as when no data is drawn.
MARKS_BOX = """charts => charts.map((chart) => {
  const boxes = [...chart.querySelectorAll("svg .role-mark")]
    .map((mark) => mark.getBoundingClientRect()).filter((box) => box.width && box.height);
  if (!boxes.length) return null;
  const edge = (side, pick) => pick(...boxes.map((box) => box[side]));
  return [edge("left", Math.min) + scrollX, edge("top", Math.min) + scrollY,
          edge("right", Math.max) + scrollX, edge("bottom", Math.max) + scrollY];
})"""


def _open_offline(page_file: Path, profile: Path, screenshot: Path) -> dict:
    """Open `page_file` in headless Chromium, offline; wait until every chart is drawn, hover
    the confusion matrix, save a full-page screenshot. Return what a test checks: the console's
    errors, the requests that left the file, the box of each chart's marks, each image's width,
    the tooltip."""
    executable = shutil.which(CHROMIUM)
    if executable is None:
        pytest.fail("chromium is not installed: run `make browser` (Debian's chromium package)")
    seen = {"errors": [], "requests": []}
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            offline=True,
            viewport={"width": 1400, "height": 900},
        )
        context.route(
            re.compile(r"^(?!file:)"),
            lambda route: (seen["requests"].append(route.request.url), route.abort()),
        )
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
        page.on("pageerror", lambda error: seen["errors"].append(str(error)))
        page.goto(page_file.as_uri())
        page.wait_for_selector("body[data-rendered]", timeout=60_000)
        seen["headings"] = page.locator("h3").all_inner_texts()
        seen["charts"] = page.eval_on_selector_all(".chart", MARKS_BOX)
        seen["images"] = page.eval_on_selector_all(
            "img", "images => images.map(i => i.naturalWidth)"
        )
        page.screenshot(path=screenshot, full_page=True)
        confusion = page.locator("section", has_text="metrics/confusion.csv").locator(".chart")
        confusion.locator("g.mark-rect path").first.hover(force=True)  # a cell of the matrix
        tooltip = page.locator("#vg-tooltip-element")
        tooltip.wait_for(state="visible", timeout=5_000)
        seen["tooltip"] = tooltip.inner_text()
        context.close()
    return seen


def test_report_page_draws_every_plot_of_both_revisions_offline(branched, report, tmp_path):
    plots = json.loads(branched.dvc("plots", "diff", "main", "--json"))["data"]
    revisions = {
        plot_id: sorted(revision for entry in entries for revision in entry["revisions"])
        for plot_id, entries in plots.items()
    }
    assert all(both == ["main", "workspace"] for both in revisions.values())
    kinds = [entry["type"] for entries in plots.values() for entry in entries]
    screenshot = tmp_path / "report.png"
    seen = _open_offline(report / "index.html", tmp_path / "profile", screenshot)

    assert seen["errors"] == [] and seen["requests"] == []
    assert seen["headings"] == list(plots)
    assert len(seen["charts"]) == kinds.count("vega") > 0
    assert len(seen["images"]) == kinds.count("image") > 0
    assert all(width > 0 for width in seen["images"])
    pixels = np.asarray(Image.open(screenshot).convert("RGB")).astype(int)
    for n, box in enumerate(seen["charts"]):
        assert box is not None, f"chart {n} draws no data"
        left, top, right, bottom = map(round, box)
        area = pixels[top:bottom, left:right]
        coloured = (area.max(axis=2) - area.min(axis=2) > 60).mean()  # the marks, not grey axes
        assert coloured > 0.003, f"chart {n}: its data area {box} is blank"
    assert "actual" in seen["tooltip"] and "predicted" in seen["tooltip"]

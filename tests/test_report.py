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
import vl_convert
from PIL import Image
from playwright.sync_api import sync_playwright

from stages.shared.fashion_mnist import CLASS_NAMES
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


def _tables(markdown: str) -> list[list[list[str]]]:
    """Each Markdown table in `markdown`: its rows, the header first, as lists of cells."""
    tables, rows = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            if not set(line) <= set("|-"):
                rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            tables, rows = [*tables, rows], []
    return tables


def _rows_by_key(table: list[list[str]]) -> dict[str, list[str]]:
    """A table's rows by their second cell (the metric or param), without the header."""
    return {row[1]: row for row in table[1:]}


@pytest.fixture(scope="module")
def branched(tmp_path_factory, tiny_source):
    """A baseline committed on main, an experiment of it (`three-epochs`, run in a temporary
    copy), and a branch that changed the learning rate and reran."""
    repo = make_repo(tmp_path_factory.mktemp("branched") / "project", tiny_source)
    repo.repro()
    repo.commit("baseline")
    repo.dvc("exp", "run", "--temp", "-S", "train.epochs=3", "-n", "three-epochs")
    repo.run("git", "checkout", "-q", "-b", "faster")
    repo.set_params("train", learning_rate=0.2)
    assert repo.repro() == ["train", "evaluate", "predict"]
    repo.commit("learning rate 0.2")
    return repo


REVISIONS = ("main", "three-epochs", "workspace")


@pytest.fixture(scope="module")
def report(branched) -> Path:
    """`python -m tools.report main three-epochs workspace` on the branch: a commit (main's),
    an experiment's name and the workspace. The report directory."""
    result = _report(branched, *REVISIONS, "--out", "report")
    assert result.returncode == 0, result.stderr
    return branched.root / "report"


@pytest.mark.slow
def test_report_compares_a_commit_an_experiment_and_the_workspace(branched, report):
    summary = (report / "summary.md").read_text()
    metrics, params = _tables(summary)
    assert metrics[0] == [
        "Path",
        "Metric",
        "main",
        "three-epochs",
        "Change (three-epochs)",
        "workspace",
        "Change (workspace)",
    ]
    assert [row[:2] for row in metrics[1:7]] == [
        ["metrics/eval.json", "test.accuracy"],
        ["metrics/eval.json", "test.macro_f1"],
        ["metrics/eval.json", "test.loss"],
        ["metrics/eval.json", "val.accuracy"],  # the shipped model's, then dvclive's below
        ["metrics/eval.json", "val.loss"],
        ["metrics/time.json", "train_seconds"],
    ]
    shown = json.loads(branched.dvc("metrics", "show", "--json"))[""]["data"]
    accuracy = _rows_by_key(metrics)["test.accuracy"]
    assert accuracy[5] == str(round(shown["metrics/eval.json"]["data"]["test"]["accuracy"], 5))
    seconds = _rows_by_key(metrics)["train_seconds"]
    assert seconds[0] == "metrics/time.json"
    assert all(re.fullmatch(r"\d+\.\d+", seconds[n]) for n in (2, 3, 5))  # each revision's
    assert _rows_by_key(params)["train.epochs"][2:] == ["2", "3", "2"]
    assert _rows_by_key(params)["train.learning_rate"][2:] == ["0.05", "0.05", "0.2"]
    assert "![" not in summary

    markdown = (report / "report.md").read_text()
    assert _tables(markdown) == [metrics, params]
    images = re.findall(r"!\[[^]]*\]\((plots/[^)]+)\)", markdown)
    for image in images:
        assert (report / image).read_bytes()[:4] == b"\x89PNG", image
    names = " ".join(images)
    for expected in (
        "Loss",
        "Accuracy",
        "metrics_confusion.png",
        "metrics_curves_main",
        "metrics_curves_three_epochs",
        "metrics_curves_workspace",
    ):
        assert expected in names


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> Repo:
    """A git + DVC repository with no pipeline, only what `tools.report` reads, in seconds:
    tags v0 and v1 hold metrics but neither plots nor metrics/time.json (which their dvc.yaml
    declares, as on a commit made before the train stage wrote it); main adds the time, a
    confusion matrix, a curve and a picture; the experiment `better` (from main, `dvc exp save`)
    has a higher learning rate, better test metrics and a longer training time."""
    repo = Repo(tmp_path_factory.mktemp("compared") / "project")
    repo.env["PYTHONPATH"] = str(REPO)  # tools.report, from this checkout
    root = repo.root
    (root / "metrics/train").mkdir(parents=True)
    repo.run("git", "init", "-q", "-b", "main")
    repo.dvc("init", "-q")
    dvc_yaml = (
        "params:\n- params.yaml\nmetrics:\n- metrics/eval.json\n- metrics/train/metrics.json\n"
    )
    dvc_yaml += "- metrics/time.json\n"
    (root / "dvc.yaml").write_text(dvc_yaml)
    for tag, accuracy in (("v0", 0.8), ("v1", 0.82)):
        _write_run(root, accuracy=accuracy, loss=0.5, macro_f1=accuracy - 0.01, lr=0.05)
        repo.commit(tag)
        repo.run("git", "tag", tag)
    (root / "dvc.yaml").write_text(
        dvc_yaml + "plots:\n- metrics/confusion.csv:\n    template: confusion\n"
        "    x: predicted\n    y: actual\n- metrics/curve.tsv:\n    x: step\n    y: loss\n"
        "- metrics/picture.png\n"
    )
    _write_run(root, accuracy=0.84, loss=0.46, macro_f1=0.83, lr=0.05, seconds=10.0)
    repo.commit("time and plots")
    _write_run(root, accuracy=0.9, loss=0.3, macro_f1=0.88, lr=0.1, seconds=12.5)
    repo.dvc("exp", "save", "-q", "-n", "better")
    repo.run("git", "checkout", "-q", "--", ".")
    return repo


def _write_run(root: Path, *, accuracy, loss, macro_f1, lr, seconds=None) -> None:
    """What a run leaves in metrics/ (in the layout of metrics/*.json's contract), params.yaml
    and, with `seconds`, metrics/time.json and the plots."""
    (root / "params.yaml").write_text(f"train:\n  epochs: 2\n  learning_rate: {lr}\n")
    test = {"accuracy": accuracy, "loss": loss, "macro_f1": macro_f1}
    (root / "metrics/eval.json").write_text(json.dumps({"test": test}))
    val = {"accuracy": accuracy + 0.01, "loss": loss - 0.02}
    train = {"val": val, "train": {"accuracy": 0.95, "loss": 0.1}, "epochs_run": 2}
    (root / "metrics/train/metrics.json").write_text(json.dumps(train))
    if seconds is None:
        return
    time = {
        "train_seconds": seconds,
        "seconds_per_epoch": seconds / 2,
        "images_per_second": round(1000 / seconds),
    }
    (root / "metrics/time.json").write_text(json.dumps(time))
    # Alphabetically Ankle boot would come first and T-shirt/top last.
    pairs = [("T-shirt/top", "T-shirt/top"), ("Trouser", "Trouser"), ("Ankle boot", "Bag")]
    (root / "metrics/confusion.csv").write_text(
        "actual,predicted\n" + "".join(f"{a},{p}\n" for a, p in pairs)
    )
    (root / "metrics/curve.tsv").write_text(f"step\tloss\n0\t1.0\n1\t{loss}\n")
    Image.new("RGB", (4, 4), (200, round(accuracy * 100), 10)).save(root / "metrics/picture.png")


@pytest.fixture(scope="module")
def three_revisions(compared, tmp_path_factory) -> Path:
    """The folder of one report of main, the experiment better and v0, which several tests read."""
    out = tmp_path_factory.mktemp("three-revisions") / "report"
    result = _report(compared, "main", "better", "v0", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_metrics_in_reading_order_each_marked_better_or_worse_than_the_base(three_revisions):
    summary = (three_revisions / "summary.md").read_text()
    metrics, params = _tables(summary)
    assert metrics[0] == [
        "Path",
        "Metric",
        "main",
        "better",
        "Change (better)",
        "v0",
        "Change (v0)",
    ]
    assert metrics[1:9] == [
        [
            "metrics/eval.json",
            "test.accuracy",
            "0.84",
            "0.9",
            "+0.06 ✓ better",
            "0.8",
            "-0.04 ✗ worse",
        ],
        [
            "metrics/eval.json",
            "test.macro_f1",
            "0.83",
            "0.88",
            "+0.05 ✓ better",
            "0.79",
            "-0.04 ✗ worse",
        ],
        [
            "metrics/eval.json",
            "test.loss",
            "0.46",
            "0.3",
            "-0.16 ✓ better",
            "0.5",
            "+0.04 ✗ worse",
        ],
        # v0 was committed before metrics/time.json was written: "-", not a failure.
        ["metrics/time.json", "train_seconds", "10.0", "12.5", "+2.5 ✗ worse", "-", "-"],
        ["metrics/time.json", "seconds_per_epoch", "5.0", "6.25", "+1.25 ✗ worse", "-", "-"],
        ["metrics/time.json", "images_per_second", "100", "80", "-20 ✗ worse", "-", "-"],
        [
            "metrics/train/metrics.json",
            "val.accuracy",
            "0.85",
            "0.91",
            "+0.06 ✓ better",
            "0.81",
            "-0.04 ✗ worse",
        ],
        [
            "metrics/train/metrics.json",
            "val.loss",
            "0.44",
            "0.28",
            "-0.16 ✓ better",
            "0.48",
            "+0.04 ✗ worse",
        ],
    ]
    # The rest: only what differs (train.* and epochs_run are the same everywhere).
    assert metrics[9:] == []
    assert "3 more metrics: the same in every revision." in summary
    assert params == [
        ["Path", "Param", "main", "better", "v0"],
        ["params.yaml", "train.learning_rate", "0.05", "0.1", "0.05"],
    ]
    assert re.search(
        r"Base: main \([0-9a-f]{7}\)\. Compared with it: better \([0-9a-f]{7}\)"
        r", v0 \([0-9a-f]{7}\)\.",
        summary,
    )
    page = (three_revisions / "index.html").read_text()
    assert '<td class="number better">+0.06 ✓ better</td>' in page
    assert '<td class="number worse">+2.5 ✗ worse</td>' in page


@pytest.mark.slow
def test_an_experiment_name_can_be_the_base(compared, tmp_path):
    result = _report(compared, "better", "main", "--out", str(tmp_path / "report"))

    assert result.returncode == 0, result.stderr
    summary = (tmp_path / "report/summary.md").read_text()
    assert summary.startswith("# Pipeline report: main against better\n")
    accuracy = _rows_by_key(_tables(summary)[0])["test.accuracy"]
    assert accuracy[2:] == ["0.9", "0.84", "-0.06 ✗ worse"]


@pytest.mark.slow
def test_one_revision_is_compared_with_the_workspace_as_dvc_does(compared, tmp_path):
    result = _report(compared, "v1", "--out", str(tmp_path / "report"))

    assert result.returncode == 0, result.stderr
    summary = (tmp_path / "report/summary.md").read_text()
    assert summary.startswith("# Pipeline report: workspace against v1\n")
    assert _rows_by_key(_tables(summary)[0])["test.accuracy"][2:] == [
        "0.82",
        "0.84",
        "+0.02 ✓ better",
    ]


@pytest.mark.slow
def test_revisions_without_plots_make_a_report_that_says_so(compared, tmp_path):
    result = _report(compared, "v0", "v1", "--out", str(tmp_path / "report"))

    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "report/report.md").read_text()
    assert "## Plots\n\nNo revision has plots.\n" in markdown
    assert "<p>No revision has plots.</p>" in (tmp_path / "report/index.html").read_text()
    assert list((tmp_path / "report/plots").iterdir()) == []
    assert _rows_by_key(_tables(markdown)[0])["test.accuracy"][2:] == [
        "0.8",
        "0.82",
        "+0.02 ✓ better",
    ]


@pytest.mark.slow
def test_a_plot_missing_from_a_revision_is_drawn_for_the_others(compared, tmp_path):
    (compared.root / "metrics/picture.png").unlink()
    try:
        result = _report(compared, "v0", "main", "workspace", "--out", str(tmp_path / "report"))
    finally:
        compared.run("git", "checkout", "--", "metrics/picture.png")

    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "report/report.md").read_text()
    sections = dict(re.findall(r"^### (\S+)\n\n(.*?)(?=^### |\Z)", markdown, re.M | re.S))
    assert list(sections) == ["metrics/confusion.csv", "metrics/curve.tsv", "metrics/picture.png"]
    assert sections["metrics/curve.tsv"].rstrip().endswith("No data in v0.")
    picture = sections["metrics/picture.png"]
    assert "(plots/metrics_picture_main.png)" in picture and "workspace)" not in picture
    assert picture.rstrip().endswith("No data in v0, workspace.")


def test_every_confusion_matrix_is_in_label_order(three_revisions):
    page = (three_revisions / "index.html").read_text()
    specs = [
        json.loads(text.replace("<\\/", "</"))
        for text in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page)
    ]
    (confusion,) = [spec for spec in specs if "facet" in spec]
    encoding = confusion["spec"]["encoding"]
    assert encoding["x"]["sort"] == encoding["y"]["sort"] == list(CLASS_NAMES)
    # The same spec draws the PNG: in vl-convert's SVG of it, each axis lists its labels in
    # label order (alphabetically, Ankle boot and Bag would come first).
    runs = [[]]
    for text in re.findall(r">([^<>]+)</text>", vl_convert.vegalite_to_svg(confusion)):
        if text in CLASS_NAMES:
            runs[-1].append(text)
        elif runs[-1]:
            runs.append([])
    assert ["T-shirt/top", "Trouser", "Ankle boot"] in runs  # actual
    assert ["T-shirt/top", "Trouser", "Bag"] in runs  # predicted
    assert all(run == sorted(run, key=CLASS_NAMES.index) for run in runs)


@pytest.mark.parametrize(
    ("revisions", "message"),
    [
        (["no-such-branch"], "revision 'no-such-branch' is not in this clone (a shallow clone?)"),
        (["main", "nope"], "revision 'nope' is not in this clone (a shallow clone?)"),
        (["main", "HEAD"], "revisions 'main' and 'HEAD' are the same commit ("),
        (["v0", "workspace", "workspace"], "revision 'workspace' is named twice: name it once"),
    ],
)
def test_a_revision_missing_or_named_twice_stops_the_report(
    compared, tmp_path, revisions, message
):
    result = _report(compared, *revisions, "--out", str(tmp_path / "report"))

    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize(
    ("path", "content"),
    [("metrics/eval.json", b"{ not json"), ("metrics/curve.tsv", b"\xff\xfe\x00 not text")],
)
def test_a_file_dvc_cannot_read_stops_the_report(compared, tmp_path, path, content):
    (compared.root / path).write_bytes(content)
    try:
        result = _report(compared, "main", "--out", str(tmp_path / "report"))
    finally:
        compared.run("git", "checkout", "--", path)

    assert result.returncode == 2
    assert result.stderr.startswith(f"error: DVC cannot read {path} in workspace (")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "report").exists()


def test_the_make_target_passes_base_or_revs():
    def command(**variables: str) -> str:
        """The report's command in `make report`'s dry run (-n: nothing runs) in this checkout."""
        settings = [f"{name}={value}" for name, value in variables.items()]
        argv = ["make", "-n", "-s", "report", *settings]
        dry_run = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=True)
        (line,) = [line for line in dry_run.stdout.splitlines() if "tools.report" in line]
        return line.split("python -m ", 1)[1]

    assert command() == "tools.report main --out report"
    assert command(BASE="origin/main") == "tools.report origin/main --out report"
    assert command(REVS="main exp-a workspace") == "tools.report main exp-a workspace --out report"


@pytest.mark.parametrize("out", ["mine", "metrics", "metrics/eval.json"])
def test_report_refuses_to_replace_what_it_did_not_write(compared, out):
    (compared.root / "mine").mkdir(exist_ok=True)
    (compared.root / "mine/keep").write_text("x")
    before = file_tree(compared.root)

    result = _report(compared, "main", "--out", out)

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: --out {out}: ") and result.stderr.count("\n") == 1
    assert "name a" in result.stderr
    assert file_tree(compared.root) == before


@pytest.mark.slow
def test_a_previous_report_is_replaced_unless_it_holds_a_file_of_yours(compared):
    for _ in range(2):  # `make report` twice: the second replaces the first
        result = _report(compared, "main", "--out", "report")
        assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (compared.root / "report").iterdir())
    assert written == ["index.html", "plots", "report.md", "summary.md"]
    (compared.root / "report/notes.txt").write_text("mine")

    result = _report(compared, "main", "--out", "report")

    assert result.returncode == 2
    assert "report: holds notes.txt, which the report does not write" in result.stderr
    assert (compared.root / "report/notes.txt").read_text() == "mine"


@pytest.mark.slow
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


# The labels of each axis of a chart, as drawn, in order.
AXIS_LABELS = """chart => [...chart.querySelectorAll("svg g.role-axis")].map((axis) =>
  [...axis.querySelectorAll(".role-axis-label text")].map((label) => label.textContent))"""


def _open_offline(page_file: Path, profile: Path, screenshot: Path) -> dict:
    """Open `page_file` in headless Chromium, offline; wait until every chart is drawn, hover
    the confusion matrix, save a full-page screenshot. Return what a test checks: the console's
    errors, the requests that left the file, the box of each chart's marks, each image's width,
    the tooltip, the confusion matrix's axis labels, the metrics table's header and the cells
    marked better or worse."""
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
        seen["axes"] = confusion.evaluate(AXIS_LABELS)
        seen["metrics header"] = page.locator("table").first.locator("th").all_inner_texts()
        seen["marked"] = page.locator("td.better, td.worse").all_inner_texts()
        context.close()
    return seen


@pytest.mark.slow
def test_report_page_draws_every_plot_of_three_revisions_offline(branched, report, tmp_path):
    plots = json.loads(branched.dvc("plots", "diff", *REVISIONS, "--json"))["data"]
    revisions = {
        plot_id: sorted(revision for entry in entries for revision in entry["revisions"])
        for plot_id, entries in plots.items()
    }
    assert all(each == sorted(REVISIONS) for each in revisions.values())
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
    # The confusion matrices in label order: every test class is an actual label.
    class_axes = [axis for axis in seen["axes"] if axis and set(axis) <= set(CLASS_NAMES)]
    assert list(CLASS_NAMES) in class_axes
    assert all(axis == sorted(axis, key=CLASS_NAMES.index) for axis in class_axes)
    header = seen["metrics header"]
    assert [name for name in header[2:] if not name.startswith("Change")] == list(REVISIONS)
    assert seen["marked"] and all(re.search(r" (✓ better|✗ worse)$", t) for t in seen["marked"])

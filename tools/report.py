"""Compare the workspace with a base revision as a pull-request comment should: the params and
metrics that changed, as Markdown tables, and every plot of both revisions, rendered offline.

    python -m tools.report --base main --out report      (or: make report BASE=main)

Writes <out>/report.md (tables and images), <out>/summary.md (tables only, for a CI job summary),
<out>/plots/*.png and <out>/index.html (one interactive page that works offline, drawn by
tools.report_page). <out> is replaced as a whole, so it must be new, empty or a previous report:
a folder holding anything else is refused. Fails, naming the fix, when the base revision is not in
the clone or when DVC cannot load a metrics or plots file (which `dvc metrics diff` reports with
exit code 0)."""

import argparse
import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import vl_convert

from stages.shared import artifacts, cli
from stages.shared.errors import PipelineError
from tools import commands, report_page

WORKSPACE = "workspace"
# What the report writes into its folder: the only entries a folder it may replace can hold.
REPORT_FILES = ("index.html", "report.md", "summary.md")
PLOTS = "plots"


def dvc(*argv: str) -> str:
    """Run DVC; raise PipelineError also if it could not load a file, which it reports but exits
    0 for."""
    result = commands.attempt(commands.dvc_argv(*argv))
    output = result.stdout + result.stderr
    if result.returncode != 0 or re.search(r"failed to load|unable to read", output, re.I):
        raise commands.CommandError(commands.dvc_argv(*argv), result)
    return result.stdout


def check_revision(base: str) -> None:
    """Raise PipelineError unless `base` names a commit of this clone."""
    try:
        commands.git("rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except PipelineError:
        raise PipelineError(
            f"base revision {base!r} is not in this clone (a shallow clone?): fetch it, e.g. "
            f"`git fetch origin {base}`, or check out with `fetch-depth: 0` in CI"
        ) from None


def foreign_entries(out_dir: Path) -> list[str]:
    """The entries of `out_dir` that a report does not write (its files, and PNGs in plots/)."""
    foreign = []
    for entry in sorted(out_dir.iterdir()):
        if entry.name == PLOTS and entry.is_dir() and not entry.is_symlink():
            foreign += [
                f"{PLOTS}/{p.name}"
                for p in sorted(entry.iterdir())
                if p.suffix != ".png" or not p.is_file() or p.is_symlink()
            ]
        elif entry.name not in REPORT_FILES or not entry.is_file() or entry.is_symlink():
            foreign.append(entry.name)
    return foreign


def check_out_dir(out_dir: Path) -> None:
    """Raise PipelineError unless `out_dir` is new, empty or a previous report: the report
    replaces the whole folder, and must not delete what it did not write."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise PipelineError(
            f"--out {out_dir}: a file or a symbolic link, which the report would replace; name "
            "a folder, e.g. report"
        )
    if not out_dir.exists():
        return
    foreign = foreign_entries(out_dir)
    if foreign:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise PipelineError(
            f"--out {out_dir}: holds {shown}, which the report does not write and would "
            "delete; name a new or empty folder, or a previous report's (e.g. report)"
        )


def plot_file_name(plot_id: str, revision: str | None = None) -> str:
    """A file name for a plot id such as 'metrics/confusion.csv' or 'Loss'."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", Path(plot_id).with_suffix("").as_posix()).strip("_")
    return f"{stem}_{re.sub(r'[^A-Za-z0-9]+', '_', revision)}.png" if revision else f"{stem}.png"


def render_plots(plots: dict, out_dir: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """Write each plot of `dvc plots diff --json` as PNG into `out_dir`: a data-series plot as one
    chart of all revisions (vega-lite rendered by vl-convert, no browser, no internet), an image
    once per revision. Return [(plot id, [(revision, file name)])]."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = []
    for plot_id, entries in plots.items():
        files = []
        for entry in entries:
            if entry["type"] == "vega":
                name = plot_file_name(plot_id)
                (out_dir / name).write_bytes(vl_convert.vegalite_to_png(entry["content"], scale=1))
                files.append((" vs ".join(entry["revisions"]), name))
            elif entry["type"] == "image":
                (revision,) = entry["revisions"]
                name = plot_file_name(plot_id, revision)
                shutil.copyfile(entry["url"], out_dir / name)
                files.append((revision, name))
        rendered.append((plot_id, files))
    return rendered


def has_rows(table_md: str) -> bool:
    """Whether a Markdown table from DVC has rows (with nothing to show, it prints a header)."""
    return len(table_md.strip().splitlines()) > 2


def markdown_report(
    base: str, params_md: str, metrics_md: str, plots: list | None, plots_dir: str
) -> str:
    """The report: both tables, then the plots (if given) as images under `plots_dir`."""
    lines = [
        f"# Pipeline report: {WORKSPACE} vs `{base}`",
        "",
        "## Parameters",
        "",
        params_md.strip() if has_rows(params_md) else f"No parameter differs from `{base}`.",
        "",
        "## Metrics",
        "",
        metrics_md.strip() if has_rows(metrics_md) else f"No metric differs from `{base}`.",
        "",
    ]
    if plots is None:
        return "\n".join(lines)
    lines += ["## Plots", ""]
    for plot_id, files in plots:
        lines += [f"### {plot_id}", ""]
        lines += [f"![{plot_id} ({revision})]({plots_dir}/{name})" for revision, name in files]
        lines.append("")
    return "\n".join(lines)


def load_plots(base: str, out_dir: Path) -> dict:
    """`dvc plots diff base --json`'s plots, their images written under `out_dir`."""
    plots = json.loads(dvc("plots", "diff", base, "--json", "-o", str(out_dir)))
    if plots.get("errors"):
        raise PipelineError(f"`dvc plots diff {base}` could not load: {plots['errors']}")
    return plots["data"]


def write_report(out_dir: Path, base: str, tables: dict[str, str], diffs: dict[str, dict]) -> int:
    """Write report.md, summary.md, plots/ and index.html into `out_dir`; return the plot count.
    `tables` and `diffs` hold DVC's params and metrics diffs as Markdown and as JSON."""
    plots = load_plots(base, out_dir / "dvc")
    rendered = render_plots(plots, out_dir / "plots")
    page = report_page.render_page(
        base, diffs["params"], diffs["metrics"], plots, vl_convert.javascript_bundle()
    )
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    shutil.rmtree(out_dir / "dvc")
    params_md, metrics_md = tables["params"], tables["metrics"]
    (out_dir / "report.md").write_text(
        markdown_report(base, params_md, metrics_md, rendered, "plots")
    )
    (out_dir / "summary.md").write_text(markdown_report(base, params_md, metrics_md, None, ""))
    return len(rendered)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="git revision to compare with, e.g. main")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    args = parser.parse_args(argv)

    check_out_dir(args.out)
    check_revision(args.base)
    tables = {kind: dvc(kind, "diff", args.base, "--md") for kind in ("params", "metrics")}
    diffs = {kind: json.loads(dvc(kind, "diff", args.base, "--json")) for kind in tables}
    with artifacts.atomic_dir(args.out) as tmp:
        count = write_report(tmp, args.base, tables, diffs)
    print(f"wrote {args.out}: report.md and index.html ({count} plots each), summary.md")


if __name__ == "__main__":
    cli.run(main)

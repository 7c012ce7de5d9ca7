"""Compare revisions as a pull-request comment should: the metrics of each against the first (the
base), marked better or worse, the params that differ, and every plot of every revision,
rendered offline. A revision is anything DVC takes: a commit, branch or tag, an experiment's
name, or `workspace`; one revision alone is compared with the workspace, as `dvc metrics diff`
does.

    python -m tools.report main exp-a workspace --out report      (or: make report REVS=...)

Writes <out>/report.md (tables and images), <out>/summary.md (tables only, for a CI job summary),
<out>/plots/*.png and <out>/index.html (one interactive page that works offline, drawn by
tools.report_page). <out> is replaced as a whole, so it must be new, empty or a previous report:
a folder holding anything else is refused. Fails in one line, naming the fix, when a revision is
not in the clone or when DVC cannot read a metrics, params or plots file; a file that a revision
does not hold is shown as "-" or "no data"."""

import argparse
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import vl_convert

from stages.shared import artifacts, cli
from stages.shared.errors import PipelineError
from tools import report_data, report_page, report_tables
from tools.report_data import Plot, Revision

# What the report writes into its folder: the only entries a folder it may replace can hold.
REPORT_FILES = ("index.html", "report.md", "summary.md")
PLOTS = "plots"


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


def render_plots(plots: list[Plot], out_dir: Path) -> list[tuple[Plot, list[tuple[str, str]]]]:
    """Write each plot as PNG into `out_dir`: a chart as one picture of all revisions (Vega-Lite
    rendered by vl-convert, no browser, no internet), an image once per revision. Return each
    plot with its [(revisions, file name)]."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = []
    for plot in plots:
        files = []
        for entry in plot.entries:
            if entry["type"] == "vega":
                name = plot_file_name(plot.plot_id)
                (out_dir / name).write_bytes(vl_convert.vegalite_to_png(entry["content"], scale=1))
                files.append((" vs ".join(entry["revisions"]), name))
            elif entry["type"] == "image":
                (revision,) = entry["revisions"]
                name = plot_file_name(plot.plot_id, revision)
                shutil.copyfile(entry["url"], out_dir / name)
                files.append((revision, name))
        rendered.append((plot, files))
    return rendered


def markdown_table(table: report_tables.Table, empty: str) -> str:
    """A GitHub Markdown table, or the sentence `empty` when it has no rows."""
    if not table.rows:
        return empty
    rows = [[cell.replace("|", "\\|") for cell in row] for row in [table.header, *table.rows]]
    widths = [max(len(row[n]) for row in rows) for n in range(len(table.header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def markdown_report(
    revisions: list[Revision], tables: dict[str, report_tables.Table], plots: list | None
) -> str:
    """The report: both tables, then the plots (if given) as images under plots/."""
    names = [r.name for r in revisions]
    metrics, params = tables["metrics"], tables["params"]
    lines = [
        f"# {report_tables.title(names)}",
        "",
        report_tables.revisions_note(revisions),
        "",
        "## Metrics",
        "",
        report_tables.marks_note(names[0]),
        "",
        markdown_table(metrics, report_tables.empty_note(metrics, "metric")),
        "",
        *([report_tables.same_note(metrics), ""] if report_tables.same_note(metrics) else []),
        "## Parameters",
        "",
        markdown_table(params, report_tables.empty_note(params, "parameter")),
        "",
    ]
    if plots is None:
        return "\n".join(lines)
    lines += ["## Plots", ""] + ([] if plots else ["No revision has plots.", ""])
    for plot, files in plots:
        lines += [f"### {plot.plot_id}", ""]
        lines += [f"![{plot.plot_id} ({revision})]({PLOTS}/{name})" for revision, name in files]
        lines += ["", *([report_tables.missing_note(plot.missing), ""] if plot.missing else [])]
    return "\n".join(lines)


def write_report(
    out_dir: Path, revisions: list[Revision], snapshots: dict[str, report_data.Snapshot]
) -> int:
    """Write report.md, summary.md, plots/ and index.html into `out_dir`; return the plot
    count."""
    names = [r.name for r in revisions]
    tables = {
        "metrics": report_tables.metrics_table(names, snapshots),
        "params": report_tables.params_table(names, snapshots),
    }
    plots = report_data.read_plots(revisions, out_dir / "dvc")
    rendered = render_plots(plots, out_dir / PLOTS)
    page = report_page.render_page(
        revisions, tables["metrics"], tables["params"], plots, vl_convert.javascript_bundle()
    )
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    if (out_dir / "dvc").exists():  # DVC's copies of the images: inlined and rendered now
        shutil.rmtree(out_dir / "dvc")
    (out_dir / "report.md").write_text(
        markdown_report(revisions, tables, rendered), encoding="utf-8"
    )
    (out_dir / "summary.md").write_text(markdown_report(revisions, tables, None), encoding="utf-8")
    return len(rendered)


def compared(names: list[str]) -> list[str]:
    """The revisions to compare, the base first: one alone is compared with the workspace."""
    return names if len(names) > 1 else [*names, report_data.WORKSPACE]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "revisions",
        nargs="+",
        help="the base, then the revisions to compare with it (commits, branches, tags, "
        "experiment names, workspace); one alone is compared with the workspace",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    args = parser.parse_args(argv)

    check_out_dir(args.out)
    revisions = report_data.resolve_revisions(compared(args.revisions))
    snapshots = report_data.read_snapshots(revisions)
    with artifacts.atomic_dir(args.out) as tmp:
        count = write_report(tmp, revisions, snapshots)
    print(f"wrote {args.out}: report.md and index.html ({count} plots each), summary.md")


if __name__ == "__main__":
    cli.run(main)

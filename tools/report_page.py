"""The report as one offline HTML page: the metrics of every revision against the base and the
params that differ, as tables, and every plot of every revision, interactive (tooltips, zoom,
DVC's own controls). Vega, Vega-Lite and vega-embed are inlined, the images are data URIs: the
page loads nothing from the network.

`dvc plots show` writes a page that loads Vega from a CDN, which is blank offline."""

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path

from tools import report_tables
from tools.report_data import Plot, Revision

# vega-embed's menu without the entries that open a web site (the Vega editor) or only repeat
# the specification: what is left, saving a chart as SVG or PNG, works offline.
EMBED_OPTIONS = {
    "renderer": "svg",
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
}

# Renders every [data-spec] element; a plot that fails says so in its box and on the console.
# <body data-rendered="N"> tells a reader (and the browser test) that all N charts are drawn.
EMBED_SCRIPT = """
const charts = [...document.querySelectorAll("[data-spec]")];
Promise.all(charts.map((box) => {
  const spec = JSON.parse(document.getElementById(box.dataset.spec).textContent);
  return vegaEmbed(box, spec, OPTIONS).catch((error) => {
    box.textContent = `This plot could not be drawn: ${error}`;
    throw error;
  });
})).then(() => { document.body.dataset.rendered = charts.length; }, console.error);
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
td.better { color: #1a7f37; }
td.worse { color: #c62828; }
.grid, .plots { display: flex; flex-wrap: wrap; gap: 1em 3em; align-items: flex-start; }
figure { margin: 0; }
figure img { max-width: 36em; border: 1px solid #eee; }
"""


def html_table(table: report_tables.Table, empty: str) -> str:
    """An HTML table (the first two columns are names, the others values; a change marked
    better or worse gets that class too, the mark itself being text), or the sentence `empty`
    when it has no rows."""
    if not table.rows:
        return f"<p>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in table.header)
    body = ""
    for row in table.rows:
        names = "".join(f"<td>{html.escape(cell)}</td>" for cell in row[:2])
        values = "".join(
            f'<td class="{value_class(cell)}">{html.escape(cell)}</td>' for cell in row[2:]
        )
        body += f"<tr>{names}{values}</tr>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def value_class(cell: str) -> str:
    """The CSS classes of a value cell: a number, and better or worse if marked so."""
    for mark, name in ((report_tables.BETTER, "better"), (report_tables.WORSE, "worse")):
        if cell.endswith(mark):
            return f"number {name}"
    return "number"


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>" if text else ""


def script_json(data: object) -> str:
    """`data` as JSON safe inside a <script> element ("</" cannot close it early)."""
    return json.dumps(data).replace("</", "<\\/")


def image_uri(path: Path) -> str:
    """A PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def plot_section(index: int, plot: Plot) -> str:
    """One plot: a chart of all revisions, or one image per revision, and which revisions have
    no data for it."""
    parts = [f'<section><h3>{html.escape(plot.plot_id)}</h3><div class="plots">']
    for n, entry in enumerate(plot.entries):
        revisions = html.escape(" vs ".join(entry["revisions"]))
        if entry["type"] == "vega":
            spec_id = f"spec-{index}-{n}"
            parts.append(
                f'<script type="application/json" id="{spec_id}">{script_json(entry["content"])}'
                f'</script><div class="chart" data-spec="{spec_id}"></div>'
            )
        elif entry["type"] == "image":
            parts.append(
                f'<figure><img src="{image_uri(Path(entry["url"]))}" '
                f'alt="{html.escape(plot.plot_id)} ({revisions})">'
                f"<figcaption>{revisions}</figcaption></figure>"
            )
    gap = paragraph(report_tables.missing_note(plot.missing))
    return "".join(parts) + f"</div>{gap}</section>"


def render_page(
    revisions: Sequence[Revision],
    metrics: report_tables.Table,
    params: report_tables.Table,
    plots: Sequence[Plot],
    bundle: str,
) -> str:
    """The whole page. `plots` are read_plots' (image URLs must still exist); `bundle` is the
    JavaScript of vega-embed, Vega and Vega-Lite (vl_convert's javascript_bundle)."""
    names = [r.name for r in revisions]
    title = report_tables.title(names)
    sections = "".join(plot_section(i, plot) for i, plot in enumerate(plots))
    no_plots = "" if plots else paragraph("No revision has plots.")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
<script>{bundle}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
{paragraph(report_tables.revisions_note(revisions))}
<h2>Metrics</h2>
{paragraph(report_tables.marks_note(names[0]))}
{html_table(metrics, report_tables.empty_note(metrics, "metric"))}
{paragraph(report_tables.same_note(metrics))}
<h2>Parameters</h2>
{html_table(params, report_tables.empty_note(params, "parameter"))}
<h2>Plots</h2>
<p>Hover for values. Drag or scroll in a line or bar chart to pan and zoom, double-click to reset;
the slider below a curve smooths it, the box below the confusion matrix shows its counts.</p>
{no_plots}<div class="grid">{sections}</div>
<script>const OPTIONS = {script_json(EMBED_OPTIONS)};{EMBED_SCRIPT}</script>
</body>
</html>
"""

"""The report as one offline HTML page: the params and metrics that changed, as tables, and every
plot of both revisions, interactive (tooltips, zoom, DVC's own controls). Vega, Vega-Lite and
vega-embed are inlined, the images are data URIs: the page loads nothing from the network.

`dvc plots show` writes a page that loads Vega from a CDN, which is blank offline."""

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path

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
.grid, .plots { display: flex; flex-wrap: wrap; gap: 1em 3em; align-items: flex-start; }
figure { margin: 0; }
figure img { max-width: 36em; border: 1px solid #eee; }
"""


def diff_rows(diff: dict, with_change: bool) -> list[list[str]]:
    """Rows [path, key, base, workspace(, change)] of `dvc params|metrics diff --json`."""
    rows = []
    for path, changes in diff.items():
        for key, change in changes.items():
            row = [path, key, change.get("old"), change.get("new")]
            rows.append([*row, change.get("diff")] if with_change else row)
    return [[format_value(value) for value in row] for row in rows]


def format_value(value: object) -> str:
    """A table cell as DVC prints one: floats to 5 decimals (0.15, not 0.15000000000000002)."""
    if value is None:
        return "-"
    return str(round(value, 5)) if isinstance(value, float) else str(value)


def html_table(header: Sequence[str], rows: list[list[str]], empty: str) -> str:
    """An HTML table (the first two columns are names, the others numbers), or the sentence
    `empty` when there are no rows."""
    if not rows:
        return f"<p>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = ""
    for row in rows:
        names = "".join(f"<td>{html.escape(cell)}</td>" for cell in row[:2])
        numbers = "".join(f'<td class="number">{html.escape(cell)}</td>' for cell in row[2:])
        body += f"<tr>{names}{numbers}</tr>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def script_json(data: object) -> str:
    """`data` as JSON safe inside a <script> element ("</" cannot close it early)."""
    return json.dumps(data).replace("</", "<\\/")


def image_uri(path: Path) -> str:
    """A PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def plot_section(index: int, plot_id: str, entries: list[dict]) -> str:
    """One plot of `dvc plots diff --json`: a chart of all revisions, or one image per revision."""
    parts = [f'<section><h3>{html.escape(plot_id)}</h3><div class="plots">']
    for n, entry in enumerate(entries):
        revisions = html.escape(" vs ".join(entry["revisions"]))
        if entry["type"] == "vega":
            spec_id = f"spec-{index}-{n}"
            parts.append(
                f'<script type="application/json" id="{spec_id}">{script_json(entry["content"])}'
                f'</script><div class="chart" data-spec="{spec_id}"></div>'
            )
        elif entry["type"] == "image":
            parts.append(
                f'<figure><img src="{image_uri(Path(entry["url"]))}" alt="{html.escape(plot_id)}'
                f' ({revisions})"><figcaption>{revisions}</figcaption></figure>'
            )
    return "".join(parts) + "</div></section>"


def render_page(base: str, params_diff: dict, metrics_diff: dict, plots: dict, bundle: str) -> str:
    """The whole page. `plots` is `dvc plots diff --json`'s "data" (image URLs must still
    exist); `bundle` is the JavaScript of vega-embed, Vega and Vega-Lite (vl_convert's
    javascript_bundle)."""
    title = f"Pipeline report: workspace vs {base}"
    params = diff_rows(params_diff, with_change=False)
    metrics = diff_rows(metrics_diff, with_change=True)
    sections = "".join(plot_section(i, plot_id, e) for i, (plot_id, e) in enumerate(plots.items()))
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
<h2>Parameters</h2>
{html_table(["Path", "Param", base, "workspace"], params, f"No parameter differs from {base}.")}
<h2>Metrics</h2>
{
        html_table(
            ["Path", "Metric", base, "workspace", "Change"],
            metrics,
            f"No metric differs from {base}.",
        )
    }
<h2>Plots</h2>
<p>Hover for values. Drag or scroll in a line or bar chart to pan and zoom, double-click to reset;
the slider below a curve smooths it, the box below the confusion matrix shows its counts.</p>
<div class="grid">{sections}</div>
<script>const OPTIONS = {script_json(EMBED_OPTIONS)};{EMBED_SCRIPT}</script>
</body>
</html>
"""

"""The offline report page's pure parts: tables with their marks, specs safe inside <script>,
images as data URIs, plots a revision has no data for. The page in a real browser:
tests/test_report.py."""

import base64
import json
import re

from tools import report_page
from tools.report_data import Plot, Revision
from tools.report_tables import Table

REVISIONS = [Revision("main", "a" * 40), Revision("exp-a", "b" * 40), Revision("workspace", None)]
METRICS = Table(
    ["Path", "Metric", "main", "exp-a", "Change (exp-a)", "workspace", "Change (workspace)"],
    [["m.json", "test.accuracy", "0.8", "0.9", "+0.1 ✓ better", "0.7", "-0.1 ✗ worse"]],
    same=2,
)


def test_html_table_escapes_its_cells_marks_changes_and_says_when_it_is_empty():
    table = report_page.html_table(Table(["a", "b", "<c>"], [["x&y", "k", "1"]]), "nothing")
    assert "<th>&lt;c&gt;</th>" in table and "<td>x&amp;y</td>" in table
    assert '<td class="number">1</td>' in table
    marked = report_page.html_table(METRICS, "")
    assert '<td class="number better">+0.1 ✓ better</td>' in marked
    assert '<td class="number worse">-0.1 ✗ worse</td>' in marked
    assert '<td class="number">0.9</td>' in marked
    assert report_page.html_table(Table(["a"], []), "No <change>.") == "<p>No &lt;change&gt;.</p>"


def test_a_spec_cannot_close_its_script_element():
    spec = {"title": "</script><script>alert(1)</script>"}
    text = report_page.script_json(spec)
    assert "</" not in text and json.loads(text) == spec


def test_the_page_inlines_every_spec_and_image_and_loads_nothing(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n fake")
    loss = [{"type": "vega", "revisions": ["workspace", "main"], "content": {"mark": "line"}}]
    images = [{"type": "image", "revisions": [r], "url": str(png)} for r in ("main", "exp-a")]
    plots = [Plot("Loss", loss, ["exp-a"]), Plot("metrics/a.png", images, ["workspace"])]
    params = Table(["Path", "Param", "main", "exp-a", "workspace"], [], same=5)

    page = report_page.render_page(REVISIONS, METRICS, params, plots, "window.vegaEmbed = 1;")

    assert "<h1>Pipeline report: exp-a, workspace against main</h1>" in page
    assert "Base: main (aaaaaaa). Compared with it: exp-a (bbbbbbb), workspace." in page
    assert "window.vegaEmbed = 1;" in page
    assert "No parameter differs between the revisions." in page
    assert "<p>2 more metrics: the same in every revision.</p>" in page
    assert page.count('class="chart"') == 1 and '{"mark": "line"}' in page
    uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    assert page.count(uri) == 2
    assert "<p>No data in exp-a.</p>" in page and "<p>No data in workspace.</p>" in page
    assert "No revision has plots." not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_a_page_without_plots_says_so():
    params = Table(["Path", "Param", "main", "exp-a", "workspace"], [])
    page = report_page.render_page(REVISIONS, METRICS, params, [], "")
    assert "<p>No revision has plots.</p>" in page and "<h3>" not in page

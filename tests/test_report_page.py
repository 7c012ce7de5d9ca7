"""The offline report page's pure parts: tables from DVC's JSON diffs, specs safe inside <script>,
images as data URIs. The page in a real browser: tests/test_report.py."""

import base64
import json
import re

from tools import report_page

METRICS_DIFF = {
    "metrics/eval.json": {
        "accuracy": {"old": 0.85, "new": 1.0, "diff": 0.15000000000000002},
        "macro_f1": {"old": None, "new": 0.5},
    }
}


def test_diff_rows_round_floats_as_dvc_does_and_mark_missing_values():
    assert report_page.diff_rows(METRICS_DIFF, with_change=True) == [
        ["metrics/eval.json", "accuracy", "0.85", "1.0", "0.15"],
        ["metrics/eval.json", "macro_f1", "-", "0.5", "-"],
    ]
    params = {"params.yaml": {"train.epochs": {"old": 30, "new": 10}}}
    assert report_page.diff_rows(params, with_change=False) == [
        ["params.yaml", "train.epochs", "30", "10"]
    ]


def test_html_table_escapes_its_cells_and_says_when_it_is_empty():
    table = report_page.html_table(["a", "b", "<c>"], [["x&y", "k", "1"]], "nothing")
    assert "<th>&lt;c&gt;</th>" in table and "<td>x&amp;y</td>" in table
    assert '<td class="number">1</td>' in table
    assert report_page.html_table(["a"], [], "No <change>.") == "<p>No &lt;change&gt;.</p>"


def test_a_spec_cannot_close_its_script_element():
    spec = {"title": "</script><script>alert(1)</script>"}
    text = report_page.script_json(spec)
    assert "</" not in text and json.loads(text) == spec


def test_the_page_inlines_every_spec_and_image_and_loads_nothing(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n fake")
    plots = {
        "Loss": [
            {"type": "vega", "revisions": ["workspace", "main"], "content": {"mark": "line"}}
        ],
        "metrics/a.png": [
            {"type": "image", "revisions": [revision], "url": str(png)}
            for revision in ("workspace", "main")
        ],
    }
    page = report_page.render_page("main", {}, METRICS_DIFF, plots, "window.vegaEmbed = 1;")
    assert "window.vegaEmbed = 1;" in page and "No parameter differs from main." in page
    assert page.count('class="chart"') == 1 and '{"mark": "line"}' in page
    uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    assert page.count(uri) == 2
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)

"""Generate the tables of the docs that quote a record file, between `<!-- name -->` and
`<!-- /name -->` markers: docs/models.md's preset results from metrics/presets.json and
docs/frontier.md's runs from metrics/frontier.json (`python -m tools.generated` writes them;
tests/test_generated.py fails when either differs from its file), so the docs say what the
committed record says."""

import json
from collections.abc import Callable
from pathlib import Path

from tools import frontier, presets
from tools.generated import with_block
from tools.project_copy import REPO

# (page, marker name, record file, the Markdown it shows of the record)
BLOCKS: list[tuple[Path, str, Path, Callable[[dict], str]]] = [
    (REPO / "docs/models.md", "presets-table", REPO / presets.RESULTS, presets.results_table),
    (REPO / "docs/frontier.md", "frontier-table", REPO / frontier.RESULTS, frontier.table),
]


def generated() -> dict[Path, str]:
    """Each page as its record files say it should be (`python -m tools.generated` writes it)."""
    pages: dict[Path, str] = {}
    for page, name, record, render in BLOCKS:
        text = pages.get(page) or page.read_text(encoding="utf-8")
        content = render(json.loads(record.read_text(encoding="utf-8")))
        pages[page] = with_block(text, name, content)
    return pages

"""Generate the tables of the docs that quote a record file, between `<!-- name -->` and
`<!-- /name -->` markers: docs/models.md's preset results from metrics/presets.json and
docs/frontier.md's runs from metrics/frontier.json. tests/test_record_pages.py fails when either
differs from its file, so the docs say what the committed record says.

    python -m tools.record_pages          # rewrite the tables
    python -m tools.record_pages --check  # exit 1 if one is stale
"""

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from stages.shared import artifacts, cli
from tools import frontier, presets
from tools.project_copy import REPO

# (page, marker name, record file, the Markdown it shows of the record)
BLOCKS: list[tuple[Path, str, Path, Callable[[dict], str]]] = [
    (REPO / "docs/models.md", "presets-table", REPO / presets.RESULTS, presets.results_table),
    (REPO / "docs/frontier.md", "frontier-table", REPO / frontier.RESULTS, frontier.table),
]


def with_block(page: str, name: str, content: str) -> str:
    """`page` with the text between its `<!-- name -->` and `<!-- /name -->` lines replaced by
    `content`."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    before, rest = page.split(start, 1)
    _, after = rest.split(end, 1)
    return f"{before}{start}\n{content}\n{end}{after}"


def wanted() -> dict[Path, tuple[str, str]]:
    """Each page: (as it is, as its record files say it should be)."""
    pages: dict[Path, tuple[str, str]] = {}
    for page, name, record, render in BLOCKS:
        text = pages.get(page, (page.read_text(encoding="utf-8"),) * 2)
        content = render(json.loads(record.read_text(encoding="utf-8")))
        pages[page] = (text[0], with_block(text[1], name, content))
    return pages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check: exit 1 if stale")
    args = parser.parse_args(argv)
    stale = [page for page, (now, wants) in wanted().items() if now != wants]
    if args.check:
        for page in stale:
            print(f"{page.relative_to(REPO)}: a table is stale; run make generate")
        return int(bool(stale))
    for page in stale:
        with artifacts.atomic_path(page) as tmp:
            artifacts.write_text(Path(tmp), wanted()[page][1])
        print(f"wrote the record tables of {page.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    cli.run(main)

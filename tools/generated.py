"""What `make generate` writes from committed sources: each generator module gives `generated()`,
{file: the text it should hold}, most of them a page with a block between `<!-- name -->` and
`<!-- /name -->` markers replaced (`with_block`); this writes the stale ones, all or nothing, or
with `--check` only names them (exit 1). tests/test_generated.py keeps every one current.

    python -m tools.generated           # rewrite every stale generated file
    python -m tools.generated --check   # name them; exit 1 if any
"""

import argparse
import importlib
from collections.abc import Sequence
from pathlib import Path

from stages.shared import artifacts, cli
from tools.project_copy import REPO

# The generators, and what each writes: the schemas and docs/params.md from the settings models,
# docs/layout.md's rerun table from dvc.yaml, the docs' tables of metrics/presets.json and
# metrics/frontier.json, docs/performance.md's figures from metrics/bench.json.
GENERATORS = ("tools.params_reference", "tools.rerun_table", "tools.record_pages", "bench.page")


def markers(name: str) -> tuple[str, str]:
    """The lines that open and close the generated block `name` of a page."""
    return f"<!-- {name} -->", f"<!-- /{name} -->"


def with_block(page: str, name: str, content: str) -> str:
    """`page` with the text between its markers of `name` replaced by `content`; ValueError if
    it has none."""
    start, end = markers(name)
    before, rest = page.split(start, 1)
    _, after = rest.split(end, 1)
    return f"{before}{start}\n{content}\n{end}{after}"


def everything() -> dict[Path, str]:
    """Every generated file and the text it should hold."""
    files: dict[Path, str] = {}
    for name in GENERATORS:
        files.update(importlib.import_module(name).generated())
    return files


def stale(files: dict[Path, str]) -> list[Path]:
    """The `files` whose text on disk is not the one they should hold (or that are missing)."""
    return [path for path, text in files.items() if _read(path) != text]


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only name the stale files: exit 1")
    args = parser.parse_args(argv)
    files = everything()
    outdated = stale(files)
    shown = ", ".join(str(path.relative_to(REPO)) for path in outdated)
    if args.check:
        if outdated:
            print(f"stale: {shown}; run make generate")
        return int(bool(outdated))
    with artifacts.outputs() as out:
        for path in outdated:
            artifacts.write_text(out.file(path), files[path])
    print(f"wrote {shown}" if outdated else "every generated file is current")
    return 0


if __name__ == "__main__":
    cli.run(main)

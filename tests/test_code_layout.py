"""How the tests are put together, read with ast: a test module imports tests.helpers, never
another test module nor conftest, and conftest holds pytest's fixtures and hooks only."""

import ast
from pathlib import Path

import pytest

from tests.helpers.project import REPO

TESTS = REPO / "tests"


def _imported(path: Path) -> set[str]:
    """Every module `path` imports, and every `module.name` it imports from one."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


@pytest.mark.parametrize(
    "path", sorted(TESTS.rglob("*.py")), ids=lambda path: str(path.relative_to(TESTS))
)
def test_no_module_of_the_tests_imports_a_test_module_or_conftest(path):
    forbidden = [
        name
        for name in _imported(path)
        if name.split(".")[0] in ("conftest", "test")
        or name.startswith(("tests.conftest", "tests.test_", "test_"))
    ]
    assert not forbidden, f"{path.name} imports {forbidden}: share code through tests/helpers/"


def _is_fixture_or_hook(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef):
        decorators = [ast.unparse(d) for d in node.decorator_list]
        return node.name.startswith("pytest_") or any(
            d.startswith("pytest.fixture") for d in decorators
        )
    return isinstance(node, ast.Import | ast.ImportFrom) or (
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)  # the docstring
    )


def test_conftest_holds_only_fixtures_and_hooks():
    tree = ast.parse((TESTS / "conftest.py").read_text())
    others = [
        ast.unparse(node).splitlines()[0] for node in tree.body if not _is_fixture_or_hook(node)
    ]
    assert not others, f"tests/conftest.py: move to tests/helpers/: {others}"

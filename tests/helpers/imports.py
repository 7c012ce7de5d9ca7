"""The project's code read with ast: which modules of `stages` a file imports, which shared
modules a stage needs, and which names of a stage's modules are used."""

import ast
from pathlib import Path

from tools.project_copy import REPO

STAGES = ("download", "preprocess", "train", "evaluate", "predict")
SHARED = "shared"


def module_file(dotted: str) -> Path | None:
    """The file of module `stages.…` (a package's `__init__.py`), or None if it is not one."""
    path = REPO.joinpath(*dotted.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return path / "__init__.py" if (path / "__init__.py").is_file() else None


def stages_imports(path: Path) -> set[str]:
    """The modules of the `stages` package that the file at `path` imports, as dotted names, in
    every spelling: `import stages.a.b`, `from stages.a import b` (b a module, or a name of a)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "stages"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "stages":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if module_file(submodule) else node.module)
    return found


def owner(dotted: str) -> str:
    """The package of `stages` that module `dotted` belongs to: a stage, `shared`, or `stages`."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "stages"


def shared_modules_needed(stage: str) -> set[str]:
    """The shared modules that the stage's package imports, directly or through each other, as
    repository paths (`stages/shared/x.py`)."""
    todo = sorted((REPO / "stages" / stage).glob("*.py"))
    found: set[str] = set()
    while todo:
        for dotted in stages_imports(todo.pop()):
            path = module_file(dotted)
            if owner(dotted) == SHARED and path is not None and path.name != "__init__.py":
                relative = str(path.relative_to(REPO))
                if relative not in found:
                    found.add(relative)
                    todo.append(path)
    return found


def private_names_used(path: Path) -> set[str]:
    """`module.name` for every `_name` that the file at `path` takes from a stage's module (by
    `from … import _name`, or as an attribute of a module it imported from `stages`)."""
    tree = ast.parse(path.read_text())
    aliases, used = {}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stages."):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if module_file(submodule):
                    aliases[alias.asname or alias.name] = submodule
                elif alias.name.startswith("_"):
                    used.add(f"{node.module}.{alias.name}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
        ):
            used.add(f"{aliases[node.value.id]}.{node.attr}")
    return used

"""dvc.yaml against the code: every stage's code, params, inputs and outputs are declared, once."""

import ast
import shlex
from pathlib import Path

import pytest

from stages import training_history
from tests.helpers.project import REPO, load_pipeline

STAGES = ["download", "preprocess", "train", "evaluate", "predict"]


PIPELINE = load_pipeline()


def _paths(entries) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


def _outputs(stage: dict) -> list[str]:
    return [*_paths(stage.get("outs")), *_paths(stage.get("metrics")), *_paths(stage.get("plots"))]


def _stages_modules_imported(tree: ast.Module) -> list[str]:
    """The modules of the `stages` package that a parsed module imports, in any of the three
    spellings: `from stages import x`, `from stages.x import y`, `import stages.x`."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "stages":
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stages."):
            names.append(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names += [a.name.split(".")[1] for a in node.names if a.name.startswith("stages.")]
    return names


def _local_imports(module: Path) -> set[str]:
    """Modules of the `stages` package that `module` imports, directly or through each other."""
    found, todo = set(), [module]
    while todo:
        for name in _stages_modules_imported(ast.parse(todo.pop().read_text())):
            path = f"stages/{name}.py"
            if path not in found:
                found.add(path)
                todo.append(REPO / path)
    return found


@pytest.mark.parametrize(
    "source", ["from stages import x", "from stages.x import y", "import stages.x as z"]
)
def test_each_spelling_of_a_local_import_is_found(source):
    assert _stages_modules_imported(ast.parse(f"import os\n{source}\nfrom tools import t")) == [
        "x"
    ]


def _modules_with_main() -> set[str]:
    return {
        path.stem
        for path in (REPO / "stages").glob("*.py")
        if any(
            isinstance(n, ast.FunctionDef) and n.name == "main"
            for n in ast.parse(path.read_text()).body
        )
    }


def test_the_five_stages_in_order():
    assert list(PIPELINE["stages"]) == STAGES


def test_each_stage_is_a_module_with_main_and_each_such_module_a_stage():
    assert _modules_with_main() == set(STAGES)


@pytest.mark.parametrize("name", STAGES)
def test_stage_runs_its_module(name):
    assert shlex.split(PIPELINE["stages"][name]["cmd"])[:3] == ["python", "-m", f"stages.{name}"]


@pytest.mark.parametrize("name", STAGES)
def test_stage_depends_on_its_own_params_section_only(name):
    assert PIPELINE["stages"][name]["params"] == [name]
    assert [section.lower() for section in _sections_loaded(REPO / "stages" / f"{name}.py")] == [
        name
    ]


def _sections_loaded(module: Path) -> list[str]:
    """The dataclass names X of every `params.load(…, params.X)` call in `module`."""
    return [
        node.args[1].attr
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "load"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "params"
        and len(node.args) == 2
        and isinstance(node.args[1], ast.Attribute)
    ]


@pytest.mark.parametrize("name", STAGES)
def test_stage_code_deps_are_exactly_its_module_and_what_it_imports(name):
    module = f"stages/{name}.py"
    code_deps = {d for d in PIPELINE["stages"][name]["deps"] if d.startswith("stages/")}
    assert code_deps == {module} | _local_imports(REPO / module)


@pytest.mark.parametrize("name", STAGES)
def test_every_path_in_the_command_is_declared_and_every_declared_path_is_used(name):
    stage = PIPELINE["stages"][name]
    argv = shlex.split(stage["cmd"])
    flags, values = argv[3::2], argv[4::2]
    assert all(flag.startswith("--") for flag in flags) and len(flags) == len(values)
    declared = {d for d in stage["deps"] if not d.startswith("stages/")} | set(_outputs(stage))
    # A flag may name a directory whose parts are declared (dvclive's: metrics + plots).
    for value in values:
        assert any(path == value or path.startswith(f"{value}/") for path in declared), value
    for path in declared:
        assert any(path == value or path.startswith(f"{value}/") for value in values), path


@pytest.mark.parametrize("name", STAGES)
def test_every_data_input_is_an_earlier_stage_output(name):
    earlier = {
        out for s in STAGES[: STAGES.index(name)] for out in _outputs(PIPELINE["stages"][s])
    }
    data_deps = {d for d in PIPELINE["stages"][name]["deps"] if not d.startswith("stages/")}
    assert data_deps <= earlier


def test_large_artifacts_are_cached_and_small_results_committed():
    for name, stage in PIPELINE["stages"].items():
        for out in _paths(stage.get("outs")):
            assert out.startswith("data/"), (name, out)
        for entry in [*stage.get("metrics", []), *stage.get("plots", [])]:
            path, options = next(iter(entry.items()))
            assert path.startswith("metrics/") and options["cache"] is False, (name, path)


@pytest.mark.parametrize("name", STAGES)
def test_every_output_persists_so_that_a_failed_run_keeps_the_last_good_one(name):
    """DVC deletes the other outputs before running the stage (docs/failure-modes.md)."""
    stage = PIPELINE["stages"][name]
    entries = [
        *(stage.get("outs") or []),
        *(stage.get("metrics") or []),
        *(stage.get("plots") or []),
    ]
    for entry in entries:
        assert isinstance(entry, dict) and next(iter(entry.values())).get("persist") is True, entry


def test_every_output_is_written_by_exactly_one_stage():
    outputs = [out for stage in PIPELINE["stages"].values() for out in _outputs(stage)]
    assert len(outputs) == len(set(outputs))


def test_top_level_plots_use_declared_files():
    declared = {out for stage in PIPELINE["stages"].values() for out in _outputs(stage)}
    for plot in PIPELINE["plots"]:
        (definition,) = plot.values()
        for path in definition["y"]:
            assert any(path == out or path.startswith(f"{out}/") for out in declared), path


def test_training_curves_name_the_files_dvclive_writes():
    history = PIPELINE["stages"]["train"]["plots"][0]
    (history_dir,) = history
    for plot in PIPELINE["plots"]:
        (definition,) = plot.values()
        for path in definition["y"]:
            assert path.removeprefix(f"{history_dir}/") in training_history.FILES.values(), path


def test_the_model_artifact_is_the_onnx_file_that_train_writes_and_the_others_run():
    (name,) = PIPELINE["artifacts"]
    artifact = PIPELINE["artifacts"][name]
    assert (name, artifact["type"]) == ("model", "model")
    assert artifact["desc"] and artifact["labels"]
    stages = PIPELINE["stages"]
    assert artifact["path"].endswith(".onnx") and artifact["path"] in _outputs(stages["train"])
    for stage in ("evaluate", "predict"):
        assert artifact["path"] in stages[stage]["deps"]
        assert not [d for d in stages[stage]["deps"] if d.endswith(".keras")]

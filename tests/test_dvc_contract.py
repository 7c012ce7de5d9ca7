"""dvc.yaml against the code: every stage's code, params, inputs and outputs are declared, once."""

import ast
import shlex
from pathlib import Path

import pytest

from stages.train import training_history
from tests.helpers.imports import (
    SHARED,
    STAGES,
    owner,
    private_names_used,
    shared_modules_needed,
    stages_imports,
)
from tests.helpers.project import REPO, load_pipeline

PIPELINE = load_pipeline()


def _paths(entries) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


def _outputs(stage: dict) -> list[str]:
    return [*_paths(stage.get("outs")), *_paths(stage.get("metrics")), *_paths(stage.get("plots"))]


def _written_undeclared(name: str) -> list[str]:
    """The top-level metrics files that stage `name`'s command writes: no stage declares them."""
    argv = shlex.split(PIPELINE["stages"][name]["cmd"])
    return [path for path in _paths(PIPELINE.get("metrics")) if path in argv]


def test_every_metrics_file_is_listed_once_at_the_top_in_reading_order():
    """`dvc exp show` lists the metrics that stages declare first: the stages declare theirs as
    plain outputs, the top-level list orders them (test scores first); the training time is
    written by train and declared by no stage, so that no dvc.lock holds a time."""
    listed = _paths(PIPELINE["metrics"])
    assert listed[0] == "metrics/eval.json" and len(set(listed)) == len(listed)
    for name in STAGES:
        assert not PIPELINE["stages"][name].get("metrics"), name
    for path in listed:
        writers = [name for name in STAGES if path in _outputs(PIPELINE["stages"][name])]
        undeclared = [name for name in STAGES if path in _written_undeclared(name)]
        assert len(writers) == 1 or undeclared == ["train"], path
    json_outputs = {p for name in STAGES for p in _outputs(PIPELINE["stages"][name])}
    assert {p for p in json_outputs if p.endswith(".json")} <= set(listed)


def test_the_five_stages_in_order():
    assert list(PIPELINE["stages"]) == list(STAGES)


def test_each_stage_is_a_package_with_a_main_and_each_other_package_is_shared():
    packages = {p.parent.name for p in (REPO / "stages").glob("*/__init__.py")}
    assert packages == {*STAGES, SHARED}
    for name in STAGES:
        tree = ast.parse((REPO / "stages" / name / "__main__.py").read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), name


def test_package_files_hold_a_docstring_only():
    """So that no dvc.yaml lists them: an edit there changes no behaviour."""
    for path in [REPO / "stages" / "__init__.py", *(REPO / "stages").glob("*/__init__.py")]:
        body = ast.parse(path.read_text()).body
        assert len(body) == 1 and isinstance(body[0].value, ast.Constant), path


@pytest.mark.parametrize("name", STAGES)
def test_stage_runs_its_package(name):
    assert shlex.split(PIPELINE["stages"][name]["cmd"])[:3] == ["python", "-m", f"stages.{name}"]


@pytest.mark.parametrize("name", STAGES)
def test_a_main_is_at_most_25_lines(name):
    tree = ast.parse((REPO / "stages" / name / "__main__.py").read_text())
    (main,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    assert main.end_lineno - main.lineno + 1 <= 25


@pytest.mark.parametrize("name", STAGES)
def test_stage_depends_on_its_own_params_section_only(name):
    assert PIPELINE["stages"][name]["params"] == [name]
    loaded = _sections_loaded(REPO / "stages" / name / "__main__.py")
    assert [section for flag, section in loaded if flag == "params"] == [name]


def _sections_loaded(module: Path) -> list[tuple[str, str]]:
    """(flag, section) of every `params.load(args.<flag>, settings.X)` call in `module`."""
    return [
        (node.args[0].attr, node.args[1].attr.lower())
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.Call)
        and ast.unparse(node.func) == "params.load"
        and len(node.args) == 2
        and ast.unparse(node.args[0]).startswith("args.")
        and isinstance(node.args[1], ast.Attribute)
        and ast.unparse(node.args[1].value) == "settings"
    ]


DATASET = PIPELINE["vars"][0]["dataset"]


def test_the_data_sets_sources_and_checksums_are_a_file_that_download_alone_depends_on():
    """Not params (each stage's params are its own section of params.yaml, above): `dvc exp show`
    would list a column per source and checksum. A dependency, so that a change reruns download,
    read from the flag that names it, never from a default."""
    stages = PIPELINE["stages"]
    assert (REPO / DATASET).is_file()
    assert [name for name in STAGES if DATASET in stages[name]["deps"]] == ["download"]
    assert shlex.split(stages["download"]["cmd"])[3:5] == ["--dataset", DATASET]
    loaded = _sections_loaded(REPO / "stages/download/__main__.py")
    assert loaded == [("params", "download"), ("dataset", "dataset")]


@pytest.mark.parametrize("name", STAGES)
def test_stage_code_deps_are_its_folder_and_the_shared_modules_it_imports(name):
    code_deps = {d for d in PIPELINE["stages"][name]["deps"] if d.startswith("stages/")}
    assert code_deps == {f"stages/{name}"} | shared_modules_needed(name)


@pytest.mark.parametrize("package", [*STAGES, SHARED])
def test_a_package_imports_no_other_stage(package):
    """What two stages need lives in stages/shared; shared needs no stage."""
    for path in sorted((REPO / "stages" / package).glob("*.py")):
        others = {owner(m) for m in stages_imports(path)} - {package, SHARED, "stages"}
        assert not others, f"{path.relative_to(REPO)} imports the stage packages {others}"


@pytest.mark.parametrize(
    "path",
    sorted([*(REPO / "tools").glob("*.py"), *(REPO / "bench").glob("*.py")]),
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_tools_and_bench_use_no_private_name_of_a_stage(path):
    assert not private_names_used(path)


@pytest.mark.parametrize("name", STAGES)
def test_every_path_in_the_command_is_declared_and_every_declared_path_is_used(name):
    stage = PIPELINE["stages"][name]
    argv = shlex.split(stage["cmd"])
    flags, values = argv[3::2], argv[4::2]
    assert all(flag.startswith("--") for flag in flags) and len(flags) == len(values)
    declared = {d for d in stage["deps"] if not d.startswith("stages/")} | set(_outputs(stage))
    declared |= set(_written_undeclared(name))
    # A flag may name a directory whose parts are declared (dvclive's: metrics + plots).
    for value in values:
        assert any(path == value or path.startswith(f"{value}/") for path in declared), value
    for path in declared:
        assert any(path == value or path.startswith(f"{value}/") for value in values), path


@pytest.mark.parametrize("name", STAGES)
def test_every_data_input_is_an_earlier_stage_output(name):
    """Or, for download, the committed dataset file that names where the data comes from."""
    earlier = {
        out for s in STAGES[: STAGES.index(name)] for out in _outputs(PIPELINE["stages"][s])
    }
    data_deps = {d for d in PIPELINE["stages"][name]["deps"] if not d.startswith("stages/")}
    assert data_deps <= earlier | ({DATASET} if name == "download" else set())


def test_large_artifacts_are_cached_and_small_results_committed():
    for name, stage in PIPELINE["stages"].items():
        for entry in stage.get("outs"):
            path, options = next(iter(entry.items()))
            small = path.startswith("metrics/") and options.get("cache") is False
            assert path.startswith("data/") or small, (name, path)
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
            name = path.removeprefix(f"{history_dir}/").removesuffix(".tsv")
            assert name in training_history.LIVE_NAMES.values(), path


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


def test_a_code_folders_recorded_hash_covers_its_tracked_files_only():
    """A folder dep's size in dvc.lock is its git-tracked files' (no `__pycache__`, whose bytes
    hold the sources' mtimes): a fresh clone then finds every stage up to date."""
    import subprocess

    import yaml

    lock = yaml.safe_load((REPO / "dvc.lock").read_text())
    checked = 0
    for stage in lock["stages"].values():
        for dep in stage["deps"]:
            folder = REPO / dep["path"]
            if not dep["path"].startswith("stages/") or not folder.is_dir():
                continue
            tracked = subprocess.run(
                ["git", "ls-files", "-z", dep["path"]],
                cwd=REPO,
                capture_output=True,
                check=True,
                text=True,
            ).stdout.split("\0")
            sizes = sum((REPO / name).stat().st_size for name in tracked if name)
            assert dep["size"] == sizes, dep["path"]
            checked += 1
    assert checked == 5

import json
import subprocess
import sys

import pytest
import yaml

from stages.shared import params
from stages.shared.errors import PipelineError
from tests.helpers.project import REPO, apply_overrides, committed_params, write_yaml
from tools import experiments, params_reference, presets

NAMES = sorted(p.stem for p in (REPO / "presets").glob("*.yaml"))


def test_the_presets_exist():
    assert NAMES == ["cnn", "cnn-fast", "dense128-adam", "mlp-sgd", "quick"]


@pytest.mark.parametrize("name", NAMES)
def test_each_preset_gives_valid_params(tmp_path, monkeypatch, name):
    monkeypatch.chdir(REPO)
    document = apply_overrides(committed_params(), presets.load_preset(name))
    path = write_yaml(tmp_path / "params.yaml", document)
    for section in params_reference.SECTIONS:
        params.load(path, section)


def test_mlp_sgd_is_the_committed_default(monkeypatch):
    monkeypatch.chdir(REPO)
    document = committed_params()
    assert apply_overrides(document, presets.load_preset("mlp-sgd")) == document


def test_quick_sets_only_the_sizes_and_keeps_the_committed_validation_default(monkeypatch):
    """`quick` runs whatever params.yaml configures, smaller; params.yaml keeps the script's
    5,000 validation images, which a subset alone cannot hold."""
    monkeypatch.chdir(REPO)
    assert presets.load_preset("quick") == {
        "preprocess.subset": 100,
        "preprocess.val_size": 0.2,
        "train.epochs": 2,
    }
    assert committed_params()["preprocess"]["val_size"] == 5000


def test_measure_skips_the_presets_that_train_on_a_subset(monkeypatch):
    monkeypatch.chdir(REPO)
    every = {name: presets.load_preset(name) for name in NAMES}
    assert presets.measured(every) == ["cnn", "cnn-fast", "dense128-adam", "mlp-sgd"]
    assert presets.measured({"a": {"preprocess.subset": None}, "b": {}}) == ["a", "b"]


def test_set_arguments_are_yaml_values_dvc_parses():
    arguments = experiments.set_arguments(
        {"train.hidden_units": [128], "train.optimizer": "adam", "train.checkpoint.enabled": True}
    )
    assert arguments == [
        "-S",
        "train.hidden_units=[128]",
        "-S",
        'train.optimizer="adam"',
        "-S",
        "train.checkpoint.enabled=true",
    ]
    assert yaml.safe_load(arguments[3].split("=", 1)[1]) == "adam"


def test_an_unknown_preset_is_refused(monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(
        PipelineError, match="no preset 'resnet' .known: cnn, cnn-fast, dense128-adam"
    ):
        presets.load_preset("resnet")


def test_results_table_formats_the_measurements():
    table = presets.results_table(
        {
            "cnn": {
                "test_accuracy": 0.93512,
                "macro_f1": 0.9349,
                "epochs_run": 18,
                "train_seconds": 630.0,
                "mlp_multiple": 11.39,
                "parameters": 871978,
            }
        }
    )
    assert table.splitlines()[-1] == (
        "| `cnn` | 0.9351 | 0.9349 | 18 | 10.5 min | 11.39× | 871,978 |"
    )


def test_each_training_time_is_also_a_multiple_of_mlp_sgds_in_the_same_run():
    measured = presets.with_multiples(
        {
            "cnn": {"train_seconds": 917.15, "test_accuracy": 0.937},
            "cnn-fast": {"train_seconds": 161.05},
            "mlp-sgd": {"train_seconds": 55.31},
        }
    )
    assert {name: r["mlp_multiple"] for name, r in measured.items()} == {
        "cnn": 16.58,
        "cnn-fast": 2.91,
        "mlp-sgd": 1.0,
    }
    assert measured["cnn"]["test_accuracy"] == 0.937  # the rest kept


@pytest.mark.parametrize(
    ("found", "message"),
    [
        (
            {"cnn": {}},
            "presets/mlp-sgd.yaml: missing, and every training time is measured as a multiple "
            "of that preset's; restore it: `git checkout -- presets/mlp-sgd.yaml`",
        ),
        (
            {"cnn": {}, "mlp-sgd": {"preprocess.subset": 100}},
            "presets/mlp-sgd.yaml sets preprocess.subset: the reference of every training time "
            "must train on every image; remove preprocess.subset from it",
        ),
    ],
    ids=["missing", "a-subset"],
)
def test_measure_without_its_reference_is_refused_before_any_run(
    tmp_path, monkeypatch, found, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    for name, overrides in found.items():
        write_yaml(tmp_path / "presets" / f"{name}.yaml", overrides or {"train.epochs": 1})
    monkeypatch.setattr(experiments, "run", lambda *a, **k: pytest.fail("a run started"))

    with pytest.raises(PipelineError) as raised:
        presets.main(["measure"])

    assert str(raised.value) == message
    assert not (tmp_path / "metrics").exists()


def test_measure_reruns_every_stage_of_each_preset_and_records_its_multiple(
    tmp_path, monkeypatch, capsys
):
    """Without `--force`, a preset whose params are the commit's (mlp-sgd) would rerun nothing,
    and its time would be the committed metrics/time.json's, from another day."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "presets").mkdir()
    (tmp_path / "metrics").mkdir()
    write_yaml(tmp_path / "presets/mlp-sgd.yaml", {"train.epochs": 30})
    write_yaml(tmp_path / "presets/cnn.yaml", {"train.architecture": "cnn"})
    write_yaml(tmp_path / "presets/quick.yaml", {"preprocess.subset": 100})
    seconds = {"mlp-sgd": 50.0, "cnn": 800.0}
    runs = []
    monkeypatch.setattr(experiments, "run", lambda name, _, **flags: runs.append((name, flags)))
    monkeypatch.setattr(experiments, "shown_here", lambda name: name)
    monkeypatch.setattr(
        experiments,
        "result",
        lambda name, _: {
            "test_accuracy": 0.9,
            "macro_f1": 0.9,
            "epochs_run": 3,
            "parameters": 10,
            "train_seconds": seconds[name],
            "seconds_per_epoch": 1.0,
        },
    )

    presets.main(["measure"])

    assert runs == [
        ("cnn", {"temp": True, "force": True}),
        ("mlp-sgd", {"temp": True, "force": True}),
    ]
    written = json.loads((tmp_path / "metrics/presets.json").read_text())
    assert {n: r["mlp_multiple"] for n, r in written.items()} == {"cnn": 16.0, "mlp-sgd": 1.0}
    assert "| `cnn` | 0.9000 | 0.9000 | 3 | 13.3 min | 16.00× | 10 |" in capsys.readouterr().out


def test_the_committed_presets_json_holds_the_multiples_of_its_own_run(monkeypatch):
    monkeypatch.chdir(REPO)
    committed = json.loads(presets.RESULTS.read_text())
    without = {
        n: {k: v for k, v in r.items() if k != "mlp_multiple"} for n, r in committed.items()
    }
    assert presets.with_multiples(without) == committed


# One experiment as `dvc exp show --json` lists it: the metrics of evaluate, train and the
# train stage's time, under the commit it ran from.
SHOWN = [
    {"rev": "workspace", "name": None, "data": {}},
    {
        "rev": "0c1bb4e90105a0c49a72b0669e5fc1d48bf3619c",
        "name": "main",
        "experiments": [
            {
                "executor": None,
                "revs": [
                    {
                        "rev": "352bffd25658142435145912402336bf9524033c",
                        "name": "cnn",
                        "data": {
                            "params": {"params.yaml": {"data": {"train": {"epochs": 14}}}},
                            "metrics": {
                                "metrics/eval.json": {
                                    "data": {
                                        "test": {
                                            "accuracy": 0.937,
                                            "loss": 0.2,
                                            "macro_f1": 0.9369,
                                        },
                                        # the shipped model's: not dvclive's last epoch
                                        "val": {"accuracy": 0.9441, "loss": 0.17},
                                    }
                                },
                                "metrics/train/metrics.json": {
                                    "data": {
                                        "val": {"accuracy": 0.9434, "loss": 0.18},
                                        "train": {"accuracy": 0.95, "loss": 0.15},
                                        "epochs_run": 14,
                                        "parameters": 871978,
                                    }
                                },
                                "metrics/time.json": {
                                    "data": {
                                        "train_seconds": 917.15,
                                        "seconds_per_epoch": 64.47,
                                        "images_per_second": 840,
                                        "cores_used": 1.8,
                                    }
                                },
                                "metrics/data.json": {"error": {"type": "FileNotFoundError"}},
                            },
                        },
                    }
                ],
            },
            {"executor": {"state": "queued"}, "revs": [{"rev": "abc", "name": "waiting"}]},
        ],
    },
]


def test_result_reads_accuracy_and_time_from_the_experiments_metrics():
    shown = experiments.read_show(SHOWN)
    assert sorted(shown) == ["cnn"]  # the queued one has no results yet
    assert "metrics/data.json" not in shown["cnn"]["metrics"]  # DVC could not read it
    assert experiments.result("cnn", shown["cnn"]) == {
        "commit": "0c1bb4e",
        "val_accuracy": 0.9441,
        "test_accuracy": 0.937,
        "macro_f1": 0.9369,
        "epochs_run": 14,
        "parameters": 871978,
        "train_seconds": 917.15,
        "seconds_per_epoch": 64.47,
        "images_per_second": 840,
        "cores_used": 1.8,
    }


@pytest.mark.parametrize(
    ("path", "data", "missing"),
    [
        ("metrics/time.json", None, "'metrics/time.json'"),
        ("metrics/eval.json", {"accuracy": 0.9, "loss": 0.3, "macro_f1": 0.9}, "'test'"),
        (
            "metrics/eval.json",
            {"test": {"accuracy": 0.9, "loss": 0.3, "macro_f1": 0.9}},
            "'val'",
        ),
    ],
    ids=["no-time", "eval-before-splits", "eval-before-the-shipped-models-val"],
)
def test_an_experiment_of_an_older_pipeline_is_one_line_naming_what_it_lacks(path, data, missing):
    experiment = experiments.read_show(SHOWN)["cnn"]
    if data is None:
        del experiment["metrics"][path]
    else:
        experiment["metrics"][path] = data
    with pytest.raises(PipelineError) as raised:
        experiments.result("cnn", experiment)
    assert str(raised.value) == (
        f"experiment cnn (from commit 0c1bb4e): its metrics hold no {missing}, so it ran before "
        "the pipeline recorded it; run it again"
    )


@pytest.mark.parametrize(
    ("seconds", "epochs", "line"),
    [
        (
            917.15,
            14,
            "cnn: test accuracy 0.9370, trained in 15.3 min (14 epochs, the median 64.47 s)",
        ),
        (2.3, 1, "cnn: test accuracy 0.9370, trained in 2.3 s (1 epoch, the median 64.47 s)"),
    ],
)
def test_the_result_line_names_the_experiment_its_accuracy_and_time(seconds, epochs, line):
    measured = experiments.result("cnn", experiments.read_show(SHOWN)["cnn"])
    measured.update(train_seconds=seconds, epochs_run=epochs)
    assert experiments.summary("cnn", measured) == line


def run_preset(repo, name: str) -> tuple[int, list[str], list[bool]]:
    """`python -m tools.presets run <name>` in `repo`: its exit code, its output's lines (stdout
    and stderr as they came) and, for each line, whether the tool still ran when it came."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.presets", "run", name],
        cwd=repo.root,
        env=repo.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines, running = [], []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        running.append(process.poll() is None)
    return process.wait(timeout=600), lines, running


@pytest.mark.e2e
@pytest.mark.slow
def test_a_preset_streams_its_epochs_prints_its_result_and_a_rerun_replaces_it(repo):
    """The real `dvc exp run` on tiny data, three times: a first run, a rerun (which DVC alone
    refuses: "Experiment conflicts with existing experiment"), and a failing rerun that keeps the
    run before it."""
    (repo.root / "presets").mkdir()
    write_yaml(repo.root / "presets/short.yaml", {"train.epochs": 2, "train.batch_size": 16})
    repo.commit("a preset")
    head = repo.run("git", "rev-parse", "HEAD").strip()
    ref = f"refs/exps/{head[:2]}/{head[2:]}/short"

    code, lines, running = run_preset(repo, "short")
    assert code == 0, "\n".join(lines)
    epochs = [i for i, line in enumerate(lines) if " epoch " in line]
    assert [lines[i].split()[1:3] for i in epochs] == [["epoch", "1/2"], ["epoch", "2/2"]]
    # Streamed: each epoch's line came while the stages after it had still to run.
    assert all(running[i] for i in epochs)
    assert lines.index("Running stage 'evaluate':") > epochs[-1]
    shown = experiments.read_show(json.loads(repo.dvc("exp", "show", "--json")))
    measured = experiments.result("short", shown["short"])
    time = repo.read_json("metrics/time.json")
    assert measured["train_seconds"] == time["train_seconds"] > 0
    assert lines[-1] == experiments.summary("short", measured)
    first = repo.run("git", "rev-parse", ref).strip()

    write_yaml(repo.root / "presets/short.yaml", {"train.epochs": 1, "train.batch_size": 16})
    code, lines, _ = run_preset(repo, "short")
    assert code == 0, "\n".join(lines)
    assert lines[0] == "short: this commit has an experiment short already; this run replaces it"
    assert "short: replaced the earlier experiment short of this commit" in lines
    assert lines[-1].startswith("short: test accuracy ") and "(1 epoch, " in lines[-1]
    second = repo.run("git", "rev-parse", ref).strip()
    assert second != first
    refs = repo.run("git", "for-each-ref", "--format=%(refname)", "refs/exps/").split()
    assert [r for r in refs if not r.endswith("EXEC_HEAD")] == [ref]  # nothing set aside left

    write_yaml(repo.root / "presets/short.yaml", {"train.epochs": 0})
    code, lines, _ = run_preset(repo, "short")
    assert code == 2
    assert "train.epochs=0: must be an integer in [1, 1000000]" in "\n".join(lines)
    assert lines[-2:] == [
        "short: the run did not finish; the earlier experiment is kept",
        "error: `dvc exp run -n short -S train.epochs=0` failed (exit 255); its output is above",
    ]
    assert repo.run("git", "rev-parse", ref).strip() == second

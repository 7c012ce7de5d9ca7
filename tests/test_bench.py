"""make bench's figures computed from the measured ones, on made-up measurements: the pipeline
against the plain script in the pipeline's numerics, the cost of portable numerics, DVC's share of
the full run, the incremental fraction."""

import pydantic
import pytest

from bench import bench, probes


def measured(**changes) -> dict:
    figures = {
        "date": "2026-12-01",
        "numerics": "portable",
        "full_seconds": 63.0,
        "plain_seconds": {"portable": 60.0, "fastest": 50.0},
        "stage_seconds": {
            "download": 1.0,
            "preprocess": 2.0,
            "train": 45.0,
            "evaluate": 4.0,
            "predict": 3.0,
        },
        "incremental_predict_seconds": 2.1,
        "incremental_evaluate_seconds": 3.15,
        "images_per_second": {
            "mlp_default": 20000,
            "mlp_tuned": 31000,
            "cnn_default": 1000,
            "cnn_tuned": 1050,
        },
    }
    return {**figures, **changes}


def test_the_ratios_of_made_up_measurements():
    assert bench.ratios(measured()) == {
        "overhead_ratio": 1.05,
        "portable_cost": 1.2,
        "dvc_seconds": 8.0,
        "incremental_fraction": 0.05,
        "mlp_speedup": 1.55,
        "cnn_speedup": 1.05,
    }


def test_the_pipeline_is_compared_with_the_script_in_its_own_numerics_mode():
    """Like with like: with train.numerics fastest, the fastest run of the script is the base."""
    assert bench.ratios(measured(numerics="fastest"))["overhead_ratio"] == pytest.approx(1.26)
    assert bench.ratios(measured(numerics="fastest"))["portable_cost"] == 1.2


def test_the_record_holds_the_measured_figures_the_ratios_and_the_targets():
    record = bench.record(measured())
    assert record["full_seconds"] == 63.0 and record["overhead_ratio"] == 1.05
    assert record["targets"] == bench.TARGETS
    assert bench.TARGETS["overhead_ratio"] == 1.05
    assert bench.TARGETS["incremental_fraction"] == 0.05


def test_the_plain_script_runs_in_every_numerics_mode_of_the_pipeline():
    from stages.train import tensorflow_setup

    assert set(bench.NUMERICS) == set(tensorflow_setup.NUMERICS_ENV)


def test_each_stage_is_profiled_as_dvc_runs_it(monkeypatch, tmp_path):
    """Its command from dvc.lock, run FULL_RUNS times: the median seconds, the highest peak; and
    its start-up, `--help`."""
    runs, helps = [], []
    seconds = iter([3.0, 1.0, 2.0] * len(bench.STAGES))
    memory = iter([0.5, 0.7, 0.6] * len(bench.STAGES))

    def timed(argv, cwd, env):
        runs.append(argv)
        return next(seconds), next(memory)

    def process_seconds(argv, cwd, env, count):
        helps.append(argv)
        return 0.123

    monkeypatch.setattr(bench, "FULL_RUNS", 3)
    monkeypatch.setattr(bench, "timed", timed)
    monkeypatch.setattr(bench, "process_seconds", process_seconds)
    lock = {"stages": {s: {"cmd": f"python -m stages.{s} --out x"} for s in bench.STAGES}}
    figures = bench.stage_figures(bench.stage_profile(tmp_path, {}, lock))

    assert runs[0][1:] == ["-m", "stages.download", "--out", "x"]
    assert len(runs) == bench.FULL_RUNS * len(bench.STAGES)
    assert helps[-1][1:] == ["-m", "stages.predict", "--help"]
    assert figures["stage_seconds"] == dict.fromkeys(bench.STAGES, 2.0)
    assert figures["peak_memory_gib"] == dict.fromkeys(bench.STAGES, 0.7)
    assert figures["help_seconds"] == dict.fromkeys(bench.STAGES, 0.12)


def test_the_plain_script_runs_take_the_numerics_modes_in_turn(monkeypatch):
    runs = []
    seconds = iter([60.0, 50.0, 64.0, 52.0, 62.0, 90.0])

    def timed(argv, cwd, env):
        runs.append(argv[3])
        return next(seconds), 0.8

    monkeypatch.setattr(bench, "FULL_RUNS", 3)
    monkeypatch.setattr(bench, "timed", timed)
    assert bench.plain_script_seconds({}) == {"portable": 62.0, "fastest": 52.0}
    assert runs == ["--numerics=portable", "--numerics=fastest"] * 3


def test_an_epochs_overrides_are_dotted_train_keys_checked_as_params_are():
    from stages.shared import params
    from stages.train import settings as train_settings
    from tests.helpers.project import REPO

    cfg = params.load(REPO / "params.yaml", train_settings.Train)
    changed = probes.with_overrides(cfg, {"augment.erasing": 0.5, "batch_size": 256})
    assert changed.augment.erasing == 0.5 and changed.batch_size == 256
    assert changed.model_copy(update={"augment": cfg.augment, "batch_size": 32}) == cfg
    with pytest.raises(pydantic.ValidationError):
        probes.with_overrides(cfg, {"stem_stride": 3})


@pytest.mark.slow
def test_an_epoch_is_timed_in_the_train_stages_own_set_up(tiny_run):
    figures = probes.epoch_cost(tiny_run.train, tiny_run.val, tiny_run.params, {"batch_size": 16})
    assert set(figures) == {"epoch_seconds", "validation_seconds", "cores_used"}
    assert figures["epoch_seconds"] > 0 and figures["validation_seconds"] > 0
    assert figures["cores_used"] > 0


@pytest.mark.slow
def test_a_training_step_is_timed_layer_by_layer_beside_the_whole_step(tiny_run):
    cnn = {"architecture": "cnn", "conv_filters": [4], "batch_size": 16, "batch_norm": True}
    figures = probes.layer_costs(tiny_run.train, tiny_run.params, cnn)
    kinds = [row["kind"] for row in figures["layers"]]
    assert kinds[0] == "Rescaling" and "Conv2D" in kinds and "BatchNormalization" in kinds
    assert "InputLayer" not in kinds and kinds[-1] == "Dense"
    conv = figures["layers"][kinds.index("Conv2D")]
    assert conv["output"] == [28, 28, 4] and conv["ms"] > 0
    assert figures["batch_size"] == 16 and figures["step_ms"] > 0
    assert figures["call_overhead_ms"] > 0
    spent = sum(row["ms"] for row in figures["layers"])
    assert figures["rest_ms"] == pytest.approx(figures["step_ms"] - spent, abs=0.02)

"""docs/performance.md's figures: generated from metrics/bench.json and current, every figure of a
complete record shown, an older record's missing figures named as such, and no figure typed by
hand in the prose around them."""

import json
import re

from bench import bench, page
from tools import generated

COMPLETE = bench.record(
    {
        "date": "2026-12-01",
        "cpus": 2,
        "cpu_model": "Some CPU",
        "python": "3.11.7",
        "tensorflow": "2.21.0",
        "numerics": "portable",
        "runs": {"full": 3, "quick": 5, "throughput": 5},
        "full_seconds": 63.0,
        "plain_seconds": {"portable": 60.0, "fastest": 50.0},
        "noop_seconds": 0.61,
        "incremental_predict_seconds": 2.1,
        "incremental_evaluate_seconds": 3.15,
        "stage_seconds": {
            "download": 1.0,
            "preprocess": 2.0,
            "train": 45.0,
            "evaluate": 4.0,
            "predict": 3.0,
        },
        "help_seconds": {
            "download": 0.15,
            "preprocess": 0.16,
            "train": 0.17,
            "evaluate": 0.18,
            "predict": 0.19,
        },
        "peak_memory_gib": {
            "download": 0.07,
            "preprocess": 0.18,
            "train": 0.9,
            "evaluate": 0.16,
            "predict": 0.15,
        },
        "preprocess_seconds": 0.207,
        "images_per_second": {
            "mlp_default": 20000,
            "mlp_tuned": 31000,
            "cnn_default": 1000,
            "cnn_tuned": 1050,
        },
        "images_per_second_runs": {
            "mlp_default": [19000, 20000, 21000],
            "mlp_tuned": [19500, 31000, 34000],
            "cnn_default": [900, 1000, 1100],
            "cnn_tuned": [1000, 1050, 1130],
        },
        "epoch_profile": {
            "preset": "cnn-fast",
            "runs": [
                {
                    "change": {},
                    "epoch_seconds": 20.0,
                    "validation_seconds": 0.7,
                    "cores_used": 1.8,
                },
                {
                    "change": {"batch_norm": False, "augment.horizontal_flip": False},
                    "epoch_seconds": 15.0,
                    "validation_seconds": 0.6,
                    "cores_used": 1.7,
                },
            ],
        },
        "layer_profile": {
            "preset": "cnn-fast",
            "batch_size": 128,
            "step_ms": 40.0,
            "call_overhead_ms": 0.3,
            "layers": [
                {"layer": "block1_conv1", "kind": "Conv2D", "output": [28, 28, 32], "ms": 10.0},
                {
                    "layer": "block1_bn",
                    "kind": "BatchNormalization",
                    "output": [14, 14, 32],
                    "ms": 6.0,
                },
                {"layer": "block2_conv1", "kind": "Conv2D", "output": [14, 14, 64], "ms": 14.0},
            ],
            "rest_ms": 10.0,
        },
    }
)


def test_a_complete_record_shows_every_figure():
    text = page.figures(COMPLETE)
    assert page.MISSING not in text
    for shown in (
        "Measured on 2026-12-01: 2 CPUs (Some CPU), Python 3.11.7, TensorFlow 2.21.0.",
        "median of 3 runs",
        "both in `train.numerics: portable` | 63.0 s vs 60.0 s: ratio 1.05 | ≤ 1.05 |",
        "portable vs fastest | 60.0 s vs 50.0 s: ratio 1.2 |",
        "| no-op `dvc repro` | 0.61 s | ≤ 1.5 s |",
        "| after a predict param change | 2.1 s (3.3% of the full run) |",
        "| after an evaluate param change | 3.15 s (5.0% of the full run) |",
        "| 5.0% | ≤ 5% |",
        "| 0.207 s | ≤ 1.0 s |",
        "20,000 → 31,000 (1.55×); runs 19,000–21,000 → 19,500–34,000 | ≥ 1.5× |",
        "1,000 → 1,050 (1.05×); runs 900–1,100 → 1,000–1,130 |",
        "| train | 45.0 | 0.17 | 0.9 |",
        "| evaluate | 4.0 | 0.18 | 0.16 |",
        "| DVC: the full run less the stages' processes | 8.0 |",
        "| the full run, `dvc repro --force` | 63.0 |",
        "evaluate's and predict's ≤ 0.5 GiB, their start-up ≤ 0.3 s.",
        "One training epoch of the `cnn-fast` preset",
        "| the preset as it is | 20.0 |  | 0.7 | 1.8 |",
        "| `batch_norm: false`, `augment.horizontal_flip: false` | 15.0 | -25% | 0.6 | 1.7 |",
        "One training step of the `cnn-fast` preset (a batch of 128)",
        "less the 0.30 ms the timing harness takes around an identity layer",
        "| `block1_conv1` | Conv2D | 28×28×32 | 10.00 | 25% |",
        "| the rest | loss, the optimizer's update, Keras' loop |  | 10.00 | 25% |",
        "| **a whole step** |  |  | **40.00** | 100% |",
        "By kind of layer: Conv2D 60%, BatchNormalization 15%.",
    ):
        assert shown in text, shown


def test_a_figure_an_older_record_lacks_is_shown_as_not_measured():
    older = {k: v for k, v in COMPLETE.items() if k not in ("stage_seconds", "plain_seconds")}
    text = page.figures(older)
    assert "| train | *not measured* | 0.17 | 0.9 |" in text
    assert "both in `train.numerics: portable` | *not measured* |" in text
    assert "predates the figure; `make bench` measures it" in text


def test_a_changed_figure_makes_the_page_stale_and_the_prose_stays():
    start, end = generated.markers(page.BLOCK)
    document = f"# Performance\n\nProse.\n\n{start}\nold\n{end}\n\nMore prose.\n"
    new = generated.with_block(document, page.BLOCK, page.figures(COMPLETE))
    assert new.startswith("# Performance\n\nProse.\n\n") and new.endswith("\n\nMore prose.\n")
    assert generated.with_block(new, page.BLOCK, page.figures(COMPLETE)) == new
    slower = json.loads(json.dumps(COMPLETE)) | {"noop_seconds": 0.62}
    assert generated.with_block(new, page.BLOCK, page.figures(slower)) != new


def test_the_prose_around_the_figures_types_no_figure():
    """No measured figure outside the generated block: a decimal number, or a number with a unit
    of time, memory, share or speed (a path, `AVX2` or `x86-64` is no figure)."""
    text = page.PAGE.read_text(encoding="utf-8")
    start, end = generated.markers(page.BLOCK)
    before, rest = text.split(start, 1)
    prose = before + rest.split(end, 1)[1]
    figure = re.compile(r"\b\d+\.\d+\b|\b\d[\d,]*\s?(s|%|×|GiB|MB|images/s|minutes)(?!\w)")
    assert not [m.group(0) for m in figure.finditer(prose)]

"""Generate the figures of docs/performance.md from metrics/bench.json (the record `make bench`
writes), between its `<!-- bench-figures -->` markers (`python -m tools.generated` writes them;
tests/test_generated.py fails when they differ from the file). The prose around them names no
figure."""

import json
from collections.abc import Sequence
from pathlib import Path

from tools.generated import with_block
from tools.project_copy import REPO

PAGE = REPO / "docs" / "performance.md"
RESULTS = REPO / "metrics" / "bench.json"
BLOCK = "bench-figures"
MISSING = "*not measured*"
STAGES = ["download", "preprocess", "train", "evaluate", "predict"]


def figure(results: dict, *keys: str) -> object | None:
    """results[keys[0]][keys[1]]…, or None if the file does not hold it (an older bench.json)."""
    value: object = results
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def shown(template: str, *values: object) -> str:
    """`template` formatted with `values`, or MISSING if one of them is None."""
    return MISSING if any(v is None for v in values) else template.format(*values)


def machine_line(r: dict) -> str:
    """What the figures were measured on, and how many runs each is the median of."""
    line = f"Measured on {r['date']}"
    machine = (r.get("cpus"), r.get("cpu_model"), r.get("python"), r.get("tensorflow"))
    if None not in machine:
        line += ": {} CPUs ({}), Python {}, TensorFlow {}".format(*machine)
    runs = figure(r, "runs")
    if runs:
        line += (
            f". Each figure is the median of {runs['full']} runs for the full pipeline, the plain"
            f" script and each stage's process, of {runs['quick']} for the shorter commands, of"
            f" {runs['throughput']} for the training throughput"
        )
    return line + "."


def summary_rows(r: dict) -> list[tuple[str, str, str]]:
    """(what, measured, target) for the table of what users wait for."""
    t = r.get("targets", {})
    mode = r.get("numerics")
    full, plain = r.get("full_seconds"), figure(r, "plain_seconds", mode or "")
    fastest = figure(r, "plain_seconds", "fastest")
    portable = figure(r, "plain_seconds", "portable")
    ips, spread = r.get("images_per_second", {}), r.get("images_per_second_runs", {})

    def share(key: str) -> str:
        return shown("{} s ({:.1%} of the full run)", r.get(key), r[key] / full if full else None)

    def training(kind: str) -> str:
        default, tuned = ips.get(f"{kind}_default"), ips.get(f"{kind}_tuned")
        runs = [spread.get(f"{kind}_{s}") for s in ("default", "tuned")]
        text = shown("{:,} → {:,} ({}×)", default, tuned, r.get(f"{kind}_speedup"))
        if None not in runs and text != MISSING:
            text += "; runs {:,}–{:,} → {:,}–{:,}".format(*_span(runs))
        return text

    return [
        (
            "pipeline from scratch (`dvc repro --force`) vs the plain script, both in "
            + (f"`train.numerics: {mode}`" if mode else "the pipeline's numerics mode"),
            shown("{} s vs {} s: ratio {}", full, plain, r.get("overhead_ratio")),
            shown("≤ {}", t.get("overhead_ratio")),
        ),
        (
            "cost of portable numerics: the plain script portable vs fastest",
            shown("{} s vs {} s: ratio {}", portable, fastest, r.get("portable_cost")),
            "",
        ),
        (
            "no-op `dvc repro`",
            shown("{} s", r.get("noop_seconds")),
            shown("≤ {} s", t.get("noop_seconds")),
        ),
        ("after a predict param change", share("incremental_predict_seconds"), ""),
        ("after an evaluate param change", share("incremental_evaluate_seconds"), ""),
        (
            "the slower of the two, as a fraction of the full run",
            shown("{:.1%}", r.get("incremental_fraction")),
            shown("≤ {:.0%}", t.get("incremental_fraction")),
        ),
        (
            "preprocess: decode and split 70,000 images",
            shown("{} s", r.get("preprocess_seconds")),
            shown("≤ {} s", t.get("preprocess_seconds")),
        ),
        (
            "MLP training, images/s: `fit` defaults → tuned",
            training("mlp"),
            shown("≥ {}×", t.get("mlp_speedup")),
        ),
        ("CNN training, images/s: `fit` defaults → tuned", training("cnn"), ""),
    ]


def _span(runs: list[list[int]]) -> list[int]:
    """min, max of each list of runs, in order."""
    return [f(run) for run in runs for f in (min, max)]


def stage_rows(r: dict) -> list[tuple[str, str, str, str]]:
    """(stage, process seconds, start-up seconds, peak memory) for each stage, then DVC's share
    and the whole run."""
    rows = [
        (
            stage,
            shown("{}", figure(r, "stage_seconds", stage)),
            shown("{}", figure(r, "help_seconds", stage)),
            shown("{}", figure(r, "peak_memory_gib", stage)),
        )
        for stage in STAGES
    ]
    rows.append(
        ("DVC: the full run less the stages' processes", shown("{}", r.get("dvc_seconds")), "", "")
    )
    rows.append(("the full run, `dvc repro --force`", shown("{}", r.get("full_seconds")), "", ""))
    return rows


def stage_targets(r: dict) -> str:
    """The sentence of the per-stage targets the file records."""
    t = r.get("targets", {})
    parts = []
    if "peak_memory_gib" in t:
        parts.append(f"every stage's peak memory ≤ {t['peak_memory_gib']} GiB")
    if "inference_peak_memory_gib" in t:
        parts.append(f"evaluate's and predict's ≤ {t['inference_peak_memory_gib']} GiB")
    if "inference_help_seconds" in t:
        parts.append(f"their start-up ≤ {t['inference_help_seconds']} s")
    return f"Targets: {', '.join(parts)}." if parts else ""


def epoch_lines(r: dict) -> list[str]:
    """Where one training epoch of the profiled preset goes: the preset as it is, then one
    change at a time, with the epoch's seconds as a share of the preset's own."""
    profile = r.get("epoch_profile")
    if not profile:
        return []
    runs = profile["runs"]
    base = runs[0]["epoch_seconds"]
    rows = [
        (
            ", ".join(f"`{k}: {json.dumps(v)}`" for k, v in run["change"].items())
            or "the preset as it is",
            f"{run['epoch_seconds']}",
            f"{run['epoch_seconds'] / base - 1:+.0%}" if run["change"] else "",
            f"{run['validation_seconds']}",
            f"{run['cores_used']}",
        )
        for run in runs
    ]
    return [
        "",
        f"One training epoch of the `{profile['preset']}` preset (55,000 images) and one pass "
        "over the validation split, in the train stage's own set-up, one change at a time "
        "(`python -m bench.probes epoch`):",
        "",
        *table(["change", "epoch (s)", "vs the preset", "validation (s)", "cores used"], rows),
    ]


def layer_lines(r: dict) -> list[str]:
    """Where one training step of the profiled preset goes, layer by layer, and the rest of the
    step; then the share of each kind of layer."""
    profile = r.get("layer_profile")
    if not profile:
        return []
    step = profile["step_ms"]
    rows = [
        (
            f"`{row['layer']}`",
            row["kind"],
            "×".join(str(n) for n in row["output"]),
            f"{row['ms']:.2f}",
            f"{row['ms'] / step:.0%}",
        )
        for row in profile["layers"]
    ]
    rows += [
        (
            "the rest",
            "loss, the optimizer's update, Keras' loop",
            "",
            f"{profile['rest_ms']:.2f}",
            f"{profile['rest_ms'] / step:.0%}",
        ),
        ("**a whole step**", "", "", f"**{step:.2f}**", "100%"),
    ]
    kinds: dict[str, float] = {}
    for row in profile["layers"]:
        kinds[row["kind"]] = kinds.get(row["kind"], 0.0) + row["ms"]
    shares = ", ".join(
        f"{kind} {ms / step:.0%}" for kind, ms in sorted(kinds.items(), key=lambda kv: -kv[1])
    )
    return [
        "",
        f"One training step of the `{profile['preset']}` preset (a batch of "
        f"{profile['batch_size']}), layer by layer: each layer's forward and backward pass timed "
        f"alone, less the {profile['call_overhead_ms']:.2f} ms the timing harness takes around "
        "an identity layer, beside a whole step of `model.fit` (`python -m bench.probes "
        "layers`; milliseconds):",
        "",
        *table(["layer", "kind", "output", "ms", "of the step"], rows),
        "",
        f"By kind of layer: {shares}.",
    ]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def figures(r: dict) -> str:
    """The generated part of docs/performance.md: the machine, what users wait for, where the
    full run's time goes, stage by stage."""
    summary = summary_rows(r)
    stages = stage_rows(r)
    lines = [
        machine_line(r),
        "",
        *table(["what", "measured", "target"], summary),
        "",
        "Where the time of a full run goes, stage by stage (seconds, GiB):",
        "",
        *table(["stage", "its process", "its start-up (`--help`)", "peak memory"], stages),
    ]
    if targets := stage_targets(r):
        lines += ["", targets]
    lines += epoch_lines(r)
    lines += layer_lines(r)
    if any(MISSING in cell for row in [*summary, *stages] for cell in row):
        lines += [
            "",
            f"{MISSING}: not in this metrics/bench.json, which predates the figure; `make bench`"
            " measures it.",
        ]
    return "\n".join(lines)


def generated() -> dict[Path, str]:
    """docs/performance.md as metrics/bench.json says it should be (`python -m tools.generated`
    writes it)."""
    page = PAGE.read_text(encoding="utf-8")
    return {PAGE: with_block(page, BLOCK, figures(json.loads(RESULTS.read_text())))}

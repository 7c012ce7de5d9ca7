"""make bench: what users of the pipeline wait for, measured on the real data in one run, each
figure the median of several repetitions. Writes metrics/bench.json, the record, from which
`python -m bench.page` generates the figures of docs/performance.md. Not part of the test suite:
it takes about a quarter of an hour and wants the machine to itself.

    python -m bench.bench
"""

import functools
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from tools import commands
from tools.project_copy import REPO, copy_project

RESULTS = REPO / "metrics/bench.json"
FULL_RUNS, QUICK_RUNS, THROUGHPUT_RUNS = 3, 5, 5
STAGES = ["download", "preprocess", "train", "evaluate", "predict"]
NUMERICS = ("portable", "fastest")  # the plain script runs in each of train.numerics' modes
TARGETS = {
    # The pipeline against the plain script in the pipeline's numerics mode (params.yaml).
    "overhead_ratio": 1.05,
    "noop_seconds": 1.5,
    "incremental_fraction": 0.05,
    "preprocess_seconds": 1.0,
    "mlp_speedup": 1.5,
    "peak_memory_gib": 2.0,
    # The stages that run the shipped ONNX model, without TensorFlow.
    "inference_help_seconds": 0.3,
    "inference_peak_memory_gib": 0.5,
}


def timed(argv: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak resident memory of the process in GiB). Its own
    process, not tools.commands: the memory figure needs the process's resource usage."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{output.decode(errors='replace')}")
    return seconds, usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def median_seconds(
    action: Callable[[], object], runs: int, before: Callable[[], None] | None = None
) -> float:
    """The median wall-clock seconds of `runs` calls of `action`, each after `before`."""
    times = []
    for _ in range(runs):
        if before:
            before()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def repro_seconds(
    project: Path, env: dict, runs: int, *options: str, before: Callable[[], None] | None = None
) -> float:
    """The median seconds of `dvc repro <options>` in `project`, each run after `before`."""
    return median_seconds(
        functools.partial(commands.dvc, "repro", *options, cwd=project, env=env), runs, before
    )


def process_seconds(argv: list[str], cwd: Path, env: dict, runs: int) -> float:
    """The median wall-clock seconds of the command `argv`."""
    return median_seconds(functools.partial(timed, argv, cwd, env), runs)


def set_param(project: Path, section: str, key: str, value) -> None:
    path = project / "params.yaml"
    document = yaml.safe_load(path.read_text())
    document[section][key] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def incremental(project: Path, env: dict, section: str, key: str, first: int) -> float:
    """Median seconds of `dvc repro` after setting `section.key` to a new value each time (a
    value seen before would rerun too: DVC keeps no run-cache for persistent outputs)."""
    values = iter(range(first, first + QUICK_RUNS))
    return repro_seconds(
        project, env, QUICK_RUNS, before=lambda: set_param(project, section, key, next(values))
    )


def plain_script_seconds(env: dict) -> dict[str, float]:
    """The median seconds of bench/plain_script.py in each numerics mode, FULL_RUNS runs each,
    in rounds that take each mode in turn (as `throughputs` does)."""
    source = "/usr/share/datasets/fashion-mnist"
    times: dict[str, list[float]] = {mode: [] for mode in NUMERICS}
    for _ in range(FULL_RUNS):
        for mode in NUMERICS:
            argv = [sys.executable, "-m", "bench.plain_script", f"--numerics={mode}", source]
            times[mode].append(timed(argv, REPO, env)[0])
    return {mode: round(statistics.median(runs), 1) for mode, runs in times.items()}


def stage_profile(project: Path, env: dict, lock: dict) -> dict[str, dict[str, float]]:
    """Each stage's process as `dvc repro` runs it (its command in dvc.lock, in `project`, where
    its inputs are): median wall seconds of FULL_RUNS runs and their peak memory, and the median
    seconds of its start-up, `--help` (the interpreter and the module-level imports)."""
    profile = {}
    for stage in STAGES:
        argv = [sys.executable, *lock["stages"][stage]["cmd"].split()[1:]]
        runs = [timed(argv, project, env) for _ in range(FULL_RUNS)]
        help_argv = [sys.executable, "-m", f"stages.{stage}", "--help"]
        profile[stage] = {
            "seconds": statistics.median(seconds for seconds, _ in runs),
            "peak_memory_gib": max(memory for _, memory in runs),
            "help_seconds": process_seconds(help_argv, project, env, QUICK_RUNS),
        }
    return profile


def stage_figures(profile: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """`stage_profile`'s figures as bench.json holds them: one mapping of the stages per figure."""
    return {
        "stage_seconds": {k: round(v["seconds"], 1) for k, v in profile.items()},
        "help_seconds": {k: round(v["help_seconds"], 2) for k, v in profile.items()},
        "peak_memory_gib": {k: round(v["peak_memory_gib"], 2) for k, v in profile.items()},
    }


def ratios(measured: dict) -> dict:
    """The figures computed from the measured ones: the pipeline against the plain script in the
    same numerics, the cost of portable numerics, what DVC adds beyond the stages' processes, the
    incremental runs as a fraction of the full one, the training speed-ups."""
    full, plain = measured["full_seconds"], measured["plain_seconds"]
    ips = measured["images_per_second"]
    return {
        "overhead_ratio": round(full / plain[measured["numerics"]], 3),
        "portable_cost": round(plain["portable"] / plain["fastest"], 3),
        "dvc_seconds": round(full - sum(measured["stage_seconds"].values()), 1),
        "incremental_fraction": round(
            max(measured["incremental_predict_seconds"], measured["incremental_evaluate_seconds"])
            / full,
            3,
        ),
        "mlp_speedup": round(ips["mlp_tuned"] / ips["mlp_default"], 2),
        "cnn_speedup": round(ips["cnn_tuned"] / ips["cnn_default"], 2),
    }


def record(measured: dict) -> dict:
    """metrics/bench.json's content: the measured figures, those computed from them, the
    targets."""
    return {**measured, **ratios(measured), "targets": TARGETS}


def machine() -> dict:
    """What the figures were measured on."""
    with open("/proc/cpuinfo") as cpuinfo:
        models = [
            line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
        ]
    return {
        "cpus": os.cpu_count(),
        "cpu_model": models[0] if models else platform.machine(),
        "python": platform.python_version(),
        "tensorflow": importlib.metadata.version("tensorflow"),
    }


def probe(*argv: str) -> float | dict:
    """The figure that `python -m bench.probes <argv>` measures, in a new process."""
    output = commands.run([sys.executable, "-m", "bench.probes", *argv], cwd=REPO)
    return json.loads(output.strip().splitlines()[-1])


# Where an epoch of the fast CNN preset goes: the preset as it is, then one change at a time
# (dotted train keys), each one epoch on the whole training split in a new process.
EPOCH_PRESET = "cnn-fast"
EPOCH_CHANGES = [
    {},
    {"batch_norm": False},
    {"conv_dropout": 0.0, "dropout": 0.0},
    {"augment.horizontal_flip": False},
    {"pool_first": False},
    {"batch_size": 256},
    {"steps_per_execution": 128},
    {"stem_stride": 2},
]


def preset_train_keys(name: str) -> dict:
    """presets/<name>.yaml's train keys, without their `train.` prefix."""
    preset = yaml.safe_load((REPO / f"presets/{name}.yaml").read_text())
    return {k.split(".", 1)[1]: v for k, v in preset.items() if k.startswith("train.")}


def epoch_profile() -> dict:
    """{"preset": EPOCH_PRESET, "runs": [{"change": {...}, epoch and validation seconds, cores
    used}, …]} for each of EPOCH_CHANGES applied to the preset (bench.probes epoch)."""
    runs = []
    for change in EPOCH_CHANGES:
        figures = probe(
            "epoch",
            f"--train={REPO / 'data/prepared/train.npz'}",
            f"--val={REPO / 'data/prepared/val.npz'}",
            f"--params={REPO / 'params.yaml'}",
            f"--overrides={json.dumps({**preset_train_keys(EPOCH_PRESET), **change})}",
        )
        runs.append({"change": change, **figures})
    return {"preset": EPOCH_PRESET, "runs": runs}


def layer_profile() -> dict:
    """{"preset": EPOCH_PRESET, and bench.probes layers' figures: a training step's milliseconds,
    each layer's, the rest}."""
    figures = probe(
        "layers",
        f"--train={REPO / 'data/prepared/train.npz'}",
        f"--params={REPO / 'params.yaml'}",
        f"--overrides={json.dumps(preset_train_keys(EPOCH_PRESET))}",
    )
    return {"preset": EPOCH_PRESET, **figures}


def throughput(overrides: dict, images: int, batch_size: int, spe: int) -> float:
    """Images per second of one epoch of `model.fit` on this checkout's training split, after
    warm-up, in a new process (bench.probes)."""
    return probe(
        "throughput",
        f"--train={REPO / 'data/prepared/train.npz'}",
        f"--params={REPO / 'params.yaml'}",
        f"--overrides={json.dumps(overrides)}",
        f"--images={images}",
        f"--batch-size={batch_size}",
        f"--steps-per-execution={spe}",
    )


def throughputs(settings: dict[str, tuple]) -> dict[str, list[float]]:
    """THROUGHPUT_RUNS measurements of each of `settings` (name → `throughput` arguments), in
    rounds that take each setting in turn, so that a slow spell of the shared machine slows every
    setting alike instead of one."""
    rates: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(THROUGHPUT_RUNS):
        for name, arguments in settings.items():
            rates[name].append(throughput(*arguments))
    return rates


def main() -> None:
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    measured: dict = {"date": time.strftime("%Y-%m-%d"), **machine()}
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    measured["numerics"] = params["train"]["numerics"]
    measured["runs"] = {"full": FULL_RUNS, "quick": QUICK_RUNS, "throughput": THROUGHPUT_RUNS}
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp) / "project", env)
        print("full pipeline (dvc repro --force) ×", FULL_RUNS, flush=True)
        commands.dvc("repro", cwd=project, env=env)  # fills the cache; the timed runs are forced
        measured["full_seconds"] = round(repro_seconds(project, env, FULL_RUNS, "--force"), 1)
        print("plain script ×", FULL_RUNS, "in each numerics mode", flush=True)
        measured["plain_seconds"] = plain_script_seconds(env)

        measured["noop_seconds"] = round(repro_seconds(project, env, QUICK_RUNS), 2)
        predict = incremental(project, env, "predict", "count", first=6)
        evaluate = incremental(project, env, "evaluate", "samples", first=21)
        measured["incremental_predict_seconds"] = round(predict, 2)
        measured["incremental_evaluate_seconds"] = round(evaluate, 2)

        print("each stage's process ×", FULL_RUNS, flush=True)
        lock = yaml.safe_load((project / "dvc.lock").read_text())
        measured.update(stage_figures(stage_profile(project, env, lock)))

        data = [
            probe(
                "preprocess",
                f"--raw={project / 'data/raw'}",
                f"--params={project / 'params.yaml'}",
            )
            for _ in range(QUICK_RUNS)
        ]
        measured["preprocess_seconds"] = round(statistics.median(data), 3)

    print("training throughput", flush=True)
    cnn = yaml.safe_load((REPO / "presets/cnn.yaml").read_text())
    cnn_overrides = {
        k.split(".", 1)[1]: v
        for k, v in cnn.items()
        if k.startswith("train.") and "." not in k.split(".", 1)[1]
    }
    rates = throughputs(
        {
            "mlp_default": ({}, 55000, 32, 1),
            "mlp_tuned": ({}, 55000, 32, 32),
            "cnn_default": (cnn_overrides, 10000, 128, 1),
            "cnn_tuned": (cnn_overrides, 10000, 128, 32),
        }
    )
    median = {k: statistics.median(v) for k, v in rates.items()}
    measured["images_per_second"] = {k: round(v) for k, v in median.items()}
    measured["images_per_second_runs"] = {k: [round(r) for r in v] for k, v in rates.items()}
    print(f"one epoch of {EPOCH_PRESET}, one change at a time", flush=True)
    measured["epoch_profile"] = epoch_profile()
    measured["layer_profile"] = layer_profile()
    results = record(measured)

    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO)}; make generate writes docs/performance.md from it")


if __name__ == "__main__":
    main()

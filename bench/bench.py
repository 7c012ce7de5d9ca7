"""make bench: what users of the pipeline wait for, measured on the real data in one run, each
figure the median of several repetitions. Writes metrics/bench.json and prints a Markdown table.
Not part of the test suite: it takes about ten minutes and wants the machine to itself.

    python -m bench.bench
"""

import functools
import json
import os
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
TARGETS = {
    "overhead_ratio": 1.10,
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


def probe(*argv: str) -> float:
    """The figure that `python -m bench.probes <argv>` measures, in a new process."""
    output = commands.run([sys.executable, "-m", "bench.probes", *argv], cwd=REPO)
    return json.loads(output.strip().splitlines()[-1])


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
    results: dict = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp) / "project", env)
        print("full pipeline (dvc repro --force) ×", FULL_RUNS, flush=True)
        commands.dvc("repro", cwd=project, env=env)  # fills the cache; the timed runs are forced
        full = repro_seconds(project, env, FULL_RUNS, "--force")
        print("plain script ×", FULL_RUNS, flush=True)
        source = Path("/usr/share/datasets/fashion-mnist")
        plain = process_seconds(
            [sys.executable, str(REPO / "bench/plain_script.py"), str(source)],
            project,
            env,
            FULL_RUNS,
        )
        results["full_seconds"], results["plain_seconds"] = round(full, 1), round(plain, 1)
        results["overhead_ratio"] = round(full / plain, 3)

        results["noop_seconds"] = round(repro_seconds(project, env, QUICK_RUNS), 2)
        predict = incremental(project, env, "predict", "count", first=6)
        evaluate = incremental(project, env, "evaluate", "samples", first=21)
        results["incremental_predict_seconds"] = round(predict, 2)
        results["incremental_evaluate_seconds"] = round(evaluate, 2)
        results["incremental_fraction"] = round(max(predict, evaluate) / full, 3)

        lock = yaml.safe_load((project / "dvc.lock").read_text())
        memory, startup = {}, {}
        for stage in STAGES:
            argv = lock["stages"][stage]["cmd"].split()
            _, memory[stage] = timed([sys.executable, *argv[1:]], project, env)
            startup[stage] = process_seconds(
                [sys.executable, "-m", f"stages.{stage}", "--help"], project, env, QUICK_RUNS
            )
        results["peak_memory_gib"] = {k: round(v, 2) for k, v in memory.items()}
        results["help_seconds"] = {k: round(v, 2) for k, v in startup.items()}

        data = [
            probe(
                "preprocess",
                f"--raw={project / 'data/raw'}",
                f"--params={project / 'params.yaml'}",
            )
            for _ in range(QUICK_RUNS)
        ]
        results["preprocess_seconds"] = round(statistics.median(data), 3)

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
    results["images_per_second"] = {k: round(v) for k, v in median.items()}
    results["images_per_second_runs"] = {k: [round(r) for r in v] for k, v in rates.items()}
    results["mlp_speedup"] = round(median["mlp_tuned"] / median["mlp_default"], 2)
    results["cnn_speedup"] = round(median["cnn_tuned"] / median["cnn_default"], 2)
    results["targets"] = TARGETS

    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(markdown(results))


def markdown(r: dict) -> str:
    ips = r["images_per_second"]
    spread = {k: f"{min(v):,}–{max(v):,}" for k, v in r["images_per_second_runs"].items()}
    memory = ", ".join(f"{k} {v}" for k, v in r["peak_memory_gib"].items())
    startup = ", ".join(f"{k} {v}" for k, v in r["help_seconds"].items())
    rows = [
        (
            "pipeline from scratch vs plain script",
            f"{r['full_seconds']} s vs {r['plain_seconds']} s: ratio {r['overhead_ratio']}",
            "≤ 1.10",
        ),
        ("no-op `dvc repro`", f"{r['noop_seconds']} s", "≤ 1.5 s"),
        ("after a predict param change", f"{r['incremental_predict_seconds']} s", ""),
        ("after an evaluate param change", f"{r['incremental_evaluate_seconds']} s", ""),
        ("incremental, as a fraction of the full run", f"{r['incremental_fraction']:.1%}", "≤ 5%"),
        ("preprocess: decode and split 70,000 images", f"{r['preprocess_seconds']} s", "≤ 1 s"),
        (
            "MLP training, images/s: `fit` defaults → tuned",
            f"{ips['mlp_default']:,} → {ips['mlp_tuned']:,} ({r['mlp_speedup']}×); runs "
            f"{spread['mlp_default']} → {spread['mlp_tuned']}",
            "≥ 1.5×",
        ),
        (
            "CNN training, images/s: `fit` defaults → tuned",
            f"{ips['cnn_default']:,} → {ips['cnn_tuned']:,} ({r['cnn_speedup']}×); runs "
            f"{spread['cnn_default']} → {spread['cnn_tuned']}",
            "",
        ),
        (
            "peak memory per stage (GiB)",
            memory,
            "≤ 2 GiB each; evaluate, predict ≤ 0.5",
        ),
        (
            "`python -m stages.<name> --help` (s)",
            startup,
            "evaluate, predict ≤ 0.3 s",
        ),
    ]
    lines = ["| what | measured | target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Named configurations (presets/<name>.yaml: dotted params keys and their values), run as DVC
experiments, and a results table measured from real runs.

    python -m tools.presets run cnn        # dvc exp run -n cnn -S train.architecture=cnn -S …
    python -m tools.presets measure        # every preset, then metrics/presets.json and a table
"""

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path

from stages import artifacts, cli, params
from stages.errors import PipelineError
from tools import commands

PRESETS = Path("presets")
RESULTS = Path("metrics/presets.json")
# What the train stage logs last: "wrote <model> (epoch E of N) and <dir> in 58.7 s; …"
_TRAIN_TIME = re.compile(r"wrote \S+ \(epoch \d+ of \d+\) and \S+ in ([\d.]+) s")


def load_preset(name: str) -> dict:
    """The preset's overrides: {dotted params key: value}."""
    path = PRESETS / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS.glob("*.yaml")))
        raise PipelineError(f"no preset {name!r} (known: {known})")
    overrides = params.read_yaml(path)
    if not isinstance(overrides, dict):
        raise PipelineError(f"{path}: expected a mapping of dotted params keys to values")
    return overrides


def set_arguments(overrides: dict) -> list[str]:
    """`dvc exp run` arguments that set each key; values in YAML flow style (JSON is YAML)."""
    return [
        arg for key, value in overrides.items() for arg in ("-S", f"{key}={json.dumps(value)}")
    ]


def apply_overrides(document: dict, overrides: dict) -> dict:
    """A copy of a params document with the dotted keys of `overrides` set."""
    document = json.loads(json.dumps(document))
    for dotted, value in overrides.items():
        *parents, last = dotted.split(".")
        node = document
        for part in parents:
            node = node[part]
        if last not in node:
            raise PipelineError(f"preset key {dotted!r} is not in params.yaml")
        node[last] = value
    return document


def run_experiment(name: str, temp: bool) -> str:
    """Run the preset as a DVC experiment named after it; return DVC's output."""
    argv = [
        "exp",
        "run",
        "-n",
        name,
        *(["--temp"] if temp else []),
        *set_arguments(load_preset(name)),
    ]
    result = commands.attempt(commands.dvc_argv(*argv))
    if result.returncode != 0:
        raise commands.CommandError(commands.dvc_argv(*argv), result)
    return result.stdout + result.stderr


def experiment_metrics(name: str) -> dict:
    """The metrics of the experiment `name`, from `dvc exp show --json`."""
    shown = json.loads(commands.dvc("exp", "show", "--json"))
    for commit in shown:
        for branch in commit.get("experiments") or []:
            for exp in branch["revs"]:
                if exp.get("name") == name:
                    return {path: m["data"] for path, m in exp["data"]["metrics"].items()}
    raise PipelineError(f"experiment {name!r} is not in `dvc exp show`")


def results_table(results: dict) -> str:
    """A Markdown table of the measured presets."""
    lines = [
        "| preset | test accuracy | macro F1 | epochs | training time | parameters |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(
            f"| `{name}` | {r['test_accuracy']:.4f} | {r['macro_f1']:.4f} | {r['epochs_run']} "
            f"| {r['train_seconds'] / 60:.1f} min | {r['parameters']:,} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.presets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run one preset as an experiment").add_argument("name")
    commands.add_parser("measure", help="run every preset; write metrics/presets.json")
    args = parser.parse_args(argv)

    if args.command == "run":
        print(run_experiment(args.name, temp=False))
        return
    results = {}
    for name in sorted(p.stem for p in PRESETS.glob("*.yaml")):
        output = run_experiment(name, temp=True)
        times = _TRAIN_TIME.findall(output)
        if not times:
            raise PipelineError(f"preset {name}: the train stage did not run:\n{output}")
        metrics = experiment_metrics(name)
        evaluation, training = metrics["metrics/eval.json"], metrics["metrics/train/metrics.json"]
        results[name] = {
            "test_accuracy": evaluation["accuracy"],
            "macro_f1": evaluation["macro_f1"],
            "epochs_run": training["epochs_run"],
            "train_seconds": float(times[-1]),
            "parameters": training["parameters"],
        }
        print(f"{name}: {results[name]}", flush=True)
    with artifacts.atomic_path(RESULTS) as tmp:
        artifacts.write_json(tmp, results)
    print(results_table(results))


if __name__ == "__main__":
    cli.run(main)

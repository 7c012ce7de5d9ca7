"""Named configurations (presets/<name>.yaml: dotted params keys and their values), run as DVC
experiments, and a results table measured from real runs.

    python -m tools.presets run cnn        # dvc exp run -n cnn -S train.architecture=cnn -S …
    python -m tools.presets measure        # every preset, then metrics/presets.json and a table
"""

import argparse
from collections.abc import Sequence
from pathlib import Path

from stages.shared import artifacts, cli
from stages.shared.errors import PipelineError
from tools import experiments

PRESETS = Path("presets")
RESULTS = Path("metrics/presets.json")


def names() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


def load_preset(name: str) -> dict:
    """The preset's overrides: {dotted params key: value}."""
    path = PRESETS / f"{name}.yaml"
    if not path.is_file():
        raise PipelineError(f"no preset {name!r} (known: {', '.join(names())})")
    return experiments.read_overrides(path)


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
    subcommands = parser.add_subparsers(dest="command", required=True)
    subcommands.add_parser("run", help="run one preset as an experiment").add_argument("name")
    subcommands.add_parser("measure", help="run every preset; write metrics/presets.json")
    args = parser.parse_args(argv)

    if args.command == "run":
        experiments.run(args.name, load_preset(args.name), temp=False)
        return
    results = {}
    for name in names():
        experiments.run(name, load_preset(name), temp=True)
        results[name] = experiments.result(name, experiments.shown()[name])
        print(f"{name}: {results[name]}", flush=True)
    with artifacts.atomic_path(RESULTS) as tmp:
        artifacts.write_json(tmp, results)
    print(results_table(results))


if __name__ == "__main__":
    cli.run(main)

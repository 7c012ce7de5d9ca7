"""Named configurations (presets/<name>.yaml: dotted params keys and their values), run as DVC
experiments, and a results table measured from real runs.

    python -m tools.presets run cnn        # dvc exp run -n cnn -S train.architecture=cnn -S …
    python -m tools.presets measure        # every preset, then metrics/presets.json and a table

A run streams DVC's output (every epoch's line as the stage logs it), then prints one line: the
experiment, its test accuracy and its training time. Running a preset again replaces its earlier
experiment on the same commit. `measure` skips the presets that train on a subset of the
training images (`quick`): their accuracy says nothing about a model.
"""

import argparse
from collections.abc import Sequence
from pathlib import Path

from stages.shared import artifacts, cli
from stages.shared.errors import PipelineError
from tools import experiments

PRESETS = Path("presets")
RESULTS = Path("metrics/presets.json")
SUBSET = "preprocess.subset"


def names() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


def load_preset(name: str) -> dict:
    """The preset's overrides: {dotted params key: value}."""
    path = PRESETS / f"{name}.yaml"
    if not path.is_file():
        raise PipelineError(f"no preset {name!r} (known: {', '.join(names())})")
    return experiments.read_overrides(path)


def measured(presets: dict[str, dict]) -> list[str]:
    """The presets whose results belong in the table: those trained on every training image."""
    return [name for name, overrides in presets.items() if overrides.get(SUBSET) is None]


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


def run(name: str, *, temp: bool) -> dict:
    """Run the preset `name` as the experiment `name`; print and return what it measured."""
    experiments.run(name, load_preset(name), temp=temp)
    result = experiments.result(name, experiments.shown_here(name))
    print(experiments.summary(name, result), flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tools.presets",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subcommands = parser.add_subparsers(dest="command", required=True)
    subcommands.add_parser("run", help="run one preset as an experiment").add_argument("name")
    subcommands.add_parser("measure", help="run every preset; write metrics/presets.json")
    args = parser.parse_args(argv)

    if args.command == "run":
        run(args.name, temp=False)
        return
    presets = {name: load_preset(name) for name in names()}
    for name in sorted(set(presets) - set(measured(presets))):
        print(f"{name}: not measured ({SUBSET}={presets[name][SUBSET]}: a subset)", flush=True)
    results = {name: run(name, temp=True) for name in measured(presets)}
    with artifacts.atomic_path(RESULTS) as tmp:
        artifacts.write_json(tmp, results)
    print(results_table(results))


if __name__ == "__main__":
    cli.run(main)

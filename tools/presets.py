"""Named configurations (presets/<name>.yaml: dotted params keys and their values), run as DVC
experiments, and a results table measured from real runs.

    python -m tools.presets run cnn        # dvc exp run -n cnn -S train.architecture=cnn -S …
    python -m tools.presets measure        # every preset, then metrics/presets.json and a table

A run streams DVC's output (every epoch's line as the stage logs it), then prints one line: the
experiment, its test accuracy and its training time. Running a preset again replaces its earlier
experiment on the same commit. `measure` skips the presets that train on a subset of the
training images (`quick`): their accuracy says nothing about a model. It reruns every stage of
every preset (`--force`), so each time is measured in this run, and records each training time
also as `mlp_multiple`, a multiple of the seed MLP's (`mlp-sgd`) in the same run: this machine's
speed varies from day to day, a ratio much less (docs/frontier.md#budgets-as-multiples).
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
# The seed MLP (the committed params.yaml): every training time is also a multiple of its.
REFERENCE = "mlp-sgd"


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


def check_reference(presets: dict[str, dict]) -> None:
    """Raise PipelineError unless `mlp-sgd`, the reference of every multiple, is measured."""
    path = PRESETS / f"{REFERENCE}.yaml"
    if REFERENCE not in presets:
        raise PipelineError(
            f"{path}: missing, and every training time is measured as a multiple of that "
            f"preset's; restore it: `git checkout -- {path}`"
        )
    if REFERENCE not in measured(presets):
        raise PipelineError(
            f"{path} sets {SUBSET}: the reference of every training time must train on every "
            f"image; remove {SUBSET} from it"
        )


def with_multiples(results: dict[str, dict]) -> dict[str, dict]:
    """`results` with each run's mlp_multiple: its train_seconds over mlp-sgd's, to 0.01."""
    reference = results[REFERENCE]["train_seconds"]
    return {
        name: {**r, "mlp_multiple": round(r["train_seconds"] / reference, 2)}
        for name, r in results.items()
    }


def results_table(results: dict) -> str:
    """A Markdown table of the measured presets."""
    lines = [
        f"| preset | test accuracy | macro F1 | epochs | training time | × {REFERENCE} "
        "| parameters |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(
            f"| `{name}` | {r['test_accuracy']:.4f} | {r['macro_f1']:.4f} | {r['epochs_run']} "
            f"| {r['train_seconds'] / 60:.1f} min | {r['mlp_multiple']:.2f}× "
            f"| {r['parameters']:,} |"
        )
    return "\n".join(lines)


def run(name: str, *, temp: bool, force: bool = False) -> dict:
    """Run the preset `name` as the experiment `name` (every stage if `force`); print and return
    what it measured."""
    experiments.run(name, load_preset(name), temp=temp, force=force)
    result = experiments.result(name, experiments.shown_here(name))
    print(experiments.summary(name, result), flush=True)
    return result


def measure() -> dict[str, dict]:
    """Run every preset that trains on every image, each stage rerun; what each measured, with
    its multiple of mlp-sgd's training time."""
    presets = {name: load_preset(name) for name in names()}
    check_reference(presets)
    for name in sorted(set(presets) - set(measured(presets))):
        print(f"{name}: not measured ({SUBSET}={presets[name][SUBSET]}: a subset)", flush=True)
    return with_multiples({name: run(name, temp=True, force=True) for name in measured(presets)})


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
    results = measure()
    with artifacts.atomic_path(RESULTS) as tmp:
        artifacts.write_json(tmp, results)
    print(results_table(results))


if __name__ == "__main__":
    cli.run(main)

"""The accuracy/time frontier: candidate configurations (frontier/candidates.yaml: a name → dotted
params overrides) queued and run as DVC experiments one at a time, then collected into
metrics/frontier.json, a plot and a table (docs/frontier.md).

    python -m tools.frontier queue [NAME…]  # dvc exp run --queue -n <name> -S … per candidate
    python -m tools.frontier run         # dvc exp run --run-all --jobs 1, its logs streamed
    python -m tools.frontier collect     # metrics/frontier.json, metrics/frontier.png, a table
    python -m tools.frontier choose 900  # the candidate with the best validation accuracy ≤ 900 s

The choice reads validation accuracy only; test accuracy is recorded for the plot and the table,
never used to choose.
"""

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

from stages.shared import artifacts, cli, figures, params
from stages.shared.errors import PipelineError
from tools import experiments

CANDIDATES = Path("frontier/candidates.yaml")
RESULTS = Path("metrics/frontier.json")
PLOT = Path("metrics/frontier.png")
PRESETS = Path("metrics/presets.json")
RESULTS_FIX = (
    "run `make frontier` (or `python -m tools.frontier collect`), or restore the committed one: "
    f"`git checkout -- {RESULTS}`"
)


def candidates() -> dict[str, dict]:
    """{name: overrides} of every candidate."""
    found = params.read_yaml(CANDIDATES)
    if not isinstance(found, dict) or not all(isinstance(v, dict) for v in found.values()):
        raise PipelineError(f"{CANDIDATES}: expected a mapping of names to dotted-key overrides")
    if not found:
        raise PipelineError(
            f"{CANDIDATES}: names no candidate; add one (a name: its dotted-key overrides), or "
            f"restore it: `git checkout -- {CANDIDATES}`"
        )
    return found


def read_results() -> dict[str, dict]:
    """The recorded frontier, {run: what it measured}, checked for what `choose` reads."""
    try:
        results = json.loads(RESULTS.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{RESULTS}: missing; {RESULTS_FIX}") from None
    except OSError as error:
        raise PipelineError(
            f"{RESULTS}: cannot be read ({error.strerror}); {RESULTS_FIX}"
        ) from None
    except ValueError as error:
        raise PipelineError(f"{RESULTS}: not valid JSON ({error}); {RESULTS_FIX}") from None
    if not isinstance(results, dict) or not all(isinstance(r, dict) for r in results.values()):
        raise PipelineError(f"{RESULTS}: expected a mapping of runs to results; {RESULTS_FIX}")
    if not results:
        raise PipelineError(f"{RESULTS}: records no run; {RESULTS_FIX}")
    for name, result in results.items():
        for key in ("train_seconds", "val_accuracy"):
            value = result.get(key)  # missing: refused below, like any non-number
            if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
                raise PipelineError(f"{RESULTS}: run {name!r} has no numeric {key}; {RESULTS_FIX}")
    return results


def check_keeps_the_recorded_runs(known: dict[str, dict]) -> None:
    """Raise PipelineError if collecting `known` candidates would record fewer runs than
    metrics/frontier.json holds: a candidates file emptied by mistake must not erase it."""
    try:
        recorded = json.loads(RESULTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # nothing readable to keep: collecting writes it anew
    if isinstance(recorded, dict) and len(known) < len(recorded):
        dropped = sorted(set(recorded) - set(known))
        shown = ", ".join(dropped[:3]) + (
            f" and {len(dropped) - 3} more" if len(dropped) > 3 else ""
        )
        raise PipelineError(
            f"{RESULTS} records {len(recorded)} runs and {CANDIDATES} names {len(known)} "
            f"(not {shown}): collecting would replace the frontier by less; restore "
            f"the candidates (`git checkout -- {CANDIDATES}`), or delete {RESULTS} to start anew"
        )


def pareto(results: dict[str, dict]) -> list[str]:
    """The names on the frontier, fastest first: no other run is as fast and more accurate on
    the validation split."""
    on_frontier, best = [], -1.0
    for name, r in sorted(results.items(), key=lambda kv: (kv[1]["train_seconds"], kv[0])):
        if r["val_accuracy"] > best:
            on_frontier.append(name)
            best = r["val_accuracy"]
    return on_frontier


def choose(results: dict[str, dict], budget_seconds: float) -> str:
    """The run with the best validation accuracy among those trained within the budget (the
    faster on ties)."""
    within = {n: r for n, r in results.items() if r["train_seconds"] <= budget_seconds}
    if not within:
        raise PipelineError(f"no run trained within {budget_seconds:g} s")
    return max(within, key=lambda n: (within[n]["val_accuracy"], -within[n]["train_seconds"]))


def table(results: dict[str, dict]) -> str:
    """A Markdown table of every run, fastest first; frontier runs in bold."""
    front = set(pareto(results))
    lines = [
        "| run | training time | median s/epoch | epochs | images/s | validation accuracy "
        "| test accuracy | parameters | commit |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in sorted(results.items(), key=lambda kv: kv[1]["train_seconds"]):
        shown = f"**`{name}`**" if name in front else f"`{name}`"
        lines.append(
            f"| {shown} | {r['train_seconds'] / 60:.1f} min | {r['seconds_per_epoch']:.1f} "
            f"| {r['epochs_run']} | {r['images_per_second']:,} | {r['val_accuracy']:.4f} "
            f"| {r['test_accuracy']:.4f} | {r['parameters']:,} | {r['commit']} |"
        )
    return "\n".join(lines)


def figure(results: dict[str, dict], presets: dict[str, dict]):
    """Test accuracy against training minutes: one point per run, the frontier joined, the
    presets' own runs marked."""
    fig = figures.new_figure(8, 5)
    ax = fig.subplots()
    for name, r in results.items():
        ax.scatter(r["train_seconds"] / 60, r["test_accuracy"], color="tab:blue", s=18)
        ax.annotate(
            name,
            (r["train_seconds"] / 60, r["test_accuracy"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    front = pareto(results)
    ax.plot(
        [results[n]["train_seconds"] / 60 for n in front],
        [results[n]["test_accuracy"] for n in front],
        color="tab:blue",
        alpha=0.5,
        label="frontier (chosen on validation accuracy)",
    )
    for name, r in presets.items():
        ax.scatter(
            r["train_seconds"] / 60,
            r["test_accuracy"],
            marker="*",
            s=140,
            color="tab:red",
            zorder=3,
        )
        ax.annotate(
            f"preset {name}",
            (r["train_seconds"] / 60, r["test_accuracy"]),
            fontsize=8,
            color="tab:red",
            xytext=(4, -10),
            textcoords="offset points",
        )
    ax.set(
        xlabel="training minutes (2 CPU cores)",
        ylabel="test accuracy",
        title="Fashion-MNIST: accuracy against training time",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def collect() -> dict[str, dict]:
    """Every candidate's experiment: its overrides and what it measured."""
    known = candidates()
    check_keeps_the_recorded_runs(known)
    shown = experiments.shown()
    missing = sorted(set(known) - set(shown))
    if missing:
        raise PipelineError(
            f"no experiment for {', '.join(missing)}: run `python -m tools.frontier queue` "
            "and `… run` first"
        )
    return {
        name: {"overrides": overrides, **experiments.result(name, shown[name])}
        for name, overrides in known.items()
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tools.frontier",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subcommands = parser.add_subparsers(dest="command", required=True)
    queue = subcommands.add_parser("queue", help="queue candidates as DVC experiments")
    queue.add_argument("names", nargs="*", help="candidates to queue (default: all)")
    subcommands.add_parser("run", help="run the queue, one experiment at a time")
    subcommands.add_parser("collect", help="write metrics/frontier.json, its plot and a table")
    budget = subcommands.add_parser("choose", help="the best run on validation within a time")
    budget.add_argument("seconds", type=float)
    args = parser.parse_args(argv)

    if args.command == "queue":
        known = candidates()
        if unknown := sorted(set(args.names) - set(known)):
            raise PipelineError(f"no candidate {', '.join(unknown)} in {CANDIDATES}")
        for name in args.names or known:
            experiments.queue(name, known[name])
    elif args.command == "run":
        experiments.run_queue()
    elif args.command == "collect":
        results = collect()
        presets = json.loads(PRESETS.read_text()) if PRESETS.is_file() else {}
        with artifacts.outputs() as out:
            artifacts.write_json(out.file(RESULTS), results)
            figures.save(figure(results, presets), out.file(PLOT))
        print(table(results))
    else:
        print(choose(read_results(), args.seconds))


if __name__ == "__main__":
    cli.run(main)

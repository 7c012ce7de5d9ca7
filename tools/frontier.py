"""The accuracy/time frontier: candidate configurations (frontier/candidates.yaml: a name → dotted
params overrides) queued and run as DVC experiments one at a time, then collected into
metrics/frontier.json, a plot and a table (docs/frontier.md).

    python -m tools.frontier queue [NAME…]  # dvc exp run --queue -n <name> -S … per candidate
                                         # (default: those not on metrics/frontier.json yet)
    python -m tools.frontier run         # dvc exp run --run-all --jobs 1, its logs streamed,
                                         # then one result line per experiment
    python -m tools.frontier collect     # metrics/frontier.json, metrics/frontier.png, a table
    python -m tools.frontier choose 15.4 # the best validation accuracy within 15.4× mlp-sgd's time
    python -m tools.frontier choose --seconds 900  # … within 900 s (runs of one day only)

`queue` always queues, first, the reference run mlp-sgd-reference: the seed MLP
(presets/mlp-sgd.yaml), every stage rerun (`--force`), so that `collect` records each candidate's
training time as `mlp_multiple`, a multiple of the reference's from the same commit: this
machine's speed varies from day to day, a ratio much less (docs/frontier.md#budgets-as-multiples).
A run without a reference of its commit gets none (null): `choose` leaves it out, and says so.

The choice reads validation accuracy only; test accuracy is recorded for the plot and the table,
never used to choose.
"""

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from stages.shared import artifacts, cli, figures, params
from stages.shared.errors import PipelineError
from tools import experiments, presets
from tools.json_numbers import is_number

CANDIDATES = Path("frontier/candidates.yaml")
RESULTS = Path("metrics/frontier.json")
PLOT = Path("metrics/frontier.png")
PRESETS = Path("metrics/presets.json")
# The run every candidate's time is a multiple of: the seed MLP's preset, run in the same search.
REFERENCE = f"{presets.REFERENCE}-reference"
MULTIPLE = "mlp_multiple"
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
    if REFERENCE in found:
        raise PipelineError(
            f"{CANDIDATES}: {REFERENCE!r} is the reference run `queue` adds itself "
            f"(presets/{presets.REFERENCE}.yaml); rename that candidate"
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
        for key in ("train_seconds", "val_accuracy", MULTIPLE):
            value = result.get(key)  # missing: refused below, like any non-number
            if key == MULTIPLE and value is None:
                continue  # no reference run in its search (every run before there was one)
            if key == MULTIPLE and not (is_number(value) and value > 0):
                raise PipelineError(
                    f"{RESULTS}: run {name!r}: {key} {json.dumps(value)} is not a positive "
                    f"number or null; {RESULTS_FIX}"
                )
            if not is_number(value):
                raise PipelineError(f"{RESULTS}: run {name!r} has no numeric {key}; {RESULTS_FIX}")
    return results


def read_preset_runs() -> dict[str, dict]:
    """metrics/presets.json ({preset: what its run measured}), which the plot marks; {} without
    one. PipelineError if it cannot be read or lacks what the plot reads."""
    fix = f"rerun `make presets`, or `git checkout -- {PRESETS}`"
    if not PRESETS.exists():
        return {}
    try:
        runs = json.loads(PRESETS.read_text(encoding="utf-8"))
    except OSError as error:
        raise PipelineError(f"{PRESETS}: cannot be read ({error.strerror}); {fix}") from None
    except ValueError as error:
        raise PipelineError(f"{PRESETS}: not valid JSON ({error}); {fix}") from None
    shaped = isinstance(runs, dict) and all(
        isinstance(r, dict)
        and all(is_number(r.get(k)) for k in ("test_accuracy", "train_seconds"))
        for r in runs.values()
    )
    if not shaped:
        raise PipelineError(
            f"{PRESETS}: expected each preset's run with its test_accuracy and "
            f"train_seconds; {fix}"
        )
    return runs


def check_keeps_the_recorded_runs(known: dict[str, dict]) -> None:
    """Raise PipelineError if collecting `known` candidates would drop a run that
    metrics/frontier.json holds: a candidates file emptied, cut or with a run renamed by mistake
    must not erase what was measured."""
    try:
        recorded = json.loads(RESULTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # nothing readable to keep: collecting writes it anew
    if not isinstance(recorded, dict):
        return
    recorded = set(recorded) - {REFERENCE}  # `collect` adds the reference run itself
    dropped = sorted(recorded - set(known))
    if dropped:
        shown = ", ".join(dropped[:3]) + (
            f" and {len(dropped) - 3} more" if len(dropped) > 3 else ""
        )
        raise PipelineError(
            f"{RESULTS} records {len(recorded)} runs, {len(dropped)} of which {CANDIDATES} "
            f"no longer names ({shown}): collecting would drop them from the frontier; restore "
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


def with_multiples(results: dict[str, dict], reference: dict) -> dict[str, dict]:
    """`results` with each run's mlp_multiple: its train_seconds over the reference's, to 0.01,
    for the runs from the reference's commit; null for the others (another search's)."""
    seconds = reference["train_seconds"]
    return {
        name: {
            **r,
            MULTIPLE: round(r["train_seconds"] / seconds, 2)
            if r["commit"] == reference["commit"]
            else None,
        }
        for name, r in results.items()
    }


def without_multiple(results: dict[str, dict]) -> list[str]:
    """The runs with no mlp_multiple (recorded before the reference run, or another search's)."""
    return sorted(name for name, r in results.items() if r.get(MULTIPLE) is None)


def check_budget(budget: float) -> None:
    """Raise PipelineError unless `budget` is a positive finite number."""
    if not budget > 0 or math.isinf(budget):
        raise PipelineError(f"budget {budget:g}: must be a positive number")


def choose(results: dict[str, dict], budget: float, key: str = MULTIPLE) -> str:
    """The run with the best validation accuracy among those trained within the budget, in
    multiples of the reference run's time (`key` mlp_multiple) or in seconds (train_seconds);
    the faster on ties. Runs without the key's value are left out."""
    within = {n: r for n, r in results.items() if r.get(key) is not None and r[key] <= budget}
    if not within:
        unit = f"× {presets.REFERENCE}'s time" if key == MULTIPLE else " s"
        raise PipelineError(f"no run trained within {budget:g}{unit}")
    return max(within, key=lambda n: (within[n]["val_accuracy"], -within[n]["train_seconds"]))


def table(results: dict[str, dict]) -> str:
    """A Markdown table of every run, fastest first; frontier runs in bold."""
    front = set(pareto(results))
    lines = [
        f"| run | training time | × {presets.REFERENCE} | median s/epoch | epochs | images/s "
        "| validation accuracy | test accuracy | parameters | commit |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in sorted(results.items(), key=lambda kv: kv[1]["train_seconds"]):
        shown = f"**`{name}`**" if name in front else f"`{name}`"
        multiple = "–" if r.get(MULTIPLE) is None else f"{r[MULTIPLE]:.2f}×"
        lines.append(
            f"| {shown} | {r['train_seconds'] / 60:.1f} min | {multiple} "
            f"| {r['seconds_per_epoch']:.1f} "
            f"| {r['epochs_run']} | {r['images_per_second']:,} | {r['val_accuracy']:.4f} "
            f"| {r['test_accuracy']:.4f} | {r['parameters']:,} | {r['commit']} |"
        )
    return "\n".join(lines)


def x_axis(results: dict[str, dict]) -> tuple[Callable[[dict], float | None], str]:
    """The plot's x: multiples of the reference run's time if every run has one, else minutes."""
    if not without_multiple(results):
        return (
            lambda r: r.get(MULTIPLE),
            f"training time, multiples of {presets.REFERENCE}'s in the same search (2 CPU cores)",
        )
    return lambda r: r["train_seconds"] / 60, "training minutes (2 CPU cores)"


def figure(results: dict[str, dict], preset_runs: dict[str, dict]):
    """Test accuracy against training time: one point per run, the frontier joined, the
    presets' own runs marked (those with a multiple, when the x-axis is multiples)."""
    x, xlabel = x_axis(results)
    fig = figures.new_figure(8, 5)
    ax = fig.subplots()
    for name, r in results.items():
        ax.scatter(x(r), r["test_accuracy"], color="tab:blue", s=18)
        ax.annotate(
            name,
            (x(r), r["test_accuracy"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    front = pareto(results)
    ax.plot(
        [x(results[n]) for n in front],
        [results[n]["test_accuracy"] for n in front],
        color="tab:blue",
        alpha=0.5,
        label="frontier (chosen on validation accuracy)",
    )
    for name, r in preset_runs.items():
        if x(r) is None:
            continue
        ax.scatter(
            x(r),
            r["test_accuracy"],
            marker="*",
            s=140,
            color="tab:red",
            zorder=3,
        )
        ax.annotate(
            f"preset {name}",
            (x(r), r["test_accuracy"]),
            fontsize=8,
            color="tab:red",
            xytext=(4, -10),
            textcoords="offset points",
        )
    ax.set(
        xlabel=xlabel,
        ylabel="test accuracy",
        title="Fashion-MNIST: accuracy against training time",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def collect() -> dict[str, dict]:
    """Every candidate's experiment and the reference run's: its overrides, what it measured
    and its multiple of the reference's training time. A candidate whose experiment is gone, or
    ran before the pipeline recorded what `result` reads, keeps its entry of the recorded
    frontier (its multiple as recorded) if its overrides are the same: a search extends the
    frontier instead of rerunning it."""
    known = candidates()
    check_keeps_the_recorded_runs(known)
    known = {REFERENCE: presets.load_preset(presets.REFERENCE), **known}
    try:
        recorded = {name: r for name, r in read_results().items() if name != REFERENCE}
    except PipelineError:
        recorded = {}  # nothing readable to keep: every run must be an experiment
    measured, kept = gather(known, experiments.shown(), recorded)
    return {**kept, **with_multiples(measured, measured[REFERENCE])}


def gather(
    known: dict[str, dict], shown: dict[str, dict], recorded: dict[str, dict]
) -> tuple[dict[str, dict], dict[str, dict]]:
    """The `known` runs ({name: overrides}) as ({name: overrides and what its experiment in
    `shown` measured}, {name: its `recorded` entry, for a run whose overrides are unchanged and
    whose experiment cannot be read, or is the one recorded: same commit, so its multiple stays
    that of its own search's reference}); PipelineError naming the runs with neither (the
    reference run is never kept: a search without it has no multiples)."""
    measured, kept, missing = {}, {}, []
    for name, overrides in known.items():
        same = recorded.get(name, {}).get("overrides") == overrides
        try:
            result = experiments.result(name, shown[name])
            if same and recorded[name].get("commit") == result["commit"]:
                kept[name] = recorded[name]
            else:
                measured[name] = {"overrides": overrides, **result}
        except (KeyError, PipelineError) as error:
            if same:
                kept[name] = recorded[name]
            elif isinstance(error, KeyError):
                missing.append(name)
            else:
                raise
    if missing:
        raise PipelineError(
            f"no experiment for {', '.join(sorted(missing))}: run `python -m tools.frontier "
            "queue` and `… run` first"
        )
    return measured, kept


def not_recorded(known: dict[str, dict]) -> list[str]:
    """The `known` candidates that metrics/frontier.json does not hold with the same overrides
    (all of them if it cannot be read): what a search runs unless told which."""
    try:
        recorded = read_results()
    except PipelineError:
        recorded = {}
    return [n for n, o in known.items() if recorded.get(n, {}).get("overrides") != o]


def queue_search(names: Sequence[str], known: dict[str, dict]) -> None:
    """Queue the reference run, then the candidates `names`."""
    print(
        f"{REFERENCE}: presets/{presets.REFERENCE}.yaml, queued first and rerun whole: every "
        "candidate's time is also a multiple of its",
        flush=True,
    )
    experiments.queue(REFERENCE, presets.load_preset(presets.REFERENCE), force=True)
    for name in names:
        experiments.queue(name, known[name])


def outcome(entry: dict) -> str:
    """One line on a queued experiment that `run` ran (an entry of `experiments.read_queue`): its
    test accuracy and training time as a preset's run prints them, or that it failed and where
    DVC keeps its log."""
    name, state = entry["name"], entry["state"]
    if state == "success" and entry["experiment"] is not None:
        try:
            return experiments.summary(name, experiments.result(name, entry["experiment"]))
        except PipelineError as error:  # its metrics lack what `result` reads
            return str(error)
    if state == "failed":
        log = f"its log: {entry['log']}" if entry["log"] else "DVC kept no log of it"
        return f"{name}: failed; {log}"
    return f"{name}: no result (DVC's state: {state}); `dvc queue status` shows the queue"


def choose_recorded(budget: float, key: str) -> str:
    """`choose` on metrics/frontier.json; the runs left out for want of a multiple are named
    on stderr."""
    check_budget(budget)
    results = read_results()
    left_out = without_multiple(results) if key == MULTIPLE else []
    if len(left_out) == len(results):
        raise PipelineError(
            f"{RESULTS}: no run has an {MULTIPLE} (all {len(results)} ran without a reference "
            f"run, {REFERENCE}, in their search); run `make frontier`, or give the budget in "
            "seconds of the day they ran: `python -m tools.frontier choose --seconds …`"
        )
    if left_out:
        print(
            f"note: left out, no {MULTIPLE} (no reference run in their search): "
            + ", ".join(left_out),
            file=sys.stderr,
        )
    return choose(results, budget, key)


def report_collected(results: dict[str, dict]) -> None:
    """Print the table, and name the runs with no multiple."""
    print(table(results))
    if left_out := without_multiple(results):
        print(
            f"no {MULTIPLE} for {', '.join(left_out)}: they ran from another commit than "
            f"{REFERENCE} ({results[REFERENCE]['commit']}); `choose` leaves them out until "
            "they run again with it (`python -m tools.frontier queue NAME…`)"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tools.frontier",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subcommands = parser.add_subparsers(dest="command", required=True)
    queue = subcommands.add_parser("queue", help="queue candidates as DVC experiments")
    queue.add_argument(
        "names", nargs="*", help="candidates to queue (default: those not on the frontier yet)"
    )
    subcommands.add_parser("run", help="run the queue, one experiment at a time")
    subcommands.add_parser("collect", help="write metrics/frontier.json, its plot and a table")
    budget = subcommands.add_parser("choose", help="the best run on validation within a time")
    budget.add_argument("budget", type=float, help=f"multiples of {REFERENCE}'s training time")
    budget.add_argument(
        "--seconds", action="store_true", help="the budget is seconds (runs of one day only)"
    )
    args = parser.parse_args(argv)

    if args.command == "queue":
        known = candidates()
        if unknown := sorted(set(args.names) - set(known)):
            raise PipelineError(f"no candidate {', '.join(unknown)} in {CANDIDATES}")
        names = args.names or not_recorded(known)
        if not names:
            print(f"every candidate of {CANDIDATES} is on {RESULTS} already: name one to rerun it")
            return
        queue_search(names, known)
    elif args.command == "run":
        for entry in experiments.run_queue():
            print(outcome(entry), flush=True)
    elif args.command == "collect":
        preset_runs = read_preset_runs()
        results = collect()
        with artifacts.outputs() as out:
            artifacts.write_json(out.file(RESULTS), results)
            figures.save(figure(results, preset_runs), out.file(PLOT))
        report_collected(results)
    else:
        print(choose_recorded(args.budget, "train_seconds" if args.seconds else MULTIPLE))


if __name__ == "__main__":
    cli.run(main)

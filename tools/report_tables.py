"""The report's tables as rows of text, shared by its Markdown and its HTML page: the metrics in
the order a reader wants (the shipped model's test accuracy, macro F1 and loss, its validation
accuracy and loss, the training time, then the rest), each revision's value beside its change
from the base with a better/worse mark; and the params that differ between the revisions."""

import dataclasses
import re
from collections.abc import Mapping, Sequence

from tools.json_numbers import is_number
from tools.report_data import Revision, Snapshot

# The metrics a reader looks at first, in this order: the shipped model's scores (test, then
# validation: the evaluate stage's), then the training time; the rest follow by file and key.
EVAL, TIME = "metrics/eval.json", "metrics/time.json"
LEADING = (
    *((EVAL, f"test.{key}") for key in ("accuracy", "macro_f1", "loss")),
    *((EVAL, f"val.{key}") for key in ("accuracy", "loss")),
    *((TIME, key) for key in ("train_seconds", "seconds_per_epoch", "images_per_second")),
)
# Which way is better, from a metric's last key: one ending in accuracy or f1, or in _per_second
# (images per second) is better higher; one ending in loss, or starting or ending with seconds
# (train_seconds, seconds_per_epoch), lower. Others (epochs, step, learning rate, counts): no mark.
HIGHER_IS_BETTER = re.compile(r"\w*(accuracy|f1)|\w+_per_second")
LOWER_IS_BETTER = re.compile(r"\w*loss|seconds\w*|\w*seconds")
BETTER = "✓ better"
WORSE = "✗ worse"
GAP = "-"  # a value a revision does not have, or a change that cannot be computed


@dataclasses.dataclass(frozen=True)
class Table:
    """A table's header and rows (the first two columns name a file and a key, the others are
    values), and how many rows were left out as the same in every revision."""

    header: list[str]
    rows: list[list[str]]
    same: int = 0


def format_value(value: object) -> str:
    """A cell as DVC prints one: floats to 5 decimals (0.15, not 0.15000000000000002)."""
    if value is None:
        return GAP
    return str(round(value, 5)) if isinstance(value, float) else str(value)


def direction(key: str) -> int:
    """1 if a higher value of metric `key` is better, -1 if a lower one is, 0 if neither."""
    last = key.rsplit(".", 1)[-1]
    if HIGHER_IS_BETTER.fullmatch(last):
        return 1
    return -1 if LOWER_IS_BETTER.fullmatch(last) else 0


def change(old: object, new: object, key: str) -> str:
    """`new` minus `old` as DVC rounds it, signed, marked better or worse when `key` has a
    direction and the rounded change is not 0; GAP when either is missing or not a number."""
    if not (is_number(old) and is_number(new)):
        return GAP
    delta = round(new - old, 5)
    if delta == 0:
        return "0"
    mark = {1: BETTER, -1: WORSE}.get(direction(key) * (1 if delta > 0 else -1))
    return f"{delta:+} {mark}" if mark else f"{delta:+}"


def reading_order(item: tuple[str, str]) -> tuple:
    """Sort key of a (file, metric key): the LEADING metrics first, in order, then by file and
    key."""
    path, key = item
    return (LEADING.index(item) if item in LEADING else len(LEADING), path, key)


def metrics_table(names: Sequence[str], snapshots: Mapping[str, Snapshot]) -> Table:
    """Every LEADING metric, then each other metric that differs between the revisions: the
    base's value, then each revision's value and its change from the base."""
    base, others = names[0], names[1:]
    keys = sorted({k for s in snapshots.values() for k in s.metrics}, key=reading_order)
    header = ["Path", "Metric", base]
    for name in others:
        header += [name, "Change" if len(others) == 1 else f"Change ({name})"]
    rows = []
    for item in keys:
        values = [snapshots[name].metrics.get(item) for name in names]
        if item not in LEADING and all(v == values[0] for v in values):
            continue
        row = [*item, format_value(values[0])]
        for value in values[1:]:
            row += [format_value(value), change(values[0], value, item[1])]
        rows.append(row)
    return Table(header, rows, same=len(keys) - len(rows))


def params_table(names: Sequence[str], snapshots: Mapping[str, Snapshot]) -> Table:
    """The params that differ between the revisions (as `dvc params diff`), each revision's
    value."""
    keys = sorted({k for s in snapshots.values() for k in s.params})
    rows = []
    for item in keys:
        values = [snapshots[name].params.get(item) for name in names]
        if any(v != values[0] for v in values):
            rows.append([*item, *map(format_value, values)])
    return Table(["Path", "Param", *names], rows, same=len(keys) - len(rows))


def title(names: Sequence[str]) -> str:
    """The report's title: the revisions compared with the base."""
    return f"Pipeline report: {', '.join(names[1:])} against {names[0]}"


def marks_note(base: str) -> str:
    """What the Change columns and their marks mean, in one sentence."""
    return (
        f"Change: a revision's value minus {base}'s, marked {BETTER} or {WORSE} where a "
        "direction is known (accuracy, F1 and images per second: higher is better; loss and "
        f'seconds: lower is better); other metrics have no mark. "{GAP}": not in that revision.'
    )


def same_note(table: Table) -> str:
    """The sentence under the metrics table for its rows left out as the same in every revision,
    or ''."""
    if not (table.same and table.rows):
        return ""
    return f"{table.same} more metric{'s' if table.same > 1 else ''}: the same in every revision."


def empty_note(table: Table, kind: str) -> str:
    """The sentence in place of a table of `kind`s without rows."""
    if table.same:
        return f"No {kind} differs between the revisions."
    return f"No revision has {kind}s."


def revisions_note(revisions: Sequence[Revision]) -> str:
    """Which commit each revision is (an experiment's or a branch's), the base first."""

    def named(revision: Revision) -> str:
        if not revision.commit or revision.commit.startswith(revision.name):
            return revision.name  # the workspace, or a commit named by its own digits
        return f"{revision.name} ({revision.commit[:7]})"

    base, *others = revisions
    return f"Base: {named(base)}. Compared with it: {', '.join(map(named, others))}."


def missing_note(missing: Sequence[str]) -> str:
    """The sentence under a plot that some revisions have no data for, or ''."""
    return f"No data in {', '.join(missing)}." if missing else ""

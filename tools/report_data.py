"""What the report compares, read from DVC: the revisions (commits, branches, tags, experiment
names, the workspace) resolved as DVC resolves them, their params and metrics
(`dvc exp show --json`) and their plots (`dvc plots diff --json`).

A file missing from a revision (an older commit without metrics/time.json, a plot not drawn
yet) is a gap, shown as "-" or "no data"; a file that DVC cannot read is a PipelineError that
names it and the revision."""

import copy
import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

from stages.shared.errors import PipelineError
from stages.shared.fashion_mnist import CLASS_NAMES
from tools import commands

WORKSPACE = "workspace"
# DVC's error type for a file that a revision does not hold: a gap, not a failure.
MISSING = "FileNotFoundError"


@dataclasses.dataclass(frozen=True)
class Revision:
    """A revision as the user named it, and the commit DVC resolved it to (None: the
    workspace)."""

    name: str
    commit: str | None


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A revision's params and metrics, flattened: {(file, dotted key): value}. A file the
    revision does not hold has no keys."""

    params: dict[tuple[str, str], object]
    metrics: dict[tuple[str, str], object]


@dataclasses.dataclass(frozen=True)
class Plot:
    """One plot of `dvc plots diff --json`: its entries (a chart of every revision, or an image
    per revision) in the revisions' order, and the revisions that have no data for it."""

    plot_id: str
    entries: list[dict]
    missing: list[str]


def resolve_revisions(names: Sequence[str]) -> list[Revision]:
    """Each name as DVC resolves it (dvc.scm.resolve_rev: git's revisions, then experiment
    names); PipelineError for a name that is not in this clone, or that repeats a revision."""
    from dvc.scm import SCM, RevError, SCMError, resolve_rev  # 0.5 s: not for `--help`

    try:
        scm = SCM(os.getcwd())
    except SCMError:
        raise PipelineError("not in a git repository: run the report in the project") from None
    revisions = []
    for name in names:
        if name == WORKSPACE:
            revisions.append(Revision(name, None))
            continue
        try:
            revisions.append(Revision(name, resolve_rev(scm, name)))
        except RevError as error:
            raise PipelineError(unknown_revision(name, str(error))) from None
    check_distinct(revisions)
    return revisions


def unknown_revision(name: str, reason: str) -> str:
    """The one-line error for a name DVC could not resolve (`reason` is DVC's)."""
    if reason.startswith("ambiguous"):
        return (
            f"revision {name!r} names experiments of several commits: name the one you mean by "
            "its commit, the seven digits `dvc exp show -A` shows beside its name"
        )
    return (
        f"revision {name!r} is not in this clone (a shallow clone?): it is no commit, branch, tag "
        f"nor experiment here; fetch it, e.g. `git fetch origin {name}` (an experiment: "
        f"`dvc exp pull origin {name}`), or check out with `fetch-depth: 0` in CI"
    )


def check_distinct(revisions: Sequence[Revision]) -> None:
    """PipelineError if two revisions are one: compared with itself, a revision says nothing."""
    seen: dict[str, str] = {}
    for revision in revisions:
        key = revision.commit or WORKSPACE
        if key in seen and seen[key] == revision.name:
            raise PipelineError(f"revision {revision.name!r} is named twice: name it once")
        if key in seen:
            raise PipelineError(
                f"revisions {seen[key]!r} and {revision.name!r} are the same commit "
                f"({key[:7]}): name each revision once"
            )
        seen[key] = revision.name


def exp_show_argv(revisions: Sequence[Revision]) -> list[str]:
    """`dvc exp show --json` for exactly these revisions: each commit as a baseline, and the
    workspace only if it is one of them."""
    argv = ["exp", "show", "--json", "--hide-queued", "--hide-failed"]
    argv += [arg for r in revisions if r.commit for arg in ("--rev", r.commit)]
    if all(r.commit for r in revisions):
        argv.append("--hide-workspace")
    return argv


def flatten(data: object, prefix: str = "") -> dict[str, object]:
    """Nested mappings as {dotted key: value}, as `dvc metrics diff` names them (lists are
    values)."""
    if not isinstance(data, dict) or not data:
        return {prefix: data} if prefix else {}
    flat: dict[str, object] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def read_files(files: dict, revision: str) -> dict[tuple[str, str], object]:
    """{(file, key): value} of one revision's params or metrics files as `dvc exp show --json`
    gives them; a missing file has no keys, an unreadable one raises PipelineError."""
    values = {}
    for path, loaded in files.items():
        if "error" in loaded:
            if loaded["error"].get("type") == MISSING:
                continue
            raise unreadable(path, revision, loaded["error"])
        values.update({(path, key): v for key, v in flatten(loaded.get("data")).items()})
    return values


def unreadable(path: str, revision: str, error: dict) -> PipelineError:
    """The one-line error for a file DVC could not read in a revision."""
    reason = " ".join(f"{error.get('type', 'error')}: {error.get('msg', '')}".split())
    return PipelineError(
        f"DVC cannot read {path} in {revision} ({reason}): fix or restore the file, or leave "
        f"{revision} out of the report"
    )


def snapshots_of(states: list[dict], revisions: Sequence[Revision]) -> dict[str, Snapshot]:
    """Each revision's Snapshot, by name, from `dvc exp show --json`'s baselines."""
    by_rev = {state["rev"]: state for state in states}
    snapshots = {}
    for revision in revisions:
        state = by_rev.get(revision.commit or WORKSPACE)
        if state is None:
            raise PipelineError(f"`dvc exp show` did not show revision {revision.name!r}")
        if state.get("error") or not state.get("data"):
            reason = " ".join(str((state.get("error") or {}).get("msg", "no data")).split())
            raise PipelineError(
                f"DVC cannot read revision {revision.name} ({reason}): is its dvc.yaml valid? "
                "Leave it out of the report"
            )
        data = state["data"]
        snapshots[revision.name] = Snapshot(
            params=read_files(data.get("params") or {}, revision.name),
            metrics=read_files(data.get("metrics") or {}, revision.name),
        )
    return snapshots


def read_snapshots(revisions: Sequence[Revision]) -> dict[str, Snapshot]:
    """The params and metrics of every revision, by name (one `dvc exp show`)."""
    return snapshots_of(json.loads(commands.dvc(*exp_show_argv(revisions))), revisions)


def check_plot_errors(errors: list[dict]) -> None:
    """PipelineError for the first error of `dvc plots diff --json` that is not a missing
    file."""
    for error in errors:
        if error.get("type") != MISSING or "source" not in error:
            raise unreadable(
                error.get("source") or error.get("name") or "dvc.yaml's plots",
                error.get("rev", "?"),
                error,
            )


def in_label_order(spec: dict) -> dict:
    """A copy of a Vega-Lite spec from DVC with every confusion matrix (an encoding whose x and y
    are both nominal) in label order, CLASS_NAMES' (labels not in it after), instead of the
    alphabetical order of DVC's templates."""
    spec = copy.deepcopy(spec)
    for node in walk(spec):
        encoding = node.get("encoding")
        if isinstance(encoding, dict) and all(
            isinstance(encoding.get(axis), dict) and encoding[axis].get("type") == "nominal"
            for axis in ("x", "y")
        ):
            for axis in ("x", "y"):
                encoding[axis]["sort"] = list(CLASS_NAMES)
    return spec


def walk(node: object) -> list[dict]:
    """Every mapping in a Vega-Lite spec, but not in its inline data (rows are not spec)."""
    found = []
    if isinstance(node, dict):
        found.append(node)
        children = [value for key, value in node.items() if key not in ("data", "datasets")]
    elif isinstance(node, list):
        children = node
    else:
        return found
    for child in children:
        found += walk(child)
    return found


def plots_of(answer: dict, revisions: Sequence[str]) -> list[Plot]:
    """The plots of `dvc plots diff --json` (an empty answer when no revision has any): entries
    in the revisions' order (a chart holds them all, in DVC's order: the workspace first),
    confusion matrices in label order, and the revisions each plot has no data for."""
    check_plot_errors(answer.get("errors") or [])
    order = {name: n for n, name in enumerate(revisions)}
    plots = []
    for plot_id, entries in (answer.get("data") or {}).items():
        entries = sorted(
            entries,
            key=lambda e: min((order.get(r, len(order)) for r in e["revisions"]), default=0),
        )
        entries = [
            {**e, "content": in_label_order(e["content"])} if e["type"] == "vega" else e
            for e in entries
        ]
        drawn = {r for e in entries for r in e["revisions"]}
        plots.append(Plot(plot_id, entries, [r for r in revisions if r not in drawn]))
    return plots


def read_plots(revisions: Sequence[Revision], out_dir: Path) -> list[Plot]:
    """Every plot of every revision (`dvc plots diff`), its images written under `out_dir`."""
    names = [r.name for r in revisions]
    answer = json.loads(commands.dvc("plots", "diff", *names, "--json", "-o", str(out_dir)))
    return plots_of(answer, names)

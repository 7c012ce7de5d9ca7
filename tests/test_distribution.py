"""train.distribution: TF_CONFIG checks, the chief rule, a non-chief's throw-away outputs; the
mirrored strategy on two logical CPU devices against the default one; two worker processes on
this machine training together; and tools.worker's checks.

The strategies run in subprocesses: logical devices must be set before TensorFlow initialises
them, and this process may have initialised them already."""

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from stages.shared import params, splits
from stages.shared.errors import PipelineError
from stages.train import __main__ as train
from stages.train import distribution, model_file, training_history
from stages.train import settings as train_settings
from tests.helpers.ports import free_ports
from tests.helpers.project import REPO, file_tree, load_pipeline, write_yaml
from tests.helpers.repo import make_repo
from tests.helpers.tiny import TinyRun, TinySource, tiny_params
from tools import worker

# Measured: mirrored (2 logical CPU devices) and multi_worker (2 processes) against none on the
# tiny data (batch 16 split 8 + 8), 5 seeds, 2 and 5 epochs: the same validation accuracy every
# time, validation loss within 1.2e-7, weights within 9e-8 (float sums in another order). The
# tolerances keep a margin: one validation image of 40, and 1e-5 (about 100×).
ACCURACY_TOLERANCE = 1 / 40
LOSS_TOLERANCE = 1e-5
WEIGHT_TOLERANCE = 1e-5
TIMEOUT = 120  # seconds for a distributed run; a worker without its peer would wait forever
GRACE = 20  # seconds for the other workers to stop once one has failed


def _tf_config(cluster: dict, kind: str = "worker", index: int = 0, **keys: object) -> str:
    return json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}, **keys})


WORKERS = {"worker": ["host1:2222", "host2:2222"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "train.distribution=multi_worker needs the TF_CONFIG environment variable; set"),
        ("", "needs the TF_CONFIG environment variable"),
        ("{cluster: 1}", "TF_CONFIG is not valid JSON"),
        ('["worker"]', "TF_CONFIG has no `cluster` with a `worker` list"),
        ('{"task": {"type": "worker", "index": 0}}', "TF_CONFIG has no `cluster`"),
        (_tf_config({"worker": []}), "TF_CONFIG has no `cluster`"),
        (_tf_config({**WORKERS, "ps": ["host3:2222"]}), r"cluster \['ps', 'worker'\]: expected"),
        (_tf_config({**WORKERS, "chief": ["a:1", "b:1"]}), "expected exactly one"),
        (_tf_config(WORKERS, "worker", 2), "task .* is not in the cluster; give this machine's"),
        (_tf_config(WORKERS, "chief", 0), "task .* is not in the cluster"),
        (_tf_config(WORKERS, "worker", "0"), "task .* is not in the cluster"),
        (json.dumps({"cluster": WORKERS}), "task None is not in the cluster"),
    ],
)
def test_a_missing_or_wrong_tf_config_is_named_with_the_fix(text, message):
    environ = {} if text is None else {"TF_CONFIG": text}
    with pytest.raises(PipelineError, match=message):
        distribution.read_tf_config(environ)


MALFORMED_TF_CONFIGS = [
    (_tf_config({**WORKERS, "chief": 5}), "cluster 'chief' is 5, expected a list of"),
    (_tf_config({"worker": "host1:2222"}), "cluster 'worker' is 'host1:2222', expected a list"),
    (_tf_config({"worker": ["host1:port"]}), r"'host1:port' in cluster 'worker' is not a"),
    (_tf_config({"worker": ["host1:65536"]}), r"port in \[1, 65535\]"),
    (_tf_config({"worker": ["host1:0"]}), "'host1:0' in cluster 'worker' is not"),
    (_tf_config({"worker": [12345]}), "12345 in cluster 'worker' is not"),
    (_tf_config({"worker": [":2222"]}), "':2222' in cluster 'worker' is not"),
    (_tf_config({"worker": ["host1"]}), "'host1' in cluster 'worker' is not"),
    (_tf_config(WORKERS, ["worker"], 0), "task .* is not in the cluster"),
    (_tf_config(WORKERS, "worker", True), "task .* is not in the cluster"),
    ("[" * 100_000, "TF_CONFIG is not valid JSON"),
    # TensorFlow took an empty chief list and then crashed (SIGSEGV) in
    # MultiWorkerMirroredStrategy(); it never ran with an unknown rpc_layer.
    (
        _tf_config({**WORKERS, "chief": []}),
        r"cluster 'chief' is \[\], expected exactly one \"host:port\" \(or no \"chief\" key: "
        r"worker 0 is then the chief\); set",
    ),
    (
        _tf_config({"chief": ["host0:2222"], "worker": []}, "chief", 0),
        r"cluster 'worker' is an empty list; list its \"host:port\" addresses or drop the key",
    ),
    (
        _tf_config(WORKERS, rpc="grpc"),
        r"unknown key 'rpc' \(TensorFlow reads only cluster, environment, rpc_layer, "
        r"session_master, task\)",
    ),
    (_tf_config(WORKERS, rpc_layer=1), "rpc_layer 1: TensorFlow has only"),
    (
        _tf_config(WORKERS, rpc_layer="bogus"),
        r"rpc_layer 'bogus': TensorFlow has only \"grpc\", its default \(drop the key\)",
    ),
    (
        _tf_config({"worker": ["host1:2222", "Host1:2222"]}),
        "'Host1:2222' is the address of both worker 0 and worker 1; give each",
    ),
    (
        _tf_config({"chief": ["host1:2222"], "worker": ["host2:2222", "host1:2222"]}),
        "'host1:2222' is the address of both chief 0 and worker 1",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"),
    MALFORMED_TF_CONFIGS,
    ids=[
        "chief-int",
        "worker-string",
        "port-name",
        "port-too-large",
        "port-0",
        "address-int",
        "no-host",
        "no-port",
        "type-list",
        "index-bool",
        "deep-json",
        "chief-empty",
        "worker-empty",
        "unknown-key",
        "rpc-layer-int",
        "rpc-layer-unknown",
        "duplicate-worker",
        "duplicate-chief-worker",
    ],
)
def test_a_malformed_cluster_or_task_is_named_with_the_example(text, message):
    with pytest.raises(PipelineError, match=message) as error:
        distribution.read_tf_config({"TF_CONFIG": text})
    assert "\n" not in str(error.value)
    if "task" not in message:
        assert str(error.value).endswith(
            f'e.g. {distribution._EXAMPLE} (docs/team.md, "Distributed training")'
        )


@pytest.mark.parametrize(
    "extra",
    [
        {"rpc_layer": "grpc"},
        {"rpc_layer": ""},
        {"rpc_layer": None},
        {"environment": "cloud", "session_master": ""},
    ],
)
def test_the_other_keys_tensorflow_reads_are_accepted(extra):
    """rpc_layer "grpc", TensorFlow's only one, or empty for it; environment and session_master,
    which multi_worker does not use."""
    text = _tf_config(WORKERS, "worker", 1, **extra)
    assert distribution.read_tf_config({"TF_CONFIG": text}) == json.loads(text)


@pytest.mark.parametrize("command", ["train", "tools.worker"])
def test_a_malformed_tf_config_ends_train_and_worker_in_one_line(tmp_path, tiny_source, command):
    """The string "host:port" where a list goes: before TensorFlow loads, in both commands."""
    document = tiny_params(tiny_source)
    document["train"]["distribution"] = "multi_worker"
    out = tmp_path / "out"
    out.mkdir()
    params_path = write_yaml(out / "params.yaml", document)
    argv = {
        "train": TinyRun(tmp_path).train_argv(out, params_path),  # splits never read
        "tools.worker": [sys.executable, "-m", "tools.worker"],
    }[command]
    environ = os.environ | {"TF_CONFIG": _tf_config({"worker": "host1:2222"}, "worker", 1)}
    result = subprocess.run(
        argv, cwd=REPO, env=environ, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert (result.returncode, result.stderr.count("\n")) == (2, 1), result.stderr
    assert result.stderr.startswith(
        "error: TF_CONFIG: cluster 'worker' is 'host1:2222', expected a list of \"host:port\" "
        "strings; set it on every machine, e.g. TF_CONFIG="
    )
    assert sorted(p.name for p in out.iterdir()) == ["params.yaml"]


@pytest.mark.parametrize(
    ("cluster", "kind", "index", "chief"),
    [
        (WORKERS, "worker", 0, True),  # no chief in the cluster: worker 0 is the chief
        (WORKERS, "worker", 1, False),
        ({**WORKERS, "chief": ["host0:2222"]}, "chief", 0, True),
        ({**WORKERS, "chief": ["host0:2222"]}, "worker", 0, False),
    ],
)
def test_the_chief_is_the_chief_task_or_else_worker_0(cluster, kind, index, chief):
    config = distribution.read_tf_config({"TF_CONFIG": _tf_config(cluster, kind, index)})
    assert distribution.is_chief(config) is chief


def test_a_non_chief_writes_into_a_temporary_directory_that_goes_away(tmp_path):
    model, live = tmp_path / "model" / "model.keras", tmp_path / "live"
    with distribution.staged_outputs(chief=True) as out:
        out.file(model).write_text("m")
        out.directory(live)
    assert model.read_text() == "m" and live.is_dir()
    with distribution.staged_outputs(chief=False) as out:
        thrown = [out.file(model), out.directory(live)]
        assert not any(p.is_relative_to(tmp_path) for p in thrown)
        thrown[0].write_text("other")
    assert not any(p.exists() for p in thrown)
    assert model.read_text() == "m"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live", "model"]


def test_a_non_chief_trains_but_writes_nothing_where_it_was_told(
    tmp_path, tiny_run, tiny_source, monkeypatch, caplog
):
    import tensorflow as tf

    monkeypatch.setattr(
        distribution, "choose_strategy", lambda cfg, cluster: (tf.distribute.get_strategy(), False)
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out = tmp_path / "out"
    # Run where the chief runs, in a DVC project: dvclive would signal epochs in its .dvc/tmp.
    (tmp_path / ".dvc").mkdir()
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO)
    params_path = write_yaml(tmp_path / "params.yaml", tiny_params(tiny_source))
    train.main(tiny_run.train_args(out, params_path))
    assert "in step with the chief, which wrote the model" in caplog.text
    assert not out.exists()
    assert list(scratch.iterdir()) == []
    assert list((tmp_path / ".dvc").iterdir()) == []


def test_mirrored_after_tensorflow_started_asks_for_a_new_process():
    import tensorflow as tf

    tf.config.list_logical_devices()  # as any earlier TensorFlow work does
    cfg = params.load(REPO / "params.yaml", train_settings.Train).model_copy(
        update=dict(distribution="mirrored", cpu_replicas=3)
    )
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("with a GPU, mirrored does not split the CPU")
    with pytest.raises(PipelineError, match="cannot split the CPU into 3 devices .* new process"):
        distribution.choose_strategy(cfg, None)


def _train_in_subprocess(tiny_run, out: Path, document: dict, **env: str):
    """`python -m stages.train` on the tiny splits with the params `document`, outputs in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    argv = tiny_run.train_argv(out, write_yaml(out / "params.yaml", document))
    environ = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"} | env
    return subprocess.run(
        argv, cwd=REPO, env=environ, capture_output=True, text=True, timeout=TIMEOUT
    )


def test_multi_worker_without_tf_config_exits_2_in_one_line(tmp_path, tiny_run, tiny_source):
    document = tiny_params(tiny_source)
    document["train"]["distribution"] = "multi_worker"
    result = _train_in_subprocess(tiny_run, tmp_path / "out", document)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: train.distribution=multi_worker needs the TF_CONFIG environment variable; set it "
        "on every machine, e.g. TF_CONFIG="
    )
    assert result.stderr.count("\n") == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["params.yaml"]


def _assert_trained_like_none(model: Path, history_dir: Path, tiny_run) -> None:
    """The model and validation history of a distributed run match the default run's (tiny_run,
    same params but `distribution: none`) within the measured tolerances."""
    ours, none = training_history.read(history_dir), training_history.read(tiny_run.history)
    assert list(ours.index) == list(none.index) == [1, 2]
    assert ours["val_accuracy"].iloc[-1] > 0.5  # chance is 0.1: it really learned
    np.testing.assert_allclose(ours["val_accuracy"], none["val_accuracy"], atol=ACCURACY_TOLERANCE)
    np.testing.assert_allclose(ours["val_loss"], none["val_loss"], atol=LOSS_TOLERANCE)
    ours_model, none_model = model_file.load(model), model_file.load(tiny_run.model)
    for a, b in zip(ours_model.get_weights(), none_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=WEIGHT_TOLERANCE)
    images, _ = splits.read_split(tiny_run.test)
    probabilities = ours_model.predict(images, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.slow
def test_mirrored_on_two_cpu_devices_trains_like_none(tmp_path, tiny_run, tiny_source):
    document = tiny_params(tiny_source)
    document["train"].update(distribution="mirrored", cpu_replicas=2)
    result = _train_in_subprocess(tiny_run, tmp_path, document)
    assert result.returncode == 0, result.stderr
    assert "mirrored: 2 replicas, here on " in result.stderr
    assert "device:CPU:0, /job:localhost/replica:0/task:0/device:CPU:1" in result.stderr
    assert "train.steps_per_execution=32: 1 under train.distribution=mirrored" in result.stderr
    _assert_trained_like_none(tmp_path / "model.keras", tmp_path / "live/plots/metrics", tiny_run)


@pytest.mark.slow
def test_mirrored_with_a_batch_that_splits_unevenly_trains(tmp_path, tiny_run, tiny_source):
    document = tiny_params(tiny_source)
    document["train"].update(distribution="mirrored", cpu_replicas=3)  # batch 16: 6 + 5 + 5
    result = _train_in_subprocess(tiny_run, tmp_path, document)
    assert result.returncode == 0, result.stderr
    assert "train.batch_size=16 does not split evenly over 3 replicas" in result.stderr
    history = training_history.read(tmp_path / "live/plots/metrics")
    none = training_history.read(tiny_run.history)
    assert history["val_accuracy"].iloc[-1] > 0.5
    # Measured 0.017 apart: each replica's mean loss weighs the same, whatever its share.
    np.testing.assert_allclose(history["val_loss"], none["val_loss"], atol=0.05)


def _run_together(
    commands: list[list[str]],
    envs: list[dict],
    cwd: Path,
    logs: Path,
    sigterm_when: tuple[int, str] | None = None,
) -> list[tuple[int, str]]:
    """Start every command at once and wait for all; kill what is left after TIMEOUT s, or
    GRACE s after one failed or was signalled (a worker whose peer never came waits forever).
    `sigterm_when` (i, text): SIGTERM command i once its output shows `text`. Returns
    (exit code, output) per command."""
    logs.mkdir()
    processes = []
    try:
        for i, (argv, env) in enumerate(zip(commands, envs, strict=True)):
            with open(logs / f"{i}.log", "w") as log:
                processes.append(
                    subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
                )
        deadline = time.monotonic() + TIMEOUT
        while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
            if any(p.poll() for p in processes):
                deadline = min(deadline, time.monotonic() + GRACE)
            if sigterm_when and sigterm_when[1] in (logs / f"{sigterm_when[0]}.log").read_text():
                processes[sigterm_when[0]].send_signal(signal.SIGTERM)
                sigterm_when, deadline = None, min(deadline, time.monotonic() + GRACE)
            time.sleep(0.1)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [(p.returncode, (logs / f"{i}.log").read_text()) for i, p in enumerate(processes)]


def _multi_worker_project(root: Path, source: TinySource) -> Path:
    """The project in a temporary repository, without data, with the tiny params set for
    multi_worker (not committed)."""
    repo = make_repo(root, source)
    repo.set_params("train", distribution="multi_worker")
    return repo.root


def _project_files(project: Path) -> dict[str, bytes]:
    """`file_tree` but DVC's own state in .dvc/tmp (git-ignored), which DVC updates whenever it
    reads dvc.yaml, as tools.worker does."""
    return {k: v for k, v in file_tree(project).items() if not k.startswith(".dvc/tmp/")}


@pytest.mark.slow
def test_two_workers_train_together_and_only_the_chief_writes(tmp_path, tiny_run, tiny_source):
    project = _multi_worker_project(tmp_path / "project", tiny_source)
    stage = load_pipeline()["stages"]["train"]
    for dep, split in zip(stage["deps"][:2], (tiny_run.train, tiny_run.val), strict=True):
        (project / dep).parent.mkdir(parents=True, exist_ok=True)
        (project / dep).write_bytes(split.read_bytes())
    before = _project_files(project)
    scratch = tmp_path / "tmp"  # the workers' TMPDIR
    scratch.mkdir()
    envs = _cluster_envs(2, TMPDIR=str(scratch))
    # The chief as `dvc repro` runs it; the other worker through tools.worker: same paths.
    chief_command = [sys.executable, *shlex.split(stage["cmd"])[1:]]
    commands = [chief_command, [sys.executable, "-m", "tools.worker"]]
    (chief, chief_log), (other, other_log) = _run_together(
        commands, envs, project, tmp_path / "logs"
    )
    assert (chief, other) == (0, 0), f"chief:\n{chief_log}\nworker 1:\n{other_log}"
    assert "wrote data/model/model.keras (epoch 2 of 2), data/model/model.onnx (" in chief_log
    assert "trained in" in other_log and "in step with the chief" in other_log
    for log in (chief_log, other_log):
        assert "multi_worker: 2 replicas" in log
    after = _project_files(project)
    assert {k: v for k, v in after.items() if k in before} == before
    history_dir = next(iter(stage["plots"][0]))
    outs = [next(iter(entry)) for entry in stage["outs"]]  # {path: {persist: true}}
    figures = [next(iter(entry)) for entry in stage["plots"][1:]]  # the training curves
    written = {*outs, *figures, "metrics/time.json"}  # the time: no stage's output (dvc.yaml)
    written |= {f"{history_dir}/{name}.tsv" for name in training_history.LIVE_NAMES.values()}
    assert set(after) - set(before) == written
    # The non-chief's temporary directory is gone (a library leaves a 51-byte `.ses` session file).
    assert list(scratch.glob("worker-*")) == []
    _assert_trained_like_none(project / outs[0], project / history_dir, tiny_run)


def _cluster_envs(count: int, **env: str) -> list[dict]:
    """One environment per worker of a cluster on free 127.0.0.1 ports: TF_CONFIG and `env`."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(count)]}
    return [
        dict(os.environ, TF_CONFIG=_tf_config(cluster, "worker", i), **env) for i in range(count)
    ]


@pytest.mark.slow
def test_a_worker_stopped_mid_training_stops_the_others_cleanly(tmp_path, tiny_run, tiny_source):
    document = tiny_params(tiny_source)
    document["train"].update(distribution="multi_worker", epochs=1000)  # minutes: stopped first
    params_file = write_yaml(tmp_path / "params.yaml", document)
    out = tmp_path / "out"
    command = tiny_run.train_argv(out, params_file)
    # SIGTERM, as a cancelled `dvc repro` sends: TensorFlow's cluster would swallow it.
    (chief, chief_log), (other, other_log) = _run_together(
        [command, command], _cluster_envs(2), REPO, tmp_path / "logs", (0, "epoch 2/1000")
    )
    assert chief == 130, chief_log
    assert chief_log.rstrip().endswith("interrupted: every output is as it was before this run")
    assert other == 2, other_log
    assert (
        other_log.rstrip()
        .splitlines()[-1]
        .startswith("error: another worker of the cluster stopped or cannot be reached (")
    )
    assert file_tree(out) == {}  # neither left a model, metrics or a temporary file


@pytest.fixture
def project(tmp_path, tiny_source, monkeypatch) -> Path:
    """A DVC project without its data, params set for multi_worker, as the working directory."""
    root = _multi_worker_project(tmp_path / "project", tiny_source)
    monkeypatch.chdir(root)
    monkeypatch.setenv("TF_CONFIG", _tf_config(WORKERS, "worker", 1))
    return root


def test_worker_runs_the_train_command_of_dvc_yaml(project):
    command, deps = worker.stage_command(project)
    assert command == [sys.executable, *shlex.split(load_pipeline()["stages"]["train"]["cmd"])[1:]]
    assert deps[:2] == [project / "data/prepared/train.npz", project / "data/prepared/val.npz"]


def test_worker_needs_tf_config(project, monkeypatch):
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(PipelineError, match="needs the TF_CONFIG environment variable"):
        worker.main([])


def test_worker_refuses_the_chief_task(project, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _tf_config(WORKERS, "worker", 0))
    with pytest.raises(PipelineError, match=r"names \{'type': 'worker', 'index': 0\}, the chief"):
        worker.main([])


def test_worker_needs_multi_worker_params(project, tiny_source):
    write_yaml(project / "params.yaml", tiny_params(tiny_source))
    with pytest.raises(PipelineError, match="train.distribution='none'; every machine needs"):
        worker.main([])


def test_worker_needs_the_splits(project):
    with pytest.raises(
        PipelineError,
        match="missing data/prepared/train.npz, data/prepared/val.npz: run `dvc pull preprocess`",
    ):
        worker.main([])


def test_worker_outside_a_dvc_project_says_where_to_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CONFIG", _tf_config(WORKERS, "worker", 1))
    with pytest.raises(PipelineError, match="not inside of a DVC repository.*project's clone"):
        worker.main([])

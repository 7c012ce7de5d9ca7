"""Working as a team through DVC remotes, tested against a real S3 API (moto's server on
127.0.0.1, with IAM authentication on) and a local directory: push and pull,
wrong credentials, and CI reusing results (`dvc repro --pull --allow-missing`)."""

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.ports import free_ports, silent_server
from tests.helpers.project import REPO, file_tree
from tests.helpers.repo import Repo, make_repo
from tests.helpers.tiny import TinySource
from tools import commands, remote


def slow_e2e(test):
    return pytest.mark.e2e(pytest.mark.slow(test))


BUCKET = "fashion-team"
UP_TO_DATE = "Data and pipelines are up to date"


@dataclasses.dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key_id: str
    secret_access_key: str
    empty_config: Path  # for AWS_CONFIG_FILE: nothing of this machine's AWS setup takes part


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    # A TCP connection, not an HTTP request: moto counts requests towards its no-auth allowance.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "moto's server exited; see its log"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"moto's server did not listen on port {port} in {timeout} s")


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server, a bucket and an IAM user whose key is the only one it accepts."""
    import boto3

    (port,) = free_ports(1)
    directory = tmp_path_factory.mktemp("moto")
    log, empty_config = directory / "server.log", directory / "aws-config"
    empty_config.touch()
    # moto authenticates every request after the first 4: the 4 that set up the bucket and user.
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4")
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, server)
        endpoint = f"http://127.0.0.1:{port}"
        setup = {"endpoint_url": endpoint, "region_name": "us-east-1"}
        setup.update(aws_access_key_id="setup", aws_secret_access_key="setup")
        boto3.client("s3", **setup).create_bucket(Bucket=BUCKET)
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="ci")
        iam.put_user_policy(
            UserName="ci",
            PolicyName="bucket",
            PolicyDocument='{"Version": "2012-10-17", "Statement": '
            '[{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}',
        )
        key = iam.create_access_key(UserName="ci")["AccessKey"]
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"], empty_config)
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def with_credentials(repo: Repo, s3: S3Server, access_key_id: str, secret_access_key: str) -> Repo:
    """Credentials as CI passes them: environment variables, never a committed file."""
    repo.env.update(AWS_ACCESS_KEY_ID=access_key_id, AWS_SECRET_ACCESS_KEY=secret_access_key)
    repo.env.update(AWS_CONFIG_FILE=str(s3.empty_config))
    repo.env.update(AWS_SHARED_CREDENTIALS_FILE=str(s3.empty_config))
    repo.env.pop("AWS_PROFILE", None)
    return repo


def clone(team: Repo, root: Path) -> Repo:
    """A fresh clone, as CI or a teammate starts: no DVC cache, no outputs."""
    team.run("git", "clone", "-q", str(team.root), str(root))
    repo = Repo(root)
    repo.env.update({k: v for k, v in team.env.items() if k.startswith("AWS_")})
    return repo


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, tiny_source: TinySource, s3: S3Server) -> Repo:
    """The team's repository: S3 as its committed default remote; the pipeline run, committed
    and pushed."""
    repo = make_repo(tmp_path_factory.mktemp("team") / "project", tiny_source)
    with_credentials(repo, s3, s3.access_key_id, s3.secret_access_key)
    repo.make("remote-s3", URL=f"s3://{BUCKET}/cache", ENDPOINT=s3.endpoint)
    repo.repro()
    repo.commit("pipeline run, S3 remote")
    repo.make("push")
    return repo


@slow_e2e
def test_the_remote_is_committed_and_its_credentials_are_not(team: Repo, s3: S3Server):
    config = (team.root / ".dvc/config").read_text()
    assert f"url = s3://{BUCKET}/cache" in config and f"endpointurl = {s3.endpoint}" in config
    grep = team.attempt("git", "grep", "-l", "-e", s3.access_key_id, "-e", s3.secret_access_key)
    assert grep.returncode == 1 and grep.stdout == ""  # 1: no match


@slow_e2e
def test_pull_restores_what_was_deleted_and_repro_runs_nothing(team: Repo):
    outputs = file_tree(team.root / "data")
    shutil.rmtree(team.root / ".dvc/cache")
    shutil.rmtree(team.root / "data")

    team.make("pull")

    assert file_tree(team.root / "data") == outputs
    assert team.repro() == []
    assert UP_TO_DATE in team.dvc("status")


@slow_e2e
@pytest.mark.parametrize(
    ("key", "secret"),
    [("right", "wrong"), ("AKIAUNKNOWN0KEY00000", "wrong")],
    ids=["wrong-secret", "unknown-key"],
)
def test_a_push_with_wrong_credentials_fails_clearly_and_keeps_the_cache(
    team: Repo, s3: S3Server, key: str, secret: str
):
    cache = file_tree(team.root / ".dvc/cache")
    denied = Repo(team.root)
    with_credentials(denied, s3, s3.access_key_id if key == "right" else key, secret)

    result = denied.attempt(*denied.make_argv("push"))

    assert result.returncode != 0
    assert "the remote refused the credentials" in result.stderr
    assert "AWS_ACCESS_KEY_ID" in result.stderr and ".dvc/config.local" in result.stderr
    assert file_tree(team.root / ".dvc/cache") == cache


@slow_e2e
def test_ci_reuses_results_and_reruns_only_what_changed(team: Repo, tmp_path: Path):
    ci = clone(team, tmp_path / "ci")

    assert ci.repro("--pull", "--allow-missing") == []
    assert not (ci.root / "data/raw").exists(), "the raw data was downloaded or pulled"
    assert not (ci.root / "data/model").exists(), "the model was pulled though nothing needs it"

    ci.set_params("predict", count=3)
    assert ci.repro("--pull", "--allow-missing") == ["predict"]
    assert ci.read_json("metrics/eval.json") == team.read_json("metrics/eval.json")

    ci.set_params("train", epochs=3)
    assert ci.repro("--pull", "--allow-missing") == ["train", "evaluate", "predict"]
    assert not (ci.root / "data/raw").exists()


@slow_e2e
def test_remote_local_is_this_clones_own_and_round_trips(
    team: Repo, tmp_path: Path, tiny_source: TinySource
):
    directory = tmp_path / "remote"
    first = clone(team, tmp_path / "first")
    first.make("pull")  # from the team's S3 remote
    committed_config = (first.root / ".dvc/config").read_bytes()

    first.make("remote-local", REMOTE_DIR=str(directory))
    first.make("push")

    assert (first.root / ".dvc/config").read_bytes() == committed_config
    assert str(directory) in (first.root / ".dvc/config.local").read_text()
    assert first.run("git", "status", "--porcelain") == ""
    assert any((directory / "files").rglob("*"))

    second = clone(team, tmp_path / "second")
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        second.env.pop(variable)  # so that only the local directory can answer
    second.make("remote-local", REMOTE_DIR=str(directory))
    second.make("pull")
    assert file_tree(second.root / "data") == file_tree(first.root / "data")
    assert UP_TO_DATE in second.dvc("status")


def tracked(root: Path) -> Repo:
    """A git + DVC repository with one file tracked by DVC and no remote, whose commands run
    tools.remote from this checkout."""
    repo = Repo(root)
    repo.env["PYTHONPATH"] = str(REPO)
    root.mkdir()
    repo.run("git", "init", "-q")
    repo.dvc("init", "-q")
    (root / "weights.bin").write_bytes(b"weights")
    repo.dvc("add", "-q", "weights.bin")
    repo.commit("one file tracked by DVC")
    return repo


def sync(repo: Repo, direction: str) -> subprocess.CompletedProcess:
    """`make push` / `make pull` as the Makefile runs them; for a pull, the file and DVC's cache
    are gone first, so that it has something to fetch."""
    if direction == "pull":
        shutil.rmtree(repo.root / ".dvc/cache")
        (repo.root / "weights.bin").unlink()
    return commands.attempt(
        [sys.executable, "-m", "tools.remote", direction], cwd=repo.root, env=repo.env, timeout=60
    )


@pytest.mark.parametrize("direction", ["push", "pull"])
def test_push_and_pull_without_a_remote_say_how_to_configure_one(tmp_path, direction):
    result = sync(tracked(tmp_path / "project"), direction)

    assert result.returncode == 2
    assert result.stderr == f"error: {remote.NO_REMOTE}\n"
    assert "make remote-local" in result.stderr and "make remote-s3" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("direction", ["push", "pull"])
def test_an_s3_endpoint_that_never_answers_is_given_up_within_the_bound_announced(
    tmp_path, direction
):
    repo = tracked(tmp_path / "project")
    repo.env.update(AWS_ACCESS_KEY_ID="key", AWS_SECRET_ACCESS_KEY="secret")
    (tmp_path / "aws-config").touch()  # nothing of this machine's AWS setup takes part
    repo.env.update(AWS_CONFIG_FILE=str(tmp_path / "aws-config"))
    repo.env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-config"))
    for variable in ("AWS_PROFILE", "AWS_MAX_ATTEMPTS"):
        repo.env.pop(variable, None)
    with silent_server() as port:
        with open(repo.root / ".dvc/config", "a", encoding="utf-8") as config:
            # What `make remote-s3 URL=… ENDPOINT=…` writes, and timeouts of 1 s, the least.
            config.write(
                f"[core]\n    remote = team\n['remote \"team\"']\n"
                f"    url = s3://{BUCKET}/cache\n    endpointurl = http://127.0.0.1:{port}\n"
                "    connect_timeout = 1\n    read_timeout = 1\n"
            )
        started = time.monotonic()

        result = sync(
            repo, direction
        )  # without the bound: 65 s with these timeouts, 7 min without

        elapsed = time.monotonic() - started
    announced = result.stderr.splitlines()[0]
    assert announced.startswith(
        f"dvc {direction}: {'to' if direction == 'push' else 'from'} remote 'team' "
        f"(s3://{BUCKET}/cache at http://127.0.0.1:{port}); waits at most about 12 s for a "
        "request that gets no answer (5 tries × 1 attempt × (connect_timeout 1 s + "
        "read_timeout 1 s)"
    )
    assert result.returncode != 0
    assert f"error: `dvc {direction}` failed: the remote does not answer" in result.stderr
    assert elapsed < 12 + 10  # the bound, and DVC's start-up on a busy machine


@pytest.mark.e2e
def test_remote_s3_wants_an_s3_url(repo: Repo):
    result = repo.attempt(*repo.make_argv("remote-s3", URL="bucket/path"))

    assert result.returncode == 2 and "URL=s3://bucket/path" in result.stderr
    assert (repo.root / ".dvc/config").read_text().count("remote") == 0


@pytest.mark.parametrize(
    ("dvc_error", "meaning"),
    [
        (
            "ERROR: unexpected error - Forbidden: An error occurred (403) when calling the "
            "HeadObject operation: Forbidden",
            "refused the credentials",
        ),
        ("ERROR: unexpected error - Unable to locate credentials", "no credentials were found"),
        (
            "ERROR: failed to push data to the cloud - config file error: no remote specified in "
            "/x. Setup default remote with",
            "no DVC remote is configured",
        ),
        ("ERROR: unexpected error - The specified bucket does not exist", "does not exist"),
        ("ERROR: unexpected error - Could not connect to the endpoint URL", "does not answer"),
        (
            'ERROR: failed to connect to s3 (b/c/files/md5) - Read timeout on endpoint URL: "h"',
            "does not answer",
        ),
    ],
)
def test_diagnose_names_the_problem(dvc_error: str, meaning: str):
    assert meaning in remote.diagnose(dvc_error)


def test_diagnose_leaves_unknown_failures_to_dvc():
    assert remote.diagnose("ERROR: something else entirely") is None


@slow_e2e
def test_dvc_artifacts_get_fetches_the_model_from_the_remote(
    tmp_path: Path, tiny_source: TinySource
):
    """What a consumer of the model runs (docs/own-images.md): `dvc artifacts get <repository>
    model`, from a clone whose only copy of the model is on its remote (a local directory)."""
    publisher = make_repo(tmp_path / "project", tiny_source)
    publisher.dvc("remote", "add", "--default", "shared", str(tmp_path / "remote"))
    publisher.repro()
    publisher.commit("pipeline run, its remote")
    # A version of the artifact: the Git tag GTO's convention names (what `gto register` makes);
    # `dvc artifacts get` fetches the latest one.
    publisher.run("git", "tag", "-a", "model@v1.0.0", "-m", "the shipped model")
    publisher.dvc("push")
    shipped = (publisher.root / "data/model/model.onnx").read_bytes()
    published = tmp_path / "published"  # a clone: no DVC cache, no outputs
    publisher.run("git", "clone", "-q", str(publisher.root), str(published))
    shutil.rmtree(publisher.root / ".dvc/cache")  # so that only the remote has the model
    consumer = Repo(tmp_path / "consumer")
    consumer.root.mkdir()

    consumer.dvc("artifacts", "get", str(published), "model")
    consumer.dvc("artifacts", "get", str(published), "model", "--rev", "v1.0.0", "-o", "v1.onnx")

    assert sorted(p.name for p in consumer.root.iterdir()) == ["model.onnx", "v1.onnx"]
    assert (consumer.root / "model.onnx").read_bytes() == shipped
    assert (consumer.root / "v1.onnx").read_bytes() == shipped

"""Share results through the DVC remote: `dvc push` / `dvc pull`, with the fix spelled out when
the remote refuses.

    python -m tools.remote push [dvc push arguments…]     # make push
    python -m tools.remote pull [dvc pull arguments…]     # make pull

A teammate's or CI's `dvc repro` then finds the outputs that dvc.lock records and runs nothing.
(There is no run-cache to send: DVC keeps none for stages whose outputs persist, as ours do.)
DVC's own messages for the usual failures ("unexpected error - Forbidden") do not say what to do.

Each starts by saying which remote it talks to and, for S3, how long a request that gets no answer
is waited for. Left to themselves, botocore's retries (5 attempts) inside s3fs's (5 tries) of
s3fs's timeouts (connect 5 s, read 15 s) kept `make push` silent for 7 minutes on an endpoint that
accepts connections and never answers; with one botocore attempt per s3fs try (AWS_MAX_ATTEMPTS=1,
unless you set it) it gives up after about 2 minutes at most, less with smaller timeouts
(`dvc remote modify <remote> read_timeout 5`, `… connect_timeout 3`).
"""

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence

from stages.shared import cli
from stages.shared.errors import PipelineError
from tools import commands

CREDENTIALS_FIX = (
    "give DVC credentials that the remote accepts: the environment variables "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or "
    "`dvc remote modify --local <remote> access_key_id …` and `… secret_access_key …`, which "
    "write .dvc/config.local (never committed); never put them in .dvc/config"
)

NO_REMOTE = (
    "no DVC remote is configured: run `make remote-local` (a directory on this machine) or "
    "`make remote-s3 URL=s3://bucket/path` (docs/team.md)"
)
# s3fs tries a request 5 times (not a setting DVC passes on), pausing 0.1 s, 0.17 s, … 0.84 s
# (1.9 s in all) after each failure, with these timeouts unless the remote sets its own.
S3_TRIES, S3_PAUSES = 5, 1.9
S3_TIMEOUTS = {"connect_timeout": 5.0, "read_timeout": 15.0}
# botocore's attempts inside each of s3fs's tries: its default of 5, with up to 20 s between them,
# multiplied the wait by 5 and more; s3fs's own tries still cover a transient failure.
AWS_ATTEMPTS = "1"

# (pattern in DVC's error output, what it means and what to do), first match wins.
DIAGNOSES = (
    (r"no remote specified|No remote provided", NO_REMOTE),
    (
        r"Forbidden|AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|\b403\b",
        f"the remote refused the credentials; {CREDENTIALS_FIX}",
    ),
    (r"Unable to locate credentials", f"no credentials were found; {CREDENTIALS_FIX}"),
    (
        r"NoSuchBucket|bucket does not exist",
        "the bucket does not exist: create it, or correct the URL (`dvc remote list`)",
    ),
    (
        r"Could not connect|Cannot connect|Connection refused|EndpointConnectionError"
        r"|(Read|Connect) timeout on endpoint",
        "the remote does not answer: check its URL and endpointurl (`dvc remote list`, "
        "`dvc config --list --show-origin`) and the network",
    ),
)


def diagnose(output: str) -> str | None:
    """What DVC's failure output means and how to fix it; None for failures we do not know."""
    for pattern, meaning in DIAGNOSES:
        if re.search(pattern, output):
            return meaning
    return None


def chosen_remote(dvc_arguments: Sequence[str], config: Mapping[str, str]) -> str | None:
    """The remote DVC will use: `-r NAME` among its arguments, else the default, else None."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("-r", "--remote")
    named = parser.parse_known_args(dvc_arguments)[0].remote
    return named or config.get("core.remote")


def s3_wait(settings: Mapping[str, str], attempts: int) -> tuple[float, str]:
    """How long, at most, s3fs and botocore wait for a request to an S3 remote that never
    answers, in seconds, and how that is made up."""
    timeouts = {key: float(settings.get(key, default)) for key, default in S3_TIMEOUTS.items()}
    per_attempt = timeouts["connect_timeout"] + timeouts["read_timeout"]
    backoff = S3_TRIES * sum(min(2**i, 20) for i in range(attempts - 1))  # botocore's, at most
    seconds = S3_TRIES * attempts * per_attempt + S3_PAUSES + backoff
    how = (
        f"{S3_TRIES} tries × {attempts} attempt{'s' * (attempts > 1)} × (connect_timeout "
        f"{timeouts['connect_timeout']:g} s + read_timeout {timeouts['read_timeout']:g} s)"
    )
    return seconds, how


def announcement(direction: str, name: str, config: Mapping[str, str], attempts: int) -> str:
    """One line: what `dvc <direction>` is about to do, and for S3 how long it may wait."""
    settings = {
        key.removeprefix(f"remote.{name}."): value
        for key, value in config.items()
        if key.startswith(f"remote.{name}.")
    }
    url = settings.get("url", "?")
    endpoint = f" at {settings['endpointurl']}" if "endpointurl" in settings else ""
    preposition = "to" if direction == "push" else "from"
    line = f"dvc {direction}: {preposition} remote {name!r} ({url}{endpoint})"
    if not url.startswith("s3://"):
        return line
    seconds, how = s3_wait(settings, attempts)
    return (
        f"{line}; waits at most about {seconds:.0f} s for a request that gets no answer ({how}; "
        f"`dvc remote modify {name} read_timeout …` sets it)"
    )


def dvc_config() -> dict[str, str] | None:
    """DVC's settings (`dvc config --list`: system, global, repository, local; the last wins),
    or None where DVC cannot list them (outside a DVC repository: `dvc push` then says so)."""
    listed = commands.attempt(commands.dvc_argv("config", "--list"))
    if listed.returncode != 0:
        return None
    return dict(line.split("=", 1) for line in listed.stdout.splitlines() if "=" in line)


def aws_attempts(env: Mapping[str, str]) -> int:
    """botocore's attempts per request: AWS_MAX_ATTEMPTS, which `sync` sets unless you did."""
    value = env["AWS_MAX_ATTEMPTS"]
    if not value.isdigit() or int(value) < 1:
        raise PipelineError(
            f"AWS_MAX_ATTEMPTS={value!r}: expected a whole number ≥ 1; fix or unset it"
        )
    return int(value)


def sync(direction: str, dvc_arguments: Sequence[str]) -> int:
    """Say what `dvc <direction> …` will do, then run it with a bounded wait for an S3 remote
    that does not answer; on failure, add the diagnosis to DVC's own message."""
    env = {"AWS_MAX_ATTEMPTS": AWS_ATTEMPTS, **os.environ}
    config = dvc_config()
    if config is not None:
        name = chosen_remote(dvc_arguments, config)
        if name is None:
            print(f"error: {NO_REMOTE}", file=sys.stderr)
            return cli.EXIT_USER_ERROR
        print(
            announcement(direction, name, config, aws_attempts(env)), file=sys.stderr, flush=True
        )
    # stdout streams as DVC writes it; stderr is kept to be read, then shown unchanged.
    result = commands.attempt(
        commands.dvc_argv(direction, *dvc_arguments), env=env, capture_stdout=False
    )
    sys.stderr.write(result.stderr)
    if result.returncode == 0:
        return 0
    meaning = diagnose(result.stderr)
    if meaning:
        print(f"error: `dvc {direction}` failed: {meaning}", file=sys.stderr)
    if direction == "push":
        print("nothing local was changed: the cache and the workspace are intact", file=sys.stderr)
    return result.returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("direction", choices=["push", "pull"])
    args, dvc_arguments = parser.parse_known_args(argv)
    return sync(args.direction, dvc_arguments)


if __name__ == "__main__":
    cli.run(main)

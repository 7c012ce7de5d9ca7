"""Share results through the DVC remote: `dvc push` / `dvc pull`, with the fix spelled out when
the remote refuses.

    python -m tools.remote push [dvc push arguments…]     # make push
    python -m tools.remote pull [dvc pull arguments…]     # make pull

A teammate's or CI's `dvc repro` then finds the outputs that dvc.lock records and runs nothing.
(There is no run-cache to send: DVC keeps none for stages whose outputs persist, as ours do.)
DVC's own messages for the usual failures ("unexpected error - Forbidden") do not say what to do.
"""

import argparse
import re
import sys
from collections.abc import Sequence

from stages.shared import cli
from tools import commands

CREDENTIALS_FIX = (
    "give DVC credentials that the remote accepts: the environment variables "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or "
    "`dvc remote modify --local <remote> access_key_id …` and `… secret_access_key …`, which "
    "write .dvc/config.local (never committed); never put them in .dvc/config"
)

# (pattern in DVC's error output, what it means and what to do), first match wins.
DIAGNOSES = (
    (
        r"no remote specified",
        "no DVC remote is configured: run `make remote-local` (a directory on this machine) or "
        "`make remote-s3 URL=s3://bucket/path` (docs/team.md)",
    ),
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
        r"Could not connect|Cannot connect|Connection refused|EndpointConnectionError",
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


def sync(direction: str, dvc_arguments: Sequence[str]) -> int:
    """Run `dvc <direction> …`; on failure, add the diagnosis to DVC's own message."""
    # stdout streams as DVC writes it; stderr is kept to be read, then shown unchanged.
    result = commands.attempt(commands.dvc_argv(direction, *dvc_arguments), capture_stdout=False)
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

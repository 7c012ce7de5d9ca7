"""How long a fit took: a record for tools (presets, the frontier), written outside the tracked
metrics, which must not differ between two identical runs."""

import dataclasses
import json
import os
import statistics
from collections.abc import Mapping
from pathlib import Path

from stages.shared import artifacts
from stages.shared.errors import DataError

# Where the train stage writes its timing record, if this environment variable names a
# directory: one `<experiment>.json` per run (DVC_EXP_NAME, or "workspace"). Timings stay out of
# the tracked metrics: they differ on every run, and dvc.lock would with them.
TIMINGS_ENV = "FASHION_MNIST_TIMINGS"


@dataclasses.dataclass(frozen=True)
class Timing:
    """How long a fit took, in wall-clock seconds: in all (validation included) and per epoch."""

    experiment: str
    train_seconds: float
    epoch_seconds: list[float]
    train_images: int

    @property
    def images_per_second(self) -> float:
        """Training images through the network per second, over all epochs."""
        return self.train_images * len(self.epoch_seconds) / self.train_seconds


def time_metrics(timing: Timing) -> dict:
    """The training time as the metrics file beside the stage's outputs (metrics/time.json): in
    `dvc exp show` and the report beside accuracy, in no dvc.lock."""
    return {
        "train_seconds": timing.train_seconds,
        # The median: an epoch slowed by another process on the machine does not move it.
        "seconds_per_epoch": round(statistics.median(timing.epoch_seconds), 2),
        "images_per_second": round(timing.images_per_second),
    }


def write_timing(timing: Timing, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Write `timing` into the directory named by TIMINGS_ENV; return its path (None: unset)."""
    directory = environ.get(TIMINGS_ENV)
    if not directory:
        return None
    path = Path(directory) / f"{timing.experiment}.json"
    with artifacts.atomic_path(path) as tmp:  # it makes the directory
        artifacts.write_json(tmp, dataclasses.asdict(timing))
    return path


def read_timing(directory: Path, experiment: str) -> Timing:
    """The timing that the train stage wrote for `experiment` into `directory`."""
    path = directory / f"{experiment}.json"
    try:
        return Timing(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise DataError(
            f"{path}: no timing of experiment {experiment!r} ({error}); run its train stage "
            f"with {TIMINGS_ENV}={directory}"
        ) from error

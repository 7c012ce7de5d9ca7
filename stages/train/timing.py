"""How long a fit took, and the metrics file that says it (metrics/time.json): in `dvc exp show`
and the report beside accuracy, in no dvc.lock, since it differs on every run (dvc.yaml)."""

import dataclasses
import statistics


@dataclasses.dataclass(frozen=True)
class Timing:
    """How long a fit took, in wall-clock seconds: in all (validation included) and per epoch;
    and the CPU seconds that the process's threads spent meanwhile."""

    train_seconds: float
    epoch_seconds: list[float]
    train_images: int
    cpu_seconds: float

    @property
    def images_per_second(self) -> float:
        """Training images through the network per second, over all epochs."""
        return self.train_images * len(self.epoch_seconds) / self.train_seconds


def time_metrics(timing: Timing) -> dict:
    """The training time as metrics, in the order a reader wants them."""
    return {
        "train_seconds": timing.train_seconds,
        # The median: an epoch slowed by another process on the machine does not move it.
        "seconds_per_epoch": round(statistics.median(timing.epoch_seconds), 2),
        "images_per_second": round(timing.images_per_second),
        # How many of the machine's cores the fit kept busy, on average.
        "cores_used": round(timing.cpu_seconds / timing.train_seconds, 2),
    }

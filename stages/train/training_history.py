"""The training history: the per-epoch metrics as the train stage logs them with dvclive, one TSV
per metric (columns `step` and the metric) under `<dir>/plots/metrics/`, named by split (`train/`,
`val/`) as in dvclive's summary `metrics.json`; and their reader."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stages.shared.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

# Keras' name of each logged metric → dvclive's, in the order a reader wants them: the
# validation split first. (dvclive's own Keras callback would say `eval/`, which reads as the
# test split beside evaluate's `test` metrics.) Its history file is `<name>.tsv`.
LIVE_NAMES = {
    "val_accuracy": "val/accuracy",
    "val_loss": "val/loss",
    "accuracy": "train/accuracy",
    "loss": "train/loss",
    "learning_rate": "learning_rate",
}


def read(plots_dir: Path) -> pd.DataFrame:
    """The per-epoch metrics written by the train stage, as columns, indexed by 1-based epoch."""
    import pandas as pd  # here: the import takes 0.2–0.3 s, which `--help` need not pay

    columns = {}
    for name, live_name in LIVE_NAMES.items():
        path = plots_dir / f"{live_name}.tsv"
        try:
            table = pd.read_csv(path, sep="\t", index_col="step")
        except (OSError, ValueError, KeyError) as error:
            raise DataError(
                f"{path}: unreadable training history ({error}); run `dvc repro train`"
            ) from error
        columns[name] = table.iloc[:, 0]
    history = pd.DataFrame(columns)
    history.index = pd.RangeIndex(1, len(history) + 1, name="epoch")
    return history

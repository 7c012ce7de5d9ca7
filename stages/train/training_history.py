"""The training history: the per-epoch metrics as dvclive's Keras callback lays them out, one TSV
per metric (columns `step` and the metric) under `<dir>/plots/metrics/`, Keras' `val_` becoming
`eval/`; and their reader."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stages.shared.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

# Keras' name of each logged metric → its file under the plots directory.
FILES = {
    "loss": "train/loss.tsv",
    "accuracy": "train/accuracy.tsv",
    "val_loss": "eval/loss.tsv",
    "val_accuracy": "eval/accuracy.tsv",
    "learning_rate": "learning_rate.tsv",
}


def read(plots_dir: Path) -> pd.DataFrame:
    """The per-epoch metrics written by the train stage, as columns, indexed by 1-based epoch."""
    import pandas as pd  # here: the import takes 0.2–0.3 s, which `--help` need not pay

    columns = {}
    for name, relative in FILES.items():
        path = plots_dir / relative
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

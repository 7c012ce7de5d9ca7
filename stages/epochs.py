"""Per-epoch training metrics as dvclive's Keras callback lays them out: one TSV per metric
(columns `step` and the metric) under `<dir>/plots/metrics/`; Keras' `val_` becomes `eval/`."""

from pathlib import Path

import pandas as pd

from stages.errors import DataError

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

"""predictions.csv, the file every run hands to the evaluation: written and read here only.

``item_id,true,pred,prob_<emotion>...`` (PREDICTION_COLUMNS), one row per test item, written
by training (dramaemo.models.train), the FER2013 zero-shot run (dramaemo.models.fer) and late
fusion (dramaemo.evaluation.fusion), all in one float format. No TensorFlow: the evaluation
reads it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.core.errors import UserError
from dramaemo.dataset.tables import read_csv_checked

PROB_COLUMNS = tuple(f"prob_{emotion}" for emotion in EMOTIONS)
PREDICTION_COLUMNS = ("item_id", "true", "pred") + PROB_COLUMNS


def write_predictions(table: pd.DataFrame, path: str | Path) -> None:
    """``table`` (PREDICTION_COLUMNS, in that order) to ``path``, floats as pandas writes them
    (shortest repr that reads back exactly)."""
    if tuple(table.columns) != PREDICTION_COLUMNS:
        raise ValueError(f"predictions have columns {list(table.columns)}, not {list(PREDICTION_COLUMNS)}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)


def _check_labels(table: pd.DataFrame, column: str, path: Path) -> None:
    bad = ~table[column].isin(EMOTIONS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(
            f"{path}: row {row + 2}: {column} {table[column].iloc[row]!r} is not one of "
            f"{', '.join(EMOTIONS)} ({int(bad.sum())} such row(s))"
        )


def read_predictions(path: str | Path) -> pd.DataFrame:
    """One run's predictions.csv, checked: known labels, unique item ids."""
    path = Path(path)
    table = read_csv_checked(path, ("item_id", "true", "pred"))
    for column in ("true", "pred"):
        _check_labels(table, column, path)
    duplicated = table["item_id"].duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise UserError(f"{path}: row {row + 2}: item_id {table['item_id'].iloc[row]!r} appears twice")
    return table

"""Reading the crop manifests (``results/crops/{episode}.manifest.csv``, MANIFEST_COLUMNS,
written by crop-faces): the one reader of the join, the labelling page and the index."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dramaemo.dataset.tables import read_csv_checked
from dramaemo.faces.detection import MANIFEST_COLUMNS


def read_manifest(path: str | Path, *, dtype=None) -> pd.DataFrame:
    """One episode's crop manifest, checked (``dtype=str``: every cell as written, for the
    labelling page's own checks of hand-edited files)."""
    return read_csv_checked(
        path,
        MANIFEST_COLUMNS,
        dtype=dtype,
        what="crop manifest",
        fix="run the pipeline up to the crops first (snakemake --cores 2 results/crops/<episode>.manifest.csv)",
    )

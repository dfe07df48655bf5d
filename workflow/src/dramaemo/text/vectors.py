"""The cache of a text encoder that keeps one vector per unique description (MiniLM,
TF-IDF): ``vectors`` (U, D), ``item_id`` and each item's ``item_row`` into the vectors, plus
the encoder's own arrays. Written and read here only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo.core.errors import UserError


def write_vectors(out_npz, out_json, meta: dict, *, vectors, item_id, item_row, **arrays) -> None:
    """The .npz cache and its JSON notes (counts, settings)."""
    Path(out_npz).parent.mkdir(parents=True, exist_ok=True)
    np.savez(out_npz, vectors=vectors, item_id=item_id, item_row=item_row.astype(np.int32), **arrays)
    Path(out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(out_json).write_text(json.dumps(meta, indent=2) + "\n")


def read_vectors(npz_path, item_ids, *, command: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (U, D), row of each of ``item_ids`` into them); errors name the file and
    ``command``, the step that writes it (``what``: one vector, e.g. "MiniLM vector")."""
    try:
        with np.load(npz_path) as data:
            vectors, known, item_row = data["vectors"], data["item_id"].astype(str), data["item_row"]
    except FileNotFoundError:
        raise UserError(f"{npz_path}: no such file; run the {command.replace('-', '_')} rule") from None
    except KeyError as error:
        raise UserError(
            f"{npz_path}: no array {error}; expected vectors, item_id, item_row (rerun {command})"
        ) from None
    row_of = pd.Series(item_row, index=known)
    missing = pd.Index(item_ids).difference(row_of.index)
    if len(missing):
        raise UserError(
            f"{npz_path}: no {what} for item {missing[0]!r} (and {len(missing) - 1} more); rerun {command}"
        )
    return vectors, row_of.loc[list(item_ids)].to_numpy()

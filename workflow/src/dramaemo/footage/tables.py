"""The footage index's files, read and written here only: ``results/index/{episode}.parquet``
(INDEX_COLUMNS, with the video path and the shot table in its metadata),
``results/index/segments.parquet`` (SEGMENT_COLUMNS) and ``results/index/cast.parquet``
(CAST_COLUMNS)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from dramaemo.core.errors import UserError
from dramaemo.footage import CAST_COLUMNS, SEGMENT_COLUMNS

# Keys of the index file's parquet metadata.
VIDEO_KEY, SHOTS_KEY = b"dramaemo.video", b"dramaemo.shots"


def write_index(rows: pd.DataFrame, path, video: str, shots: pd.DataFrame) -> None:
    """Parquet (zstd) with the video path and the shot table in its metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(rows, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[VIDEO_KEY] = str(video).encode()
    metadata[SHOTS_KEY] = shots.to_csv(index=False).encode()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(metadata), path, compression="zstd")


def read_index(path, columns=None) -> pd.DataFrame:
    """One episode's index rows (``columns``: only those, for a job that reads a few)."""
    try:
        return pd.read_parquet(path, columns=columns)
    except FileNotFoundError:
        raise UserError(f"{path}: no such index; run rule index_episode for it") from None


def read_index_metadata(path) -> tuple[str, pd.DataFrame | None]:
    """(video path, shot table) stored in an index file."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except FileNotFoundError:
        raise UserError(f"{path}: no such index; run rule index_episode for it") from None
    shots = metadata.get(SHOTS_KEY)
    return (metadata.get(VIDEO_KEY, b"").decode(), pd.read_csv(io.BytesIO(shots)) if shots else None)


def write_table(table: pd.DataFrame, path) -> None:
    """The segments or the cast table (zstd Parquet)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(path, index=False, compression="zstd")


def _read_checked(path, columns, absent: str, rule: str) -> pd.DataFrame:
    """``path`` with every one of ``columns``; UserError saying ``absent`` or what to rerun."""
    try:
        table = pd.read_parquet(path)
    except FileNotFoundError:
        raise UserError(f"{path}: {absent}") from None
    missing = set(columns) - set(table.columns)
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(sorted(missing))}; rerun rule {rule}")
    return table


def read_segments(path) -> pd.DataFrame:
    return _read_checked(
        path,
        SEGMENT_COLUMNS,
        "no segments table; run the index target (rule index_segments)",
        "index_segments",
    )


def read_cast(path) -> pd.DataFrame:
    return _read_checked(
        path, CAST_COLUMNS, "no cast table; run rule cast (index.characters.activate: true)", "cast"
    )

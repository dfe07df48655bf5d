"""Smoothing of the probabilities along a track, and emotion segments.

Smoothing: a centred moving average of ``window`` seconds over the track's faces
(``scipy.ndimage.uniform_filter1d``, edges repeated), so one odd frame does not flip a
segment; rows still sum to 1. Segments, per track and emotion: the smoothed probability
laid on the track's whole second range (0 where the face was missed), hysteresis
thresholds (``skimage.filters.apply_hysteresis_threshold``: a run starts above ``high``
and continues while above ``low``), gaps of at most ``max_gap`` seconds closed
(``scipy.ndimage.binary_closing``), runs labelled (``scipy.ndimage.label``) and those
shorter than ``min_seconds`` dropped.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pandas as pd
from scipy import ndimage
from skimage.filters import apply_hysteresis_threshold

from dramaemo import EMOTIONS
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.footage import NO_FACE, PROBABILITIES, SEGMENT_COLUMNS, UNKNOWN_CHARACTER
from dramaemo.footage.tables import read_index, read_index_metadata, write_table

log = logging.getLogger(__name__)

# The index columns episode_segments reads (the job reads no others: text, raw scores).
SEGMENT_INDEX_COLUMNS = ["episode", "second", "track", "shot", "faces_on_screen", *PROBABILITIES]


def smooth(probabilities: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` rows (1: unchanged)."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if window <= 1 or len(probabilities) == 0:
        return probabilities.copy()
    return ndimage.uniform_filter1d(probabilities, size=window, axis=0, mode="nearest")


def runs(mask: np.ndarray, *, max_gap: int, min_seconds: int) -> list[tuple[int, int]]:
    """(first, last + 1) positions of the runs of one emotion's per-second mask (its
    hysteresis thresholding, episode_segments), gaps of up to ``max_gap`` closed."""
    mask = np.asarray(mask, dtype=bool)
    if mask.size == 0:
        return []
    if max_gap > 0:
        # padded, so that closing neither grows nor eats the runs at the ends
        padded = np.pad(mask, max_gap + 1)
        closed = ndimage.binary_closing(padded, structure=np.ones(max_gap + 1, dtype=bool))
        mask = closed[max_gap + 1 : max_gap + 1 + len(mask)] | mask
    labels, count = ndimage.label(mask)
    found = []
    for run in ndimage.find_objects(labels):
        first, stop = run[0].start, run[0].stop
        if stop - first >= min_seconds:
            found.append((first, stop))
    return found


def episode_segments(
    index: pd.DataFrame,
    shots: pd.DataFrame | None = None,
    video: str = "",
    *,
    low: float,
    high: float,
    max_gap: int,
    min_seconds: int,
    track_characters: dict | None,
) -> pd.DataFrame:
    """Segments of every track of one episode's index rows (``track_characters``: track
    -> character id from the cast; None: no cast).

    The tracks are laid end to end on one time line, each over its whole second range
    (0 where its face was missed) and apart by ``max_gap`` + 1 zeros, so that one
    ``runs`` call per emotion serves the whole episode and no run joins two tracks.
    """
    faces = index[index["track"] != NO_FACE].sort_values(["track", "second"])
    if faces.empty:
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    track = faces["track"].to_numpy()
    second = faces["second"].to_numpy(dtype=np.int64)
    ids, first_row = np.unique(track, return_index=True)
    first = second[first_row]
    span = np.maximum.reduceat(second, first_row) - first + 1
    offset = np.concatenate([[0], np.cumsum(span + max_gap + 1)[:-1]])
    length = int(offset[-1] + span[-1])
    which = np.searchsorted(ids, track)
    position = offset[which] + second - first[which]
    observed = np.zeros(length, dtype=bool)
    observed[position] = True
    on_screen = np.zeros(length)
    on_screen[position] = faces["faces_on_screen"].to_numpy()
    shot_of = dict(zip(ids, faces["shot"].to_numpy()[first_row]))
    bounds = shots.set_index("shot") if shots is not None else None
    # one list per column, not a dict per segment: a 2-hour episode has ~15,000 segments
    built = {
        name: [] for name in SEGMENT_COLUMNS if name not in ("episode", "video", "character", "characters")
    }
    for emotion, column in zip(EMOTIONS, PROBABILITIES):
        series = np.zeros(length)
        series[position] = faces[column].to_numpy()
        # hysteresis: a run starts above ``high`` and goes on while above ``low``
        mask = apply_hysteresis_threshold(series, low, high)
        for start, stop in runs(mask, max_gap=max_gap, min_seconds=min_seconds):
            number = int(np.searchsorted(offset, start, side="right") - 1)
            seen = observed[start:stop]
            values = series[start:stop][seen]
            shot = int(shot_of[ids[number]])
            begin = int(first[number] + start - offset[number])
            for name, value in (
                ("track", int(ids[number])),
                ("shot", shot),
                ("emotion", emotion),
                ("start", begin),
                ("end", begin + stop - start),
                ("seconds", stop - start),
                ("mean_confidence", float(values.mean())),
                ("min_confidence", float(values.min())),
                ("faces_min", int(on_screen[start:stop][seen].min())),
                ("faces_max", int(on_screen[start:stop][seen].max())),
                ("shot_start", float(bounds.loc[shot, "start"]) if bounds is not None else np.nan),
                ("shot_end", float(bounds.loc[shot, "end"]) if bounds is not None else np.nan),
            ):
                built[name].append(value)
    table = pd.DataFrame(built).assign(episode=faces["episode"].iloc[0], video=video)
    table = table.reindex(columns=SEGMENT_COLUMNS)  # character, characters: with_characters
    table = with_characters(table, faces, track_characters)
    return table.sort_values(["track", "start", "emotion"], kind="stable").reset_index(drop=True)


def with_characters(table: pd.DataFrame, faces: pd.DataFrame, characters: dict | None) -> pd.DataFrame:
    """``table``'s character (its track's, ``characters``: track -> id) and characters
    (every character whose track is on screen in a second of the segment, sorted)."""
    if not characters:
        return table.assign(character=UNKNOWN_CHARACTER, characters="")
    present = faces.assign(character=faces["track"].map(characters).fillna(UNKNOWN_CHARACTER))
    present = present[present["character"] != UNKNOWN_CHARACTER]
    by_second = present.groupby("second")["character"].agg(set).to_dict()
    on_screen = [
        ",".join(sorted(set().union(*(by_second.get(second, set()) for second in range(start, end)))))
        for start, end in zip(table["start"], table["end"])
    ]
    return table.assign(
        character=table["track"].map(characters).fillna(UNKNOWN_CHARACTER).astype(str), characters=on_screen
    )


def _run(args) -> None:
    if not 0 <= args.low <= args.high <= 1:
        raise UserError(f"--low {args.low} and --high {args.high}: need 0 <= low <= high <= 1")
    tables = []
    cast = None
    if args.cast:
        from dramaemo.footage.tables import read_cast

        cast = read_cast(args.cast)
    for path in args.index:
        index = read_index(path, columns=SEGMENT_INDEX_COLUMNS)
        video, shots = read_index_metadata(path)
        episode = index["episode"].iloc[0] if len(index) else None
        own = cast[cast["episode"] == episode] if cast is not None else None
        track_characters = dict(zip(own["track"], own["character"])) if own is not None else None
        table = episode_segments(
            index,
            shots,
            video,
            low=args.low,
            high=args.high,
            max_gap=args.max_gap,
            min_seconds=args.min_seconds,
            track_characters=track_characters,
        )
        log.info(
            "%s: %d segments over %d tracks",
            path,
            len(table),
            index.loc[index["track"] != NO_FACE, "track"].nunique(),
        )
        tables.append(table)
    tables = [table for table in tables if not table.empty]
    segments = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=SEGMENT_COLUMNS)
    write_table(segments, args.output)
    log.info("%d segments written to %s", len(segments), args.output)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "segments",
        help="emotion segments of every track of indexed episodes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--index", nargs="+", required=True, help="results/index/{episode}.parquet files")
    parser.add_argument("--output", required=True, help="segments.parquet")
    parser.add_argument("--cast", help="results/index/cast.parquet: each track's character")
    settings = schema_defaults("index", "segments")  # by hand as in the workflow
    parser.add_argument(
        "--low", type=float, default=settings["low"], help="hysteresis: a run continues above this"
    )
    parser.add_argument(
        "--high", type=float, default=settings["high"], help="hysteresis: a run starts above this"
    )
    parser.add_argument(
        "--max-gap", type=int, default=settings["max_gap"], help="seconds of gap closed inside a run"
    )
    parser.add_argument(
        "--min-seconds", type=int, default=settings["min_seconds"], help="shortest segment kept"
    )
    parser.set_defaults(func=_run)

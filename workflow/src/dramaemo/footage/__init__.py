"""Footage index and search over whole episodes (README "Footage index and search").

A trained model applied to every detected face of every second of any episode,
labelled or not (``index.py``), faces linked into tracks within shots (``shots.py``,
``tracks.py``), per-track emotion segments (``segments.py``), a query over them with
clips and a static gallery (``search.py``, ``clips.py``), and the report's timeline
and summary (``report.py``); the index and segments files are read and written in
``tables.py``. The column lists below are the files' contracts.
"""

from __future__ import annotations

from dramaemo import EMOTIONS

RAW_PROBABILITIES = [f"raw_{emotion}" for emotion in EMOTIONS]  # the model's softmax
PROBABILITIES = [f"prob_{emotion}" for emotion in EMOTIONS]  # moving average along the track
NO_FACE = -1  # face_index and track of a second without any face (its row is kept)

# Where the description of a second came from (README: what each means for accuracy).
TEXT_SOURCES = ("annotation", "subtitle", "none")

# results/index/{episode}.parquet: one row per second and face, faceless seconds too.
INDEX_COLUMNS = [
    "episode",
    "second",
    "pts",
    "shot",
    "track",
    "face_index",
    "x",
    "y",
    "w",
    "h",
    "faces_on_screen",
    *RAW_PROBABILITIES,
    *PROBABILITIES,
    "pred",
    "confidence",
    "model",
    "text_source",
    "text",
    "subtitle_raw",  # the cues with their markup (pysubs2's form); "" unless text_source is subtitle
]
# results/index/segments.parquet: one row per run of one emotion along one track.
SEGMENT_COLUMNS = [
    "episode",
    "track",
    "shot",
    "emotion",
    "start",
    "end",
    "seconds",
    "mean_confidence",
    "min_confidence",
    "faces_min",
    "faces_max",
    "shot_start",
    "shot_end",
    "video",
    "character",  # the track's character (cast.parquet), UNKNOWN_CHARACTER when none
    "characters",  # every character on screen during the segment, its own included: "C01,C03"
]
UNKNOWN_CHARACTER = ""  # a track of no character: not described, or too far from every one
# results/index/cast.parquet: one row per track of every indexed episode (footage.cast).
CAST_COLUMNS = [
    "episode",
    "track",
    "character",
    "distance",  # from its character's centre
    "seconds_on_screen",
    "chosen",  # faces chosen to describe it
    "described",  # of which described (the others refused: too small, turned away)
    "refused",
]

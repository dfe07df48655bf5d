"""``search``: emotion segments matching a query, ranked, optionally cut into clips.

A query names one or more emotions and optionally a minimum length (seconds), a minimum
mean confidence, how many faces are on screen throughout the segment, and episodes. It
reads results/index/segments.parquet with pandas: over a synthesised index of 20
one-hour episodes (13,460 segments) a query took 12.9 ms with pandas and 47.0 ms with the
same SQL in DuckDB 2.0.1 (BENCHMARKS.md "Footage index and search"), so DuckDB would add a
25 MB dependency and time. Hits are ranked by mean confidence, then length.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.core import paths
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.footage import SEGMENT_COLUMNS, UNKNOWN_CHARACTER
from dramaemo.footage.tables import read_segments

log = logging.getLogger(__name__)

HIT_COLUMNS = ["rank", *SEGMENT_COLUMNS, "name"]  # name: the character's, "" when unnamed


def check_query(
    indexed: set[str],
    *,
    emotions,
    min_seconds,
    min_confidence,
    min_faces,
    max_faces,
    episodes,
    limit,
    characters,
    character_names: dict[str, str],
    cast_ids,
) -> dict:
    """The query (config index.query's keys, padding aside) with emotions spelled as
    EMOTIONS; UserError for a bad one (``indexed``: the episodes that have an index)."""
    by_lower = {emotion.lower(): emotion for emotion in EMOTIONS}
    if not emotions:
        raise UserError(f"no emotion given; use --emotion with one of {', '.join(EMOTIONS)}")
    unknown = [e for e in emotions if e.lower() not in by_lower]
    if unknown:
        raise UserError(f"unknown emotion {unknown[0]!r}; use one of {', '.join(EMOTIONS)}")
    if min_seconds < 0:
        raise UserError(f"--min-seconds {min_seconds}: must be 0 or more")
    if not 0 <= min_confidence <= 1:
        raise UserError(f"--min-confidence {min_confidence}: must be between 0 and 1")
    for name, value in (("--min-faces", min_faces), ("--max-faces", max_faces)):
        if value is not None and value < 1:
            raise UserError(f"{name} {value}: must be 1 or more")
    if min_faces and max_faces and min_faces > max_faces:
        raise UserError(f"--min-faces {min_faces} is above --max-faces {max_faces}")
    if limit is not None and limit < 1:
        raise UserError(f"--limit {limit}: must be 1 or more")
    missing = [e for e in episodes if e not in indexed]
    if missing:
        raise UserError(
            f"episode {missing[0]!r} was never indexed (indexed: {', '.join(sorted(indexed)) or 'none'}); "
            "add it to index.episodes and run the index target"
        )
    return {
        "emotions": [by_lower[e.lower()] for e in emotions],
        "characters": character_query(characters, character_names, cast_ids),
        "character_names": dict(character_names),
        "min_seconds": min_seconds,
        "min_confidence": min_confidence,
        "min_faces": min_faces,
        "max_faces": max_faces,
        "episodes": list(episodes),
        "limit": limit,
    }


def character_query(wanted, names: dict[str, str], cast_ids) -> list[str]:
    """The cast ids of ``wanted`` (names or ids, any case); UserError listing the known
    ones for an unknown one (``cast_ids``: the cast's ids, None: no cast built)."""
    if not wanted:
        return []
    if cast_ids is None:
        raise UserError(
            "--character needs the cast: set index.characters.activate: true and run the index target"
        )
    by_key = {character.casefold(): character for character in cast_ids}
    by_key |= {name.casefold(): character for character, name in names.items()}
    found = []
    for text in wanted:
        if text.strip().casefold() not in by_key:
            known = [f"{names[c]} ({c})" if c in names else c for c in sorted(cast_ids)]
            raise UserError(f"unknown character {text!r}; known: {', '.join(known) or 'none'}")
        found.append(by_key[text.strip().casefold()])
    return list(dict.fromkeys(found))


def indexed_episodes(index_dir) -> set[str]:
    """Episodes with an index file in ``index_dir``."""
    return {path.stem for path in Path(index_dir).glob("*.parquet") if path.stem not in paths.INDEX_FILES}


def search(
    segments: pd.DataFrame,
    *,
    emotions,
    min_seconds,
    min_confidence,
    min_faces,
    max_faces,
    episodes,
    limit,
    characters,
    character_names: dict[str, str],
) -> pd.DataFrame:
    """Segments matching the query (check_query's), best first, with a rank column.
    ``characters``: the segment's face is one of them and all are on screen with it."""
    keep = segments["emotion"].isin(emotions)
    if characters:
        wanted = set(characters)
        keep &= segments["character"].isin(wanted)
        keep &= segments["characters"].map(lambda on_screen: wanted <= set(on_screen.split(",")))
    keep &= segments["seconds"] >= min_seconds
    keep &= segments["mean_confidence"] >= min_confidence
    if min_faces is not None:
        keep &= segments["faces_min"] >= min_faces
    if max_faces is not None:
        keep &= segments["faces_max"] <= max_faces
    if episodes:
        keep &= segments["episode"].isin(episodes)
    hits = segments[keep].sort_values(
        ["mean_confidence", "seconds", "episode", "start"],
        ascending=[False, False, True, True],
        kind="stable",
    )
    if limit is not None:
        hits = hits.head(limit)
    hits = hits.reset_index(drop=True)
    hits.insert(0, "rank", range(1, len(hits) + 1))
    hits["name"] = [character_names.get(character, "") for character in hits["character"]]
    return hits[HIT_COLUMNS]


def format_hits(hits: pd.DataFrame) -> str:
    if hits.empty:
        return "no segment matches the query"
    shown = hits[
        [
            "rank",
            "episode",
            "track",
            "character",
            "name",
            "emotion",
            "start",
            "end",
            "seconds",
            "mean_confidence",
            "min_confidence",
            "faces_min",
            "faces_max",
        ]
    ]
    if not (hits["character"].astype(str) != UNKNOWN_CHARACTER).any():  # no cast: no columns for it
        shown = shown.drop(columns=["character", "name"])
    return shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def cast_and_names(index_dir, names_file):
    """(the cast's tracks that have a character, None without a cast; id -> name from
    ``names_file``), the cast read once."""
    cast_path = Path(index_dir) / Path(paths.CAST).name
    if not cast_path.is_file():
        if names_file:
            raise UserError(f"{names_file}: names given but {cast_path} does not exist; run the index target")
        return None, {}
    from dramaemo.footage.cast import read_names
    from dramaemo.footage.tables import read_cast

    cast = read_cast(cast_path)
    cast = cast[cast["character"] != UNKNOWN_CHARACTER]
    return cast, (read_names(names_file, sorted(set(cast["character"]))) if names_file else {})


def named_tracks(index_dir, names_file) -> dict[tuple[str, int], str] | None:
    """(episode, track) -> its character's name (the names file's, else the id), for every
    track with a character; None without a cast (what the timelines and stories show)."""
    cast, names = cast_and_names(index_dir, names_file)
    if cast is None:
        return None
    return {
        (episode, int(track)): names.get(character, character)
        for episode, track, character in zip(cast["episode"], cast["track"], cast["character"])
    }


def _run(args) -> None:
    cast, character_names = cast_and_names(args.index_dir, args.names)
    cast_ids = None if cast is None else sorted(set(cast["character"]))
    query = check_query(
        indexed_episodes(args.index_dir),
        emotions=args.emotion,
        min_seconds=args.min_seconds,
        min_confidence=args.min_confidence,
        min_faces=args.faces if args.faces is not None else args.min_faces,
        max_faces=args.faces if args.faces is not None else args.max_faces,
        episodes=args.episode or [],
        limit=args.limit,
        characters=args.character or [],
        character_names=character_names,
        cast_ids=cast_ids,
    )
    segments = read_segments(Path(args.index_dir) / Path(paths.SEGMENTS).name)
    hits = search(segments, **query)
    print(format_hits(hits))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        hits.to_csv(args.output, index=False)
    if args.clips:
        from dramaemo.footage.clips import write_gallery

        write_gallery(hits, args.clips, padding=args.padding, query=query)


def limit_of(text: str) -> int | None:
    """--limit: a number of hits, or "all" (config index.query.limit null)."""
    return None if text == "all" else int(text)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "search",
        help="find emotion segments in indexed episodes (+ clips)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--emotion",
        action="append",
        required=True,
        help=f"one of {', '.join(EMOTIONS)} (any case); repeat for several",
    )
    query = schema_defaults("index", "query")  # by hand as in the workflow
    parser.add_argument("--min-seconds", type=float, default=query["min_seconds"], help="shortest segment")
    parser.add_argument(
        "--min-confidence", type=float, default=query["min_confidence"], help="lowest mean probability"
    )
    parser.add_argument("--faces", type=int, help="exactly this many faces on screen throughout")
    parser.add_argument("--min-faces", type=int, help="at least this many faces on screen throughout")
    parser.add_argument("--max-faces", type=int, help="at most this many faces on screen throughout")
    parser.add_argument("--episode", action="append", help="only this episode; repeat for several")
    parser.add_argument(
        "--character",
        action="append",
        help="a character's name or id (any case): its face shows the emotion; repeat: all on screen together",
    )
    parser.add_argument("--names", help="names file (CSV character,name) of the cast")
    parser.add_argument(
        "--limit", type=limit_of, default=query["limit"], help="keep the best N hits; all: every hit"
    )
    parser.add_argument("--index-dir", default=paths.INDEX_DIR, help="folder of the index files")
    parser.add_argument("--output", help="CSV of the hits")
    parser.add_argument("--clips", help="folder for the clips, posters and index.html")
    parser.add_argument(
        "--padding", type=float, default=query["padding"], help="seconds added on each side (within the shot)"
    )
    parser.set_defaults(func=_run)

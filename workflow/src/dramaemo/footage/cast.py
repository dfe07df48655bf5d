"""Characters in the index: who each track is, over every indexed episode.

``describe-tracks`` (one job per episode): the identity descriptor (faces.identity) of
each track's ``faces_per_track`` largest faces, read from the very frames the episode was
indexed from (no second decode), averaged over the faces that could be described; a
track none of whose faces could be (too small, turned away) keeps NaN and why.
``cast`` (all episodes): the tracks grouped into characters (footage.characters, with the
separating distance read off the tracks on screen together across the episodes), written
as ``results/index/cast.parquet`` (CAST_COLUMNS: one row per track) and ``cast.json``:
how the threshold was chosen, and per character its tracks, seconds on screen and
representative faces (the largest faces of the tracks nearest its centre), which the cast
page shows. Character ids are ``C01``, ``C02``... in order of first appearance; a track of
no character has ``UNKNOWN_CHARACTER``.

Names are given apart, in a names file (``read_names``: ``character,name``), read by what
shows names (search, the report, the storyboard), so renaming reruns only those.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.faces.detection import frame_files
from dramaemo.faces.identity import SHARP_FACE_SIDE, IdentityModel
from dramaemo.faces.identity_network import DESCRIPTOR_SIZE
from dramaemo.footage import CAST_COLUMNS, NO_FACE, UNKNOWN_CHARACTER
from dramaemo.footage.characters import UNKNOWN, cannot_link, cluster_tracks, continuing
from dramaemo.footage.tables import read_index, write_table

log = logging.getLogger(__name__)

BOX = ["x", "y", "w", "h"]
DESCRIPTOR_COLUMNS = [f"d{i:03d}" for i in range(DESCRIPTOR_SIZE)]
# side: the smallest side of the track's largest face (pixels)
TRACK_COLUMNS = ["episode", "track", "chosen", "described", "refused", "side", *DESCRIPTOR_COLUMNS]
REPRESENTATIVE_FACES = 6  # faces shown per character on the cast page
CAST_INDEX_COLUMNS = ["episode", "second", "track", *BOX]  # what rule cast reads of each index


def face_side(rows: pd.DataFrame):
    """Each face's smaller box side (pixels): a track's largest one says whether its
    descriptor is sharp (faces.identity.SHARP_FACE_SIDE)."""
    return np.minimum(rows["w"], rows["h"])


def chosen_faces(index: pd.DataFrame, faces_per_track: int) -> pd.DataFrame:
    """The ``faces_per_track`` largest faces of each track of one episode's index rows
    (ties: the earlier second), the faces whose descriptors stand for the track."""
    faces = index[index["track"] != NO_FACE].assign(area=lambda t: t["w"] * t["h"])
    faces = faces.sort_values(["track", "area", "second"], ascending=[True, False, True], kind="stable")
    return faces.groupby("track", sort=True).head(faces_per_track)


FRAMES_PER_TASK = 8  # frames a worker reads, aligns and describes at once (about a batch of chips)
_model: IdentityModel | None = None


def _load(model_dir) -> None:
    global _model
    _model = IdentityModel(model_dir)


def _describe_frames(jobs):
    """(row positions, descriptors with NaN rows, reasons) of some frames' boxes, by the
    worker's model: their chips described in one batch."""
    import cv2

    chips, reasons = [], []
    for path, _, boxes in jobs:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise UserError(f"{path}: not a readable image; rerun extract_frames for its episode")
        found, why = _model.aligner.align(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), boxes)
        chips.append(found)
        reasons.extend(why)
    positions = np.concatenate([positions for _, positions, _ in jobs])
    return positions, _model.describe_aligned(np.concatenate(chips), reasons), reasons


def describe_tracks(index: pd.DataFrame, frames_dir, model_dir, *, faces_per_track: int, threads: int = 1):
    """One row per track of ``index`` (TRACK_COLUMNS): how many faces were chosen and
    described, why the others were refused, and the mean descriptor (NaN: none).

    ``threads`` worker processes, each with its own model on one thread, read the frames,
    align the faces and describe them, a few frames at a time: a descriptor does not depend
    on the thread count, and this process holds only the descriptors."""
    chosen = chosen_faces(index, faces_per_track).reset_index(drop=True)
    frames = dict(frame_files(frames_dir))
    jobs = []
    for second, rows in chosen.groupby("second", sort=True):
        if int(second) not in frames:
            raise UserError(
                f"{frames_dir}: no frame {int(second):06d}.jpg for second {int(second)} of the index; "
                "rerun extract_frames (frames.keep: true keeps them)"
            )
        jobs.append((frames[int(second)], rows.index.to_numpy(), rows[BOX].to_numpy()))
    tasks = [jobs[start : start + FRAMES_PER_TASK] for start in range(0, len(jobs), FRAMES_PER_TASK)]
    vectors = np.full((len(chosen), DESCRIPTOR_SIZE), np.nan)
    reasons = [""] * len(chosen)
    progress = tqdm(total=len(chosen), desc="identity", unit=" faces", mininterval=5)
    # spawn: a worker must not inherit a parent's threads (TensorFlow's, in the tests)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=max(1, threads), mp_context=context, initializer=_load, initargs=(str(model_dir),)
    ) as pool:
        for positions, found, why in pool.map(_describe_frames, tasks):
            vectors[positions] = found
            for position, reason in zip(positions, why):
                reasons[position] = reason
            progress.update(len(positions))
    progress.close()
    chosen["refused"] = reasons
    rows = []
    for track, members in chosen.groupby("track", sort=True):
        own = vectors[members.index]
        usable = ~np.isnan(own).any(axis=1)
        refused = sorted({reason for reason in members["refused"] if reason})
        rows.append(
            [
                index["episode"].iloc[0],
                int(track),
                len(members),
                int(usable.sum()),
                "; ".join(refused),
                int(face_side(members).max()),
                *(own[usable].mean(axis=0) if usable.any() else np.full(DESCRIPTOR_SIZE, np.nan)),
            ]
        )
    return pd.DataFrame(rows, columns=TRACK_COLUMNS)


CHARACTER_ID = re.compile(r"C(\d{2,})")


def label_of(character: str) -> int:
    """cluster_tracks' number of a character id (C01 -> 0)."""
    return int(CHARACTER_ID.fullmatch(character).group(1)) - 1


def read_edits(path) -> dict:
    """The cast page's decisions (labelling.cast): ``characters``, id -> its member tracks
    as [episode, track] (kept over reclusterings and new episodes, merges applied) and
    ``split``, the tracks split off. UserError naming what is wrong."""
    try:
        edits = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such cast edits file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not JSON ({error}); it is written by `dramaemo cast-page`") from None
    if not isinstance(edits, dict) or set(edits) != {"characters", "split"}:
        raise UserError(f"{path}: expected an object with keys characters and split")

    def track(item, where):
        if not (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], int)
        ):
            raise UserError(f"{path}: {where}: {item!r} is not an [episode, track] pair")
        return item[0], item[1]

    characters = {}
    for character, members in edits["characters"].items():
        if not CHARACTER_ID.fullmatch(character):
            raise UserError(f"{path}: characters: {character!r} is not a character id (C01, C02, ...)")
        characters[character] = [track(item, f"characters.{character}") for item in members]
    return {"characters": characters, "split": [track(item, "split") for item in edits["split"]]}


def character_ids(labels: np.ndarray) -> list[str]:
    """C01, C02... of cluster_tracks' 0, 1... (UNKNOWN: UNKNOWN_CHARACTER)."""
    width = max(2, len(str(int(labels.max()) + 1))) if len(labels) and labels.max() >= 0 else 2
    return [UNKNOWN_CHARACTER if label == UNKNOWN else f"C{label + 1:0{width}d}" for label in labels]


def build_cast(
    indexes: list[pd.DataFrame], tracks: list[pd.DataFrame], edits: dict | None
) -> tuple[pd.DataFrame, dict]:
    """(cast table, record) from every episode's index rows and described tracks, and
    the cast page's ``edits`` (read_edits; None: none): its characters keep their ids and
    members, its split tracks stay unknown."""
    described = pd.concat(tracks, ignore_index=True) if tracks else pd.DataFrame(columns=TRACK_COLUMNS)
    # the descriptors once, as an array; the table that is merged and sorted holds their row
    vectors = described[DESCRIPTOR_COLUMNS].to_numpy(dtype=float)
    described = described.drop(columns=DESCRIPTOR_COLUMNS).assign(row=np.arange(len(described)))
    faces = pd.concat(indexes, ignore_index=True)
    faces = faces[faces["track"] != NO_FACE]
    by_track = faces.sort_values("second", kind="stable").groupby(["episode", "track"])
    seconds = by_track["second"].agg(list).rename("seconds").reset_index()
    ends = pd.DataFrame(
        {
            "first_second": by_track["second"].first(),
            "last_second": by_track["second"].last(),
            "first_box": pd.Series(list(by_track[BOX].first().to_numpy()), index=by_track.size().index),
            "last_box": pd.Series(list(by_track[BOX].last().to_numpy()), index=by_track.size().index),
        }
    ).reset_index()
    table = described.merge(seconds, on=["episode", "track"], how="left", validate="one_to_one")
    table = table.merge(ends, on=["episode", "track"], how="left", validate="one_to_one")
    missing = table["seconds"].isna()
    if missing.any():
        first = table[missing].iloc[0]
        raise UserError(
            f"track {int(first['track'])} of {first['episode']} was described but is not in its index; "
            "rerun rule describe_tracks for it"
        )
    table = table.sort_values(["episode", "track"], kind="stable").reset_index(drop=True)
    descriptors = vectors[table["row"].to_numpy()]
    del vectors
    row_of = {key: row for row, key in enumerate(zip(table["episode"], table["track"]))}
    fixed, excluded, gone = {}, set(), 0
    if edits:
        excluded = {row_of[key] for key in edits["split"] if key in row_of}
        for character, members in edits["characters"].items():
            rows = {row_of[key] for key in members if key in row_of} - excluded
            gone += sum(key not in row_of for key in members)
            if rows:
                fixed[label_of(character)] = rows
    labels, record = cluster_tracks(
        descriptors,
        cannot_link(table),
        sharp=table["side"].to_numpy() >= SHARP_FACE_SIDE,
        fixed=fixed,
        excluded=excluded,
        sides=table["side"].to_numpy(),
        continues=continuing(table),
    )
    if edits:
        record["edits"] = {"characters": len(fixed), "split": len(excluded), "tracks no longer indexed": gone}
    table["character"] = character_ids(labels)
    table["seconds_on_screen"] = table["seconds"].map(len)
    centres = {
        character: np.nanmean(descriptors[table["character"].to_numpy() == character], axis=0)
        for character in sorted(set(table["character"]) - {UNKNOWN_CHARACTER})
    }
    table["distance"] = [
        float(np.linalg.norm(descriptors[row] - centres[character])) if character in centres else np.nan
        for row, character in enumerate(table["character"])
    ]
    characters = []
    for character in centres:
        members = table[table["character"] == character].sort_values("distance", kind="stable")
        nearest = members.head(REPRESENTATIVE_FACES)
        faces_of = faces.merge(nearest[["episode", "track"]], on=["episode", "track"])
        faces_of = faces_of.assign(area=faces_of["w"] * faces_of["h"]).sort_values("area", ascending=False)
        faces_of = faces_of.groupby(["episode", "track"], sort=False).head(1).head(REPRESENTATIVE_FACES)
        characters.append(
            {
                "character": character,
                "tracks": len(members),
                "episodes": sorted(members["episode"].unique().tolist()),
                "seconds_on_screen": int(members["seconds_on_screen"].sum()),
                "faces": faces_of[["episode", "second", *BOX]].astype({"second": int}).to_dict("records"),
            }
        )
    record["characters_table"] = characters
    return table[CAST_COLUMNS], record


def read_names(path, characters) -> dict[str, str]:
    """character id -> name from a names file (CSV ``character,name``; ``characters``:
    the cast's ids). UserError naming the row for an unknown id, an empty name, or a name
    (any case) or an id given twice."""
    try:
        names = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UserError(f"{path}: no such names file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not a CSV file of character,name rows ({error})") from None
    if list(names.columns) != ["character", "name"]:
        raise UserError(f"{path}: the header must be character,name (found {','.join(names.columns)})")
    known, seen_id, seen_name = set(characters), {}, {}
    for position, (character, name) in enumerate(zip(names["character"], names["name"])):
        row = position + 2  # the file's line: the header is line 1
        character, name = character.strip(), name.strip()
        if character not in known:
            raise UserError(
                f"{path} row {row}: unknown character {character!r}; the cast has "
                f"{', '.join(sorted(known)) or 'no characters'} (results/index/cast.json)"
            )
        if not name:
            raise UserError(f"{path} row {row}: empty name for {character}; give one or remove the row")
        if character in seen_id:
            raise UserError(f"{path} row {row}: {character} is already named on row {seen_id[character]}")
        if name.casefold() in seen_name:
            raise UserError(
                f"{path} row {row}: the name {name!r} is already {seen_name[name.casefold()][1]}'s "
                f"(row {seen_name[name.casefold()][0]}); two characters cannot share a name (merge them instead)"
            )
        seen_id[character] = row
        seen_name[name.casefold()] = (row, character)
    return {character.strip(): name.strip() for character, name in zip(names["character"], names["name"])}


def _run_describe(args) -> None:
    index = read_index(args.index)
    table = describe_tracks(
        index, args.frames, args.model_dir, faces_per_track=args.faces_per_track, threads=args.threads
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(args.output, index=False)
    log.info(
        "%s: %d tracks, %d with a descriptor (%d faces described)",
        args.index,
        len(table),
        int((table["described"] > 0).sum()),
        int(table["described"].sum()),
    )


def _run_cast(args) -> None:
    if len(args.index) != len(args.tracks):
        raise UserError(f"{len(args.index)} index files but {len(args.tracks)} track files; give one each")
    indexes = [read_index(path, columns=CAST_INDEX_COLUMNS) for path in args.index]
    tracks = []
    for path in args.tracks:
        try:
            tracks.append(pd.read_parquet(path))
        except FileNotFoundError:
            raise UserError(f"{path}: no described tracks; run rule describe_tracks") from None
    cast, record = build_cast(indexes, tracks, read_edits(args.edits) if args.edits else None)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    write_table(cast, args.output)
    Path(args.record).write_text(json.dumps(record, indent=2) + "\n")
    log.info(
        "%d tracks: %d characters, threshold %s (%s)",
        len(cast),
        record["characters"],
        record.get("threshold"),
        record.get("threshold_from"),
    )


def add_parser(subparsers) -> None:
    settings = schema_defaults("index", "characters")  # by hand as in the workflow
    describe = subparsers.add_parser(
        "describe-tracks",
        help="identity descriptors of each track's largest faces (one episode)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    describe.add_argument("--index", required=True, help="results/index/{episode}.parquet")
    describe.add_argument("--frames", required=True, help="the episode's frame folder (extract-frames)")
    describe.add_argument("--model-dir", required=True, help="the identity model's files (fetch-identity)")
    describe.add_argument("--faces-per-track", type=int, default=settings["faces_per_track"])
    describe.add_argument(
        "--threads", type=int, default=1, help="processes aligning faces and threads describing them"
    )
    describe.add_argument("--output", required=True, help="results/identity/{episode}.parquet")
    describe.set_defaults(func=_run_describe)
    cast = subparsers.add_parser(
        "cast",
        help="tracks of every indexed episode grouped into characters",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cast.add_argument("--index", nargs="+", required=True, help="results/index/{episode}.parquet files")
    cast.add_argument("--tracks", nargs="+", required=True, help="their described tracks, in the same order")
    cast.add_argument("--edits", help="the cast page's edits (kept characters, split tracks)")
    cast.add_argument("--output", required=True, help="results/index/cast.parquet")
    cast.add_argument("--record", required=True, help="results/index/cast.json")
    cast.set_defaults(func=_run_cast)

"""``index-episode``: a trained model over every face of every second of one episode.

Inputs are the outputs of the training front half for that episode (frames info, the
face crops and their manifest: the very crops training reads, made by crop_faces), its
shots (detect-shots), a trained model and, for a text model, the GloVe vocabulary it was
trained with. Each second's text comes from the annotation CSV, else the subtitles beside
the video, else none (dramaemo.footage.subtitles); a text model's faces without text go
to the image-only fallback model when one is given. Writes results/index/{episode}.parquet
(columns dramaemo.footage.INDEX_COLUMNS; the video path and the shot table in the file's
metadata) and a JSON of counts and per-stage seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.dataset.manifests import read_manifest
from dramaemo.footage import INDEX_COLUMNS, NO_FACE, PROBABILITIES, RAW_PROBABILITIES
from dramaemo.footage import predict as inference
from dramaemo.footage.segments import smooth
from dramaemo.footage.shots import read_shots, shot_of_times
from dramaemo.footage.subtitles import annotation_texts, face_texts, raw_at, read_cues, text_at
from dramaemo.footage.tables import write_index
from dramaemo.footage.tracks import link_tracks

log = logging.getLogger(__name__)

BOX = ["x", "y", "w", "h"]


class Stages:
    """Wall seconds per named stage, for the log and the JSON (bench/footage.py)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str):
        stages = self

        class Timer:
            def __enter__(self):
                self.started = time.perf_counter()

            def __exit__(self, *exc):
                stages.add(name, time.perf_counter() - self.started)

        return Timer()

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        log.debug("stage %s: %.2f s", name, self.seconds[name])


def read_crops(paths) -> np.ndarray:
    """uint8 (N, S, S) crops read as pack-images reads them for training."""
    from dramaemo.dataset.packing import pack_images

    if len(paths) == 0:
        return np.zeros((0, 1, 1), dtype=np.uint8)
    import cv2

    first = cv2.imread(str(paths[0]), cv2.IMREAD_GRAYSCALE)
    if first is None:
        raise UserError(f"{paths[0]}: crop missing or unreadable; rerun crop_faces")
    return pack_images(pd.DataFrame({"crop_path": list(paths)}), first.shape[0])


def all_rows(manifest: pd.DataFrame, episode: str, seconds: int) -> pd.DataFrame:
    """The manifest's faces plus one row (face_index NO_FACE, no box) per faceless second."""
    faces = manifest.assign(episode=episode)[["episode", "second", "face_index", *BOX, "crop_path"]]
    faceless = sorted(set(range(seconds)) - set(faces["second"].astype(int)))
    empty = pd.DataFrame(
        {
            "episode": episode,
            "second": faceless,
            "face_index": NO_FACE,
            **{column: np.nan for column in BOX},
            "crop_path": "",
        }
    )
    rows = pd.concat([faces.astype({c: float for c in BOX}), empty], ignore_index=True)
    rows = rows.astype({"second": np.int64, "face_index": np.int64})
    return rows.sort_values(["second", "face_index"], kind="stable").reset_index(drop=True)


def index_episode(
    *,
    episode: str,
    info: dict,
    manifest: pd.DataFrame,
    shots: pd.DataFrame,
    model_name: str,
    model_path,
    text_source=None,
    fallback_name: str | None = None,
    fallback_path=None,
    annotations: pd.DataFrame | None = None,
    subtitles=None,
    encoding: str,
    language: str,
    context_seconds: float,
    window: int,
    min_iou: float,
    centre_gate: float,
    max_gap: int,
    batch_size: int,
) -> tuple[pd.DataFrame, dict]:
    """The index rows of one episode and a summary (counts, seconds per stage); the
    settings are config index's (the schema's defaults through the CLI)."""
    from dramaemo.models.builders import load_model

    stages = Stages()
    offset, fps = float(info["offset"]), float(info.get("fps") or 0.0)
    seconds = int(info["frames"])
    with stages("tracks"):
        rows = all_rows(manifest, episode, seconds)
        moments = rows["second"].to_numpy(dtype=float) + offset
        # the frame extract-frames took: nearest to k + offset, the later one on a tie
        rows["pts"] = np.floor(moments * fps + 0.5) / fps if fps > 0 else moments
        rows["shot"] = shot_of_times(shots, moments)
        rows["faces_on_screen"] = rows.groupby("second")["face_index"].transform(
            lambda f: int((f != NO_FACE).sum())
        )
        has_face = rows["face_index"].to_numpy() != NO_FACE
        rows["track"] = NO_FACE
        rows.loc[has_face, "track"] = link_tracks(rows.loc[has_face], min_iou, centre_gate, max_gap)
    with stages("text"):
        subtitle_text, subtitle_raw, used_encoding = {}, {}, None
        if subtitles:
            cues, used_encoding = read_cues(subtitles, encoding=encoding, language=language)
            moments = np.arange(seconds) + offset
            found = text_at(cues, moments, context_seconds)
            subtitle_text = dict(enumerate(found))
            subtitle_raw = dict(enumerate(raw_at(cues, moments, context_seconds)))
            log.info(
                "%s (%s): %d cues, text at %d of %d seconds",
                subtitles,
                used_encoding,
                len(cues),
                sum(map(bool, found)),
                seconds,
            )
        rows["text"], rows["text_source"] = face_texts(
            rows, annotation_texts(annotations, episode), subtitle_text
        )
        # the cues with their markup, beside the cleaned text the model read
        rows["subtitle_raw"] = [
            subtitle_raw.get(second, "") if source == "subtitle" else ""
            for second, source in zip(rows["second"], rows["text_source"])
        ]
    crop_paths = rows.loc[has_face, "crop_path"].to_numpy()

    def predicted(name, model, face_rows, encoder=None):
        """The model's probabilities of the faces ``face_rows`` (of has_face's), read a
        chunk at a time (inference.predict_in_chunks: memory flat with episode length)."""
        paths = crop_paths[face_rows]

        def faces_of(start, stop):
            with stages("crops"):
                return read_crops(paths[start:stop].tolist())

        texts = rows.loc[has_face, "text"].to_numpy()[face_rows].tolist() if encoder else None
        started, reading = time.perf_counter(), stages.seconds.get("crops", 0.0)
        found = inference.predict_in_chunks(
            name, len(paths), faces_of, texts, model=model, batch_size=batch_size, text_encoder=encoder
        )
        stages.add("predict", time.perf_counter() - started - (stages.seconds.get("crops", 0.0) - reading))
        return found

    raw = np.full((len(rows), len(EMOTIONS)), np.nan, dtype=np.float32)
    used = np.full(len(rows), "", dtype=object)
    with stages("load"):
        main = load_model(model_path)
        text_encoder = inference.load_text_encoder(model_name, text_source)
    to_main = has_face.copy()
    if inference.uses_text(model_name) and fallback_path:
        to_fallback = has_face & (rows["text_source"].to_numpy() == "none")
        to_main &= ~to_fallback
        if inference.uses_text(fallback_name):
            raise UserError(f"index fallback model {fallback_name} needs text too; use an image-only model")
        if to_fallback.any():
            with stages("load"):
                fallback = load_model(fallback_path)
            raw[to_fallback] = predicted(fallback_name, fallback, to_fallback[has_face])
            used[to_fallback] = fallback_name
    raw[to_main] = predicted(model_name, main, to_main[has_face], text_encoder)
    used[to_main] = model_name
    with stages("smooth"):
        smoothed = raw.copy()
        for _, positions in rows[has_face].groupby("track").indices.items():
            members = np.flatnonzero(has_face)[positions]
            order = members[np.argsort(rows["second"].to_numpy()[members], kind="stable")]
            smoothed[order] = smooth(raw[order], window)
    rows[RAW_PROBABILITIES] = raw
    rows[PROBABILITIES] = smoothed
    best = np.where(has_face, np.nan_to_num(smoothed, nan=-1).argmax(axis=1), 0)
    rows["pred"] = np.where(has_face, np.asarray(EMOTIONS)[best], "")
    rows["confidence"] = np.where(has_face, np.nan_to_num(smoothed).max(axis=1), np.nan).astype(np.float32)
    rows["model"] = used
    for column in BOX:
        rows[column] = rows[column].astype("Int32")
    rows = rows[INDEX_COLUMNS]
    faceless = int((~has_face).sum())
    summary = {
        "episode": episode,
        "seconds": seconds,
        "rows": len(rows),
        "faces": int(has_face.sum()),
        "faceless_seconds": faceless,
        "tracks": int(rows.loc[has_face, "track"].nunique()),
        "shots": int(len(shots)),
        "model": model_name,
        "fallback_model": fallback_name if fallback_path else None,
        "text_sources": dict(Counter(rows.loc[has_face, "text_source"])),
        "model_rows": dict(Counter(used[has_face])),
        "subtitles": str(subtitles) if subtitles else None,
        "subtitles_encoding": used_encoding,
        "subtitles_context_seconds": context_seconds if subtitles else None,
        "stage_seconds": {k: round(v, 3) for k, v in stages.seconds.items()},
    }
    log.info("%s: seconds per stage %s", episode, summary["stage_seconds"])
    log.info(
        "%s: %d rows: %d faces in %d tracks, %d seconds without a face (kept as rows); text sources %s",
        episode,
        len(rows),
        summary["faces"],
        summary["tracks"],
        faceless,
        summary["text_sources"],
    )
    return rows, summary


def _read_json(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such frames info; run extract_frames") from None


def _run(args) -> None:
    from threadpoolctl import threadpool_limits

    from dramaemo.dataset.annotations import read_annotations
    from dramaemo.faces.runtime import limit_tensorflow_threads

    limit_tensorflow_threads(args.threads)

    manifest = read_manifest(args.manifest)
    # config `annotations` may list several files (one per annotator): their rows together
    annotations = (
        pd.concat([read_annotations(path) for path in args.annotations], ignore_index=True)
        if args.annotations
        else None
    )
    shots = read_shots(args.shots)
    # MiniLM's numpy forward pass: BLAS threads capped to the job's (they spin otherwise)
    with threadpool_limits(limits=args.threads or None):
        rows, summary = index_episode(
            episode=args.episode,
            info=_read_json(args.info),
            manifest=manifest,
            shots=shots,
            model_name=args.model,
            model_path=args.model_path,
            text_source=args.text_source,
            fallback_name=args.fallback_model,
            fallback_path=args.fallback_path,
            annotations=annotations,
            subtitles=args.subtitles,
            encoding=args.subtitles_encoding,
            language=args.subtitles_language,
            context_seconds=args.subtitles_context_seconds,
            window=args.window,
            min_iou=args.min_iou,
            centre_gate=args.centre_gate,
            max_gap=args.max_gap,
            batch_size=args.batch_size,
        )
    write_index(rows, args.output, args.video, shots)
    Path(args.summary).write_text(json.dumps(summary, indent=2) + "\n")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "index-episode",
        help="emotion of every face of every second of an episode",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--episode", required=True)
    parser.add_argument("--video", required=True, help="the episode video (kept for clips)")
    parser.add_argument("--info", required=True, help="results/frames/{episode}.info.json")
    parser.add_argument("--manifest", required=True, help="results/crops/{episode}.manifest.csv")
    parser.add_argument("--shots", required=True, help="shots CSV (detect-shots)")
    parser.add_argument("--model", required=True, help="registry model name, e.g. baseline, glove, text")
    parser.add_argument("--model-path", required=True, help="model.keras")
    parser.add_argument(
        "--text-source",
        help="what the model's text encoder reads to encode new text: the "
        "prepare-glove .npz it was trained with (GloVe), the checkpoint folder (MiniLM)",
    )
    parser.add_argument("--fallback-model", help="image-only model for faces without text")
    parser.add_argument("--fallback-path", help="its model.keras")
    parser.add_argument("--annotations", nargs="*", help="annotation CSV (descriptions of annotated seconds)")
    parser.add_argument("--subtitles", help="subtitle file of the episode (SRT, ASS/SSA, WebVTT)")
    subtitle_settings = schema_defaults("index", "subtitles")
    parser.add_argument(
        "--subtitles-encoding", default=subtitle_settings["encoding"], help='their encoding; "": detected'
    )
    parser.add_argument(
        "--subtitles-language", default=subtitle_settings["language"], help="their language (legacy encoding)"
    )
    parser.add_argument(
        "--subtitles-context-seconds",
        type=float,
        default=subtitle_settings["context_seconds"],
        help="text of every cue within this many seconds of the second (0: the cue on screen)",
    )
    index_settings, track_settings = schema_defaults("index"), schema_defaults("index", "tracks")
    parser.add_argument(
        "--window",
        type=int,
        default=index_settings["smoothing_seconds"],
        help="moving average along a track, seconds",
    )
    parser.add_argument("--min-iou", type=float, default=track_settings["min_iou"])
    parser.add_argument(
        "--centre-gate", type=float, default=track_settings["centre_gate"], help="in face sides"
    )
    parser.add_argument(
        "--max-gap", type=int, default=track_settings["max_gap"], help="missed seconds a track may bridge"
    )
    parser.add_argument("--batch-size", type=int, default=index_settings["batch_size"])
    parser.add_argument(
        "--threads", type=int, default=0, help="TensorFlow and BLAS CPU threads (0: their choice)"
    )
    parser.add_argument("--output", required=True, help="results/index/{episode}.parquet")
    parser.add_argument("--summary", required=True, help="JSON of counts and stage seconds")
    parser.set_defaults(func=_run)

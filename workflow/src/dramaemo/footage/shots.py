"""Shot cuts of an episode video, and the shot of each sampled second.

Two detectors (``index.shots.method``): ffmpeg's ``scene`` score (``select='gt(scene,T)'``
on a 160 px wide copy; the default) and PySceneDetect's ``AdaptiveDetector``; BENCHMARKS.md
"Footage index and search" compares them (ffmpeg: several times faster, and fewer cuts
where a face appears or leaves without a cut). Both give cut times in seconds; shot ``i`` runs from cut
``i`` (0 for the first) to cut ``i + 1`` (the video's end for the last).
"""

from __future__ import annotations

import logging
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo.core.errors import UserError
from dramaemo.video.frames import SCENE_COLUMNS, ffmpeg_exe, probe_video

log = logging.getLogger(__name__)

SHOT_COLUMNS = ["shot", "start", "end"]
METHODS = ("ffmpeg", "scenedetect")
# AdaptiveDetector's own default ratio; ffmpeg's scene score 0.2 found 3 of the 4 cuts
# AdaptiveDetector finds in a real 10 s live-performance clip, 0.3 none of them.
DEFAULT_THRESHOLD = {"scenedetect": 3.0, "ffmpeg": 0.2}


def cuts_scenedetect(video: str | Path, threshold: float, min_shot_seconds: float) -> list[float]:
    """Cut times (s) by PySceneDetect's AdaptiveDetector (OpenCV decoding, auto-downscaled)."""
    from scenedetect import AdaptiveDetector, SceneManager, open_video

    stream = open_video(str(video))
    manager = SceneManager()
    manager.auto_downscale = True
    min_frames = max(1, round(min_shot_seconds * float(stream.frame_rate)))
    manager.add_detector(AdaptiveDetector(adaptive_threshold=threshold, min_scene_len=min_frames))
    manager.detect_scenes(stream, show_progress=False)
    return [float(start.seconds) for start, _ in manager.get_scene_list()[1:]]


def cuts_ffmpeg(video: str | Path, threshold: float, min_shot_seconds: float) -> list[float]:
    """Cut times (s) where ffmpeg's scene-change score exceeds ``threshold`` (0..1)."""
    command = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-i",
        str(video),
        "-an",
        "-sn",
        # times from the first frame, as extract-frames counts them (a stream may
        # start later than 0: pts_time would be off by its start time)
        "-vf",
        f"setpts=PTS-STARTPTS,scale=160:-2,select='gt(scene,{threshold})',showinfo",
        "-f",
        "null",
        "-",
    ]
    result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    if result.returncode != 0:
        raise UserError(f"{video}: ffmpeg scene detection failed ({result.stderr.strip()[-200:]})")
    moments = [float(match.group(1)) for match in re.finditer(r"pts_time:\s*([0-9.]+)", result.stderr)]
    return kept_cuts(moments, min_shot_seconds)


def kept_cuts(moments, min_shot_seconds: float) -> list[float]:
    """Cut times after 0, each at least ``min_shot_seconds`` after the previous kept one."""
    cuts: list[float] = []
    for moment in moments:
        if moment > 0 and (not cuts or moment - cuts[-1] >= min_shot_seconds):
            cuts.append(moment)
    return cuts


def cuts_from_scores(path: str | Path, threshold: float, min_shot_seconds: float) -> list[float]:
    """cuts_ffmpeg's cuts from the scene scores extract-frames wrote in its own decode
    (video.frames SCENE_COLUMNS): the frames whose score exceeds ``threshold``."""
    try:
        scores = pd.read_csv(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no scene scores; rerun extract_frames for the episode") from None
    if list(scores.columns) != list(SCENE_COLUMNS):
        raise UserError(f"{path}: expected columns {','.join(SCENE_COLUMNS)}; rerun extract_frames")
    return kept_cuts(scores.loc[scores["scene_score"] > threshold, "pts_time"].tolist(), min_shot_seconds)


def detect_shots(
    video: str | Path,
    method: str = "ffmpeg",
    threshold: float | None = None,
    min_shot_seconds: float = 0.5,
    scores: str | Path | None = None,
) -> pd.DataFrame:
    """The shots of ``video``: shot, start, end (seconds). ``scores``: the scene scores of
    extract-frames' decode, so that method ffmpeg decodes nothing again."""
    if method not in METHODS:  # (the rule's default is config index.shots.method)
        raise UserError(f"shot method {method!r}: use one of {', '.join(METHODS)}")
    info = probe_video(video)
    started = time.monotonic()
    if method == "scenedetect":
        cuts = cuts_scenedetect(
            video, DEFAULT_THRESHOLD["scenedetect"] if threshold is None else threshold, min_shot_seconds
        )
    else:
        threshold = DEFAULT_THRESHOLD["ffmpeg"] if threshold is None else threshold
        if scores is None:
            cuts = cuts_ffmpeg(video, threshold, min_shot_seconds)
        else:
            cuts = cuts_from_scores(scores, threshold, min_shot_seconds)
    cuts = [c for c in cuts if 0 < c < info.duration]
    bounds = [0.0, *cuts, info.duration]
    log.info(
        "%s: %d shots (%d cuts, %s) in %.1f s",
        video,
        len(bounds) - 1,
        len(cuts),
        method,
        time.monotonic() - started,
    )
    return pd.DataFrame(
        {"shot": np.arange(len(bounds) - 1), "start": bounds[:-1], "end": bounds[1:]}, columns=SHOT_COLUMNS
    )


def shot_of_times(shots: pd.DataFrame, times) -> np.ndarray:
    """Shot id of each time (s): the last shot starting at or before it."""
    starts = shots["start"].to_numpy(dtype=float)
    index = np.searchsorted(starts, np.asarray(times, dtype=float), side="right") - 1
    return shots["shot"].to_numpy()[np.clip(index, 0, len(starts) - 1)]


def read_shots(path: str | Path) -> pd.DataFrame:
    try:
        shots = pd.read_csv(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no such shot table; run rule detect_shots") from None
    if list(shots.columns) != SHOT_COLUMNS or shots.empty:
        raise UserError(
            f"{path}: expected columns {','.join(SHOT_COLUMNS)} and one row per shot; rerun detect_shots"
        )
    return shots


def _run(args) -> None:
    if args.scores and args.method != "ffmpeg":
        raise UserError(
            f"--scores holds ffmpeg's scene scores; method {args.method} decodes the video itself"
        )
    shots = detect_shots(args.video, args.method, args.threshold, args.min_shot_seconds, args.scores)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    shots.to_csv(args.output, index=False)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("detect-shots", help="shot cuts of an episode video")
    parser.add_argument("--video", required=True)
    parser.add_argument("--output", required=True, help="shots CSV: shot,start,end (seconds)")
    parser.add_argument("--method", choices=METHODS, default="ffmpeg")
    parser.add_argument(
        "--threshold",
        type=float,
        help="ffmpeg scene score (default 0.2) or AdaptiveDetector adaptive_threshold (default 3)",
    )
    parser.add_argument("--min-shot-seconds", type=float, default=0.5, help="shortest shot")
    parser.add_argument("--scores", help="extract-frames' scene scores (method ffmpeg: no second decode)")
    parser.set_defaults(func=_run)

"""Clips of search hits: each segment cut from its video with ffmpeg, a poster JPEG, and a
static ``index.html`` gallery that opens from disk (relative links, no server).

A clip is the segment plus ``padding`` seconds on each side, kept inside the segment's
shot (never across a cut) and the video, on whole frames. It is re-encoded (H.264,
yuv420p, ``+faststart``) from an accurate input seek: a stream copy would start at the
previous keyframe (shared/notes/index-search.md), and yuv420p H.264 with the index at
the front plays in every browser straight away.
"""

from __future__ import annotations

import logging
import math
import subprocess
from pathlib import Path

import pandas as pd

from dramaemo.core.errors import UserError
from dramaemo.video.frames import ffmpeg_exe, probe_video

log = logging.getLogger(__name__)

TEMPLATE = "gallery.html"
POSTER_WIDTH = 320


def located_clip(row, padding: float, probes: dict, where: str):
    """(start, frame count, video info) of ``row``'s clip (footage.search's columns) in its
    video, each video probed once (``probes``: video -> info, filled here); UserError
    naming ``where`` when the video is gone."""
    video = row["video"]
    if not video or not Path(video).is_file():
        raise UserError(f"{where}: video {video!r} not found (run this where the index was made, or reindex)")
    if video not in probes:
        probes[video] = probe_video(video)
    info = probes[video]
    start, frames = clip_bounds(row, padding, info.duration, info.fps)
    return start, frames, info


def clip_bounds(segment, padding: float, duration: float, fps: float) -> tuple[float, int]:
    """(start seconds, frame count) of a segment's clip: padded, clipped to its shot and
    the video, on whole frames."""
    start, end = float(segment["start"]) - padding, float(segment["end"]) + padding
    shot_start, shot_end = segment.get("shot_start"), segment.get("shot_end")
    if shot_start is not None and not math.isnan(shot_start):
        start, end = max(start, float(shot_start)), min(end, float(shot_end))
    start, end = max(start, 0.0), min(end, duration)
    first, stop = math.ceil(start * fps - 1e-6), math.floor(end * fps + 1e-6)
    if stop <= first:
        raise UserError(
            f"segment {segment['episode']} {segment['start']}-{segment['end']} s: empty clip "
            "(outside its shot or the video)"
        )
    return first / fps, stop - first


def cut_clip(video, output, start: float, frames: int, fps: float) -> None:
    """``frames`` frames of ``video`` from ``start`` s, re-encoded for browsers."""
    # A quarter frame early: the seek keeps frames at or after it, so float rounding
    # cannot drop the first wanted frame (the previous one is 3/4 frame earlier).
    seek = max(0.0, start - 0.25 / fps)
    command = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-ss",
        f"{seek:.6f}",
        "-i",
        str(video),
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-frames:v",
        str(frames),
        "-t",
        f"{frames / fps:.6f}",
        "-vf",
        "setpts=PTS-STARTPTS",
        "-af",
        "asetpts=PTS-STARTPTS",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        str(output),
    ]
    _ffmpeg(command, output)


def write_poster(video, output, moment: float) -> None:
    command = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-ss",
        f"{moment:.6f}",
        "-i",
        str(video),
        "-frames:v",
        "1",
        "-vf",
        f"scale={POSTER_WIDTH}:-2",
        "-q:v",
        "3",
        str(output),
    ]
    _ffmpeg(command, output)


def _ffmpeg(command, output) -> None:
    result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    if result.returncode != 0 or not Path(output).is_file():
        raise UserError(f"{output}: ffmpeg failed ({result.stderr.strip()[-300:] or result.returncode})")


def write_gallery(hits: pd.DataFrame, folder, *, padding: float, query: dict | None = None) -> Path:
    """Clips, posters and index.html of ``hits`` in ``folder``; returns index.html's path."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    if padding < 0:
        raise UserError(f"--padding {padding}: must be 0 or more")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    infos, cards = {}, []
    for number, hit in enumerate(hits.to_dict("records"), start=1):
        video = hit["video"]
        start, frames, info = located_clip(hit, padding, infos, f"episode {hit['episode']}")
        name = f"{hit['rank']:03d}_{hit['episode']}_{hit['emotion']}_{hit['start']}-{hit['end']}"
        cut_clip(video, folder / f"{name}.mp4", start, frames, info.fps)
        middle = (max(start, float(hit["start"])) + min(start + frames / info.fps, float(hit["end"]))) / 2
        write_poster(video, folder / f"{name}.jpg", middle)
        cards.append(
            {
                **hit,
                "clip": f"{name}.mp4",
                "poster": f"{name}.jpg",
                "clip_start": start,
                "clip_seconds": frames / info.fps,
            }
        )
        log.info("clip %d/%d: %s (%.2f s from %.2f s)", number, len(hits), name, frames / info.fps, start)
    environment = Environment(
        loader=PackageLoader("dramaemo.footage", "templates"), autoescape=select_autoescape(["html"])
    )
    page = environment.get_template(TEMPLATE).render(cards=cards, query=_describe(query))
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    log.info("%d clips and %s written", len(cards), index)
    return index


def _describe(query: dict | None) -> str:
    if query is None:
        return ""
    parts = [" or ".join(query["emotions"])]
    if query["min_seconds"]:
        parts.append(f">= {query['min_seconds']:g} s")
    if query["min_confidence"]:
        parts.append(f"confidence >= {query['min_confidence']:g}")
    if query["min_faces"] is not None or query["max_faces"] is not None:
        parts.append(f"faces {query['min_faces'] or 1}..{query['max_faces'] or 'any'}")
    if query["episodes"]:
        parts.append("episodes " + ", ".join(query["episodes"]))
    return ", ".join(parts)

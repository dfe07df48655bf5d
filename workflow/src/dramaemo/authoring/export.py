"""Outputs an editor can open: the rough cut, its CSV, timelines and a storyboard page.

``rough_cut.mp4`` is every scene's clip in story order: each clip cut from its episode on
whole frames (footage.clips), scaled and padded to the first clip's frame size and rate
so that ffmpeg's concat demuxer can join them without a second encode, H.264 +
faststart. Audio is kept only when every clip's episode has an audio stream (a silent
gap would otherwise have to be invented). The timeline (OpenTimelineIO) points at the
source episodes, not at the rough cut, so an editor gets the full material around each
pick: written as ``.otio``, CMX 3600 ``.edl`` and FCP 7 ``.xml`` (which Premiere and
DaVinci Resolve import).
"""

from __future__ import annotations

import logging
import math
import subprocess
from pathlib import Path

import pandas as pd

from dramaemo.core.errors import UserError
from dramaemo.footage.clips import POSTER_WIDTH, located_clip, write_poster
from dramaemo.video.frames import ffmpeg_exe, probe_video

log = logging.getLogger(__name__)

TEMPLATE = "storyboard.html"
TIMELINE_FORMATS = {"otio": "otio_json", "edl": "cmx_3600", "xml": "fcp_xml"}
# Frame rates a SMPTE timecode (the EDL's) can count in; other footage rates are written
# at the smallest of these that is a whole multiple of the rate (10 fps: 30), else 30.
SMPTE_RATES = (24, 25, 30, 48, 50, 60, 23.976, 29.97, 59.94)


def _run_ffmpeg(command: list[str], output) -> None:
    result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    if result.returncode != 0 or not Path(output).is_file():
        raise UserError(f"{output}: ffmpeg failed ({result.stderr.strip()[-300:] or result.returncode})")


def has_audio(video) -> bool:
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(video)],
        capture_output=True,
        text=True,
        errors="replace",
    )
    return " Audio: " in result.stderr


def clip_spans(cut: pd.DataFrame) -> list[tuple[int, float, int, float]]:
    """Per scene with footage: (row, start seconds, frame count, fps) on whole frames,
    inside the shot and the video."""
    infos, spans = {}, []
    for row, pick in cut.iterrows():
        if not pick["episode"]:
            continue
        where = f"scene {pick['scene']}: episode {pick['episode']}"
        start, frames, info = located_clip(pick, 0.0, infos, where)
        spans.append((row, start, frames, info.fps))
    return spans


def write_rough_cut(cut: pd.DataFrame, spans, output, work) -> float:
    """Concatenate the scenes' clips into ``output``; its duration in seconds."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    if not spans:
        raise UserError("no scene has footage: nothing to cut (index more episodes, or relax the story)")
    first = probe_video(cut.loc[spans[0][0], "video"])
    width, height, fps = first.width + first.width % 2, first.height + first.height % 2, spans[0][3]
    audio = all(has_audio(cut.loc[row, "video"]) for row, *_ in spans)
    parts = []
    for number, (row, start, frames, source_fps) in enumerate(spans, start=1):
        part = work / f"scene{int(cut.loc[row, 'scene']):03d}.mp4"
        seconds = frames / source_fps
        out_frames = max(1, round(seconds * fps))
        seek = max(0.0, start - 0.25 / source_fps)  # see footage.clips.cut_clip
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        command += ["-ss", f"{seek:.6f}", "-i", str(cut.loc[row, "video"]), "-map", "0:v:0"]
        command += ["-frames:v", str(out_frames), "-t", f"{out_frames / fps:.6f}"]
        command += [
            "-vf",
            f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fps:g},setpts=PTS-STARTPTS",
        ]
        if audio:
            command += ["-map", "0:a:0", "-af", "asetpts=PTS-STARTPTS,aresample=48000", "-ac", "2"]
            command += ["-c:a", "aac"]
        command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
        command += ["-video_track_timescale", "90000", str(part)]
        _run_ffmpeg(command, part)
        parts.append(part)
        log.info(
            "rough cut: clip %d/%d (scene %s, %.2f s)", number, len(spans), cut.loc[row, "scene"], seconds
        )
    listing = work / "concat.txt"
    listing.write_text("".join(f"file '{part.resolve()}'\n" for part in parts))
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "concat"]
    command += ["-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", "+faststart", str(output)]
    _run_ffmpeg(command, output)
    return probe_video(output).duration


def timecode_rate(fps: float) -> float:
    """The rate the EDL counts ``fps`` footage in (SMPTE_RATES)."""
    if any(abs(fps - rate) < 1e-3 for rate in SMPTE_RATES):
        return fps
    multiples = [rate for rate in SMPTE_RATES if float(rate).is_integer() and (rate / fps).is_integer()]
    return min(multiples) if multiples else 30


def timeline(cut: pd.DataFrame, spans, name: str, rate: float | None = None):
    """An OpenTimelineIO timeline: one video track, each scene's clip from its episode,
    counted in frames of each episode (or of ``rate``, for formats that need one)."""
    import opentimelineio as otio

    track = otio.schema.Track(name="story", kind=otio.schema.TrackKind.Video)
    references = {}
    for row, start, frames, source_fps in spans:
        fps = rate or source_fps
        frames = round(frames / source_fps * fps)
        pick = cut.loc[row]
        video = str(Path(pick["video"]).resolve())
        if video not in references:
            duration = probe_video(video).duration
            references[video] = otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, fps),
                otio.opentime.RationalTime(math.floor(duration * fps), fps),
            )
        clip = otio.schema.Clip(
            name=f"scene {pick['scene']}: {pick['episode']} {pick['emotion']}",
            media_reference=otio.schema.ExternalReference(
                target_url=Path(video).as_uri(), available_range=references[video]
            ),
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(round(start * fps), fps), otio.opentime.RationalTime(frames, fps)
            ),
        )
        clip.metadata["dramaemo"] = {
            "scene": int(pick["scene"]),
            "status": pick["status"],
            "fit": float(pick["fit"]),
            "why": pick["why"],
        }
        track.append(clip)
    result = otio.schema.Timeline(name=name)
    result.tracks.append(track)
    return result


def write_timelines(cut: pd.DataFrame, spans, name: str, stem) -> list[Path]:
    """``stem``.otio, .edl and .xml of the cut; the files written. The EDL counts in a
    SMPTE rate (timecode_rate of the first clip's), as does the XML; the .otio counts in
    the episodes' own."""
    import opentimelineio as otio

    written = []
    for suffix, adapter in TIMELINE_FORMATS.items():
        rate = timecode_rate(spans[0][3]) if suffix != "otio" else None
        path = Path(f"{stem}.{suffix}")
        otio.adapters.write_to_file(timeline(cut, spans, name, rate), str(path), adapter_name=adapter)
        written.append(path)
    return written


def storyboard_cards(options: pd.DataFrame, scene: int, source_of) -> list[dict]:
    """The candidates of ``scene`` as the storyboard shows them; ``source_of(video)``:
    the URL its player reads the episode from."""
    rows = options[options["scene"] == scene].to_dict("records") if len(options) else []
    return [
        option
        | {"poster": f"posters/{poster_name(scene, option['rank'])}", "source": source_of(option["video"])}
        for option in rows
    ]


def poster_name(scene: int, rank: int) -> str:
    return f"scene{int(scene):03d}_{int(rank)}.jpg"


def storyboard_page(cut, options, parse, title: str, source_of, served: bool = False) -> str:
    """storyboard.html's text; ``served``: with the keyboard and the pick buttons of
    ``dramaemo author --serve`` (authoring.serve)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    scenes = [
        {
            "parse": scene,
            "cards": storyboard_cards(options, scene["scene"], source_of),
            "pick": cut[cut["scene"] == scene["scene"]].iloc[0].to_dict(),
        }
        for scene in parse.to_dict("records")
    ]
    environment = Environment(
        loader=PackageLoader("dramaemo.authoring", "templates"), autoescape=select_autoescape(["html"])
    )
    return environment.get_template(TEMPLATE).render(
        scenes=scenes, title=title, poster_width=POSTER_WIDTH, served=served
    )


def write_storyboard(
    cut: pd.DataFrame, options: pd.DataFrame, parse: pd.DataFrame, folder, title: str
) -> Path:
    """storyboard.html: each scene's text and parse beside its top candidates (posters,
    playable on click: each plays its span of the source episode), the pick highlighted.
    Posters already in ``folder``/posters are kept (a re-export after a pick)."""
    folder = Path(folder)
    posters = folder / "posters"
    posters.mkdir(parents=True, exist_ok=True)
    for option in options.to_dict("records") if len(options) else []:
        poster = posters / poster_name(option["scene"], option["rank"])
        if not poster.is_file():
            write_poster(option["video"], poster, (float(option["start"]) + float(option["end"])) / 2)
    page = folder / "storyboard.html"
    page.write_text(
        storyboard_page(cut, options, parse, title, lambda video: Path(video).resolve().as_uri()),
        encoding="utf-8",
    )
    return page

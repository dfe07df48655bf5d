"""Episode videos: find ffmpeg, probe a video, extract one frame per second.

Second ``k`` of an episode is represented by the frame nearest to ``k + offset`` seconds
(``frames.offset`` in the config, 0.5 = the middle of the second). The frames are written
as ``{second:06d}.jpg`` starting at second 0, by ffmpeg through ffmpeg-python: an input
seek to ``offset`` followed by the ``fps=1`` filter, so the video is decoded once, with
ffmpeg's own threads, and only one frame per second is encoded.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from dramaemo.core.config import filled, schema_defaults
from dramaemo.core.errors import UserError

log = logging.getLogger(__name__)

FRAME_PATTERN = "%06d.jpg"  # {second:06d}.jpg, the contract with detect_faces
PROGRESS_SECONDS = 10  # between two progress lines of a long extraction
# ffmpeg messages that mean the video data is damaged, even when ffmpeg exits with 0.
DAMAGE_MARKERS = (
    "invalid data found",
    "moov atom not found",
    "partial file",
    "error while decoding",
    "invalid nal",
    "corrupt",
    "truncat",
    "error splitting the input",
    "could not find codec parameters",
)


def ffmpeg_exe() -> str:
    """The ffmpeg to run: ``ffmpeg`` from PATH, else the binary shipped by imageio-ffmpeg."""
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    import imageio_ffmpeg  # only needed when no system ffmpeg exists

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class VideoInfo:
    """What the pipeline needs to know about one episode video."""

    path: str
    duration: float  # seconds
    width: int
    height: int
    fps: float

    def expected_frames(self, offset: float) -> int:
        """Number of whole seconds k for which k + offset lies inside the video."""
        if self.duration <= offset:
            return 0
        return math.floor(self.duration - offset - 1e-6) + 1


def probe_video(path: str | Path) -> VideoInfo:
    """Read duration, size and frame rate from ffmpeg's header dump.

    ffprobe is not shipped by imageio-ffmpeg, so this parses ``ffmpeg -i`` instead. Raises
    UserError naming the file for a missing, empty, unreadable or video-less file.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such video file; check episodes_dir in the config")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty (zero-byte) video file; copy the episode again")
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
    )
    header = result.stderr
    lowered = header.lower()
    for marker in DAMAGE_MARKERS:
        if marker in lowered:
            raise UserError(
                f"{path}: corrupt or truncated video ({_last_line(header)}); "
                "re-encode or copy the episode again"
            )
    stream = re.search(r"Stream #\S+.*?: Video: .*?(\d{2,5})x(\d{2,5})", header)
    if stream is None:
        raise UserError(f"{path}: no video stream; is it an audio or subtitle file?")
    duration = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", header)
    if duration is None:
        raise UserError(f"{path}: ffmpeg reports no duration; re-encode the episode")
    hours, minutes, seconds = duration.groups()
    rate = re.search(r"(\d+(?:\.\d+)?) fps", header)
    return VideoInfo(
        path=str(path),
        duration=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        width=int(stream.group(1)),
        height=int(stream.group(2)),
        fps=float(rate.group(1)) if rate else 0.0,
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


# ffmpeg decoder options of frames.fast_decode: no deblocking, no non-reference frames
FAST_DECODE = {"skip_loop_filter": "all", "skip_frame": "noref"}


def extract_frames(
    video: str | Path,
    outdir: str | Path,
    offset: float | None = None,
    jpeg_quality: int | None = None,
    threads: int = 0,
    fast_decode: bool | None = None,
    scene_scores: str | Path | None = None,
) -> VideoInfo:
    """Write one JPEG per second of ``video`` into ``outdir`` as ``{second:06d}.jpg``
    (settings left None: the schema's ``frames`` defaults).

    ``fast_decode``: ffmpeg skips the deblocking filter and the frames no other frame
    references (FAST_DECODE), about a fifth less extraction time; second k's frame may then be a
    neighbour of the nearest one, and pixels differ slightly (BENCHMARKS.md).

    ``scene_scores``: a CSV file (SCENE_COLUMNS) for every decoded frame's scene-change
    score, computed in the same decode (footage.shots reads it: one decode of the episode
    for its frames and its shot cuts).

    Returns the probed VideoInfo. A decode error, or fewer frames than the duration
    promises (a truncated file), raises UserError naming the video.
    """
    import ffmpeg  # here: the video check (dramaemo.video.check) runs in Snakemake's process

    offset, jpeg_quality, fast_decode = filled(
        "frames", offset=offset, jpeg_quality=jpeg_quality, fast_decode=fast_decode
    ).values()
    info = probe_video(video)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for stale in outdir.glob("*.jpg"):  # a rerun must not keep frames of an older video
        stale.unlink()
    # Half a frame later than k + offset: fps (round up) keeps the last frame not later
    # than that, which is the frame nearest to k + offset (an input seek plus fps=1 is
    # off by up to half a second, measured on synthetic numbered frames).
    shift = offset + (0.5 / info.fps if info.fps > 0 else 0.0)
    decoded = ffmpeg.input(str(video), threads=threads, **(FAST_DECODE if fast_decode else {})).video
    if scene_scores is not None:
        split = decoded.filter_multi_output("split")
        decoded, scored = split[0], split[1]
    frames = (
        decoded.filter("setpts", f"PTS-STARTPTS-{shift:.6f}/TB")
        .filter("fps", fps=1, round="up", start_time=0)
        .output(
            str(outdir / FRAME_PATTERN),
            start_number=0,
            **{"q:v": jpeg_quality},
            threads=threads,
            loglevel="error",
            nostats=None,
        )
    )
    outputs = [frames]
    # ffmpeg writes the scores into a plain temporary path (no characters to escape in a filter)
    work = Path(tempfile.mkdtemp(prefix="dramaemo-scenes-")) if scene_scores is not None else None
    if scene_scores is not None:
        # every frame's scene-change score (footage.shots thresholds it), on the same
        # decoded frames: the shot detector's own filters, times from the first frame
        printed = work / "scores.txt"
        outputs.append(
            scored.filter("setpts", "PTS-STARTPTS")
            .filter("scale", 160, -2)
            .filter("select", "gte(scene,0)")
            .filter("metadata", "print", key="lavfi.scene_score", file=str(printed))
            .output("-", format="null")
        )
    stream = (
        ffmpeg.merge_outputs(*outputs)
        # key=value progress blocks on stdout every few seconds, for the log
        .global_args(
            "-hide_banner", "-nostdin", "-progress", "pipe:1", "-stats_period", str(PROGRESS_SECONDS)
        )
        .overwrite_output()
    )
    command = stream.compile(cmd=ffmpeg_exe())
    try:
        _decode(video, command, info, offset, outdir)
        if work is not None:
            times, scores = read_printed_scores(work / "scores.txt")
            write_scene_scores(scene_scores, times, scores)
            log.info("%s: scene scores of %d frames in %s", video, len(times), scene_scores)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    return info


def _decode(video, command: list[str], info: VideoInfo, offset: float, outdir: Path) -> None:
    """Run the extraction's ffmpeg, its progress to the log; UserError for a damaged or
    truncated video."""
    log.info("%s: %s", video, " ".join(command))
    # stderr to a file, not a pipe: a damaged video can print more than a pipe holds
    # while we read the progress on stdout.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        for line in process.stdout:
            if line.startswith("out_time_us=") and line.strip()[12:].isdigit():
                done = int(line.strip()[12:]) / 1e6 + offset
                log.info("%s: %.0f of %.0f s decoded", video, min(done, info.duration), info.duration)
        code = process.wait()
        errors.seek(0)
        messages = errors.read().decode(errors="replace")
    if code != 0:
        raise UserError(f"{video}: ffmpeg could not decode the video ({_last_line(messages)})")
    if any(marker in messages.lower() for marker in DAMAGE_MARKERS):
        raise UserError(
            f"{video}: corrupt or truncated video ({_last_line(messages)}); "
            "re-encode or copy the episode again"
        )
    written = len(list(outdir.glob("*.jpg")))
    expected = info.expected_frames(offset)
    # One frame of slack: ffmpeg's last second may end before k + offset.
    if written < expected - 1:
        raise UserError(
            f"{video}: truncated video: {written} frames decoded, {expected} expected "
            f"from its duration of {info.duration:.1f} s; copy the episode again"
        )
    log.info("%s: %d frames (one per second) in %s", video, written, outdir)


SCENE_COLUMNS = ("pts_time", "scene_score")  # the scores file: every decoded frame's


def read_printed_scores(path: Path) -> tuple[list[float], list[float]]:
    """(times, scores) from ffmpeg's ``metadata=print`` lines: ``frame:N pts:P
    pts_time:T`` then ``lavfi.scene_score=S``."""
    times, scores = [], []
    moment = None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("frame:"):
            found = re.search(r"pts_time:\s*(-?[0-9.]+)", line)
            moment = float(found.group(1)) if found else None
        elif line.startswith("lavfi.scene_score=") and moment is not None:
            times.append(moment)
            scores.append(float(line.split("=", 1)[1]))
    return times, scores


def write_scene_scores(path, times, scores) -> None:
    lines = [",".join(SCENE_COLUMNS)] + [f"{t:.6f},{s:.6f}" for t, s in zip(times, scores)]
    Path(path).write_text("\n".join(lines) + "\n")


def frames_record(info: VideoInfo, outdir: str | Path, offset: float, fast_decode: bool) -> dict:
    """What the join reads about an extracted episode (its ``.info.json``): the probed
    video, the offset and the number of frames written; and how they were decoded."""
    return asdict(info) | {
        "offset": offset,
        "fast_decode": fast_decode,
        "frames": len(list(Path(outdir).glob("*.jpg"))),
    }


def _run_extract(args) -> None:
    info = extract_frames(
        args.video,
        args.outdir,
        args.offset,
        args.jpeg_quality,
        args.threads,
        args.fast_decode,
        scene_scores=args.scene_scores,
    )
    if args.info:
        record = frames_record(info, args.outdir, args.offset, args.fast_decode)
        Path(args.info).write_text(json.dumps(record, indent=2) + "\n")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("extract-frames", help="one JPEG per second of an episode video (ffmpeg)")
    parser.add_argument("--video", required=True, help="episode video file")
    parser.add_argument("--outdir", required=True, help="folder for {second:06d}.jpg")
    parser.add_argument("--info", help="JSON file for the probed size/duration")
    frames = schema_defaults("frames")
    parser.add_argument(
        "--offset",
        type=float,
        default=frames["offset"],
        help="second k is the frame nearest to k + offset seconds",
    )
    parser.add_argument(
        "--jpeg-quality", type=int, default=frames["jpeg_quality"], help="ffmpeg -q:v (2..31)"
    )
    parser.add_argument("--threads", type=int, default=0, help="ffmpeg threads (0: auto)")
    parser.add_argument(
        "--fast-decode",
        action=argparse.BooleanOptionalAction,
        default=frames["fast_decode"],
        help="skip deblocking and non-reference frames (approximate frames)",
    )
    parser.add_argument(
        "--scene-scores", help="CSV of every frame's scene-change score, from the same decode (shot cuts)"
    )
    parser.set_defaults(func=_run_extract)

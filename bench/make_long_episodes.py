"""Build the long episodes the speed benchmarks decode.

Loops ../shared/data/video/short_hamilton_clip.mp4 (a real 10 s, 640x360 recording)
to at least 10 minutes, scaled to 720p and 1080p and re-encoded with libx264 as a
broadcaster would (veryfast preset, CRF 23, 25 fps). Outputs are cached in
../bench-speed, outside the repository: nothing derived from ../shared enters it.

    python bench/make_long_episodes.py [--minutes 10] [--out ../bench-speed]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from dramaemo.video.frames import ffmpeg_exe

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "data" / "video" / "short_hamilton_clip.mp4"
HEIGHTS = {"720p": (1280, 720), "1080p": (1920, 1080)}


def make_long_episode(clip: Path, out: Path, size: tuple[int, int], minutes: float) -> Path:
    """Loop `clip` to `minutes`, scale to `size`; skip when `out` already exists."""
    if out.exists() and out.stat().st_size > 0:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    tmp = out.with_suffix(".partial.mp4")
    command = [
        ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-stream_loop",
        "-1",
        "-i",
        str(clip),
        "-t",
        str(int(minutes * 60)),
        "-an",
        "-vf",
        f"scale={width}:{height},fps=25",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-pix_fmt",
        "yuv420p",
        str(tmp),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    tmp.rename(out)
    print(f"{out}: built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--out", type=Path, default=REPO.parent / "bench-speed"
    )  # never inside the repository
    args = parser.parse_args()
    if not CLIP.exists():
        sys.exit(f"{CLIP}: missing; the benchmarks need ../shared/data beside the repo")
    for name, size in HEIGHTS.items():
        print(make_long_episode(CLIP, args.out / f"loop_{name}.mp4", size, args.minutes))


if __name__ == "__main__":
    main()

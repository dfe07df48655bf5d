"""Small real videos for the front-half tests, encoded by a real ffmpeg (libx264)."""

from __future__ import annotations

from pathlib import Path

import ffmpeg
import numpy as np

from dramaemo.video.frames import ffmpeg_exe


def encode(path: Path, frames, width: int, height: int, fps: int, pix_fmt: str = "rgb24", **output) -> Path:
    """Encode an iterable of uint8 frames (H x W x 3 or H x W for gray) to H.264."""
    process = (
        ffmpeg.input("pipe:", format="rawvideo", pix_fmt=pix_fmt, s=f"{width}x{height}", framerate=fps)
        .output(str(path), vcodec="libx264", pix_fmt="yuv420p", loglevel="error", **output)
        .overwrite_output()
        .run_async(pipe_stdin=True, cmd=ffmpeg_exe())
    )
    for frame in frames:
        process.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
    process.stdin.close()
    assert process.wait() == 0
    return path


def numbered_video(path: Path, fps: int, seconds: int, **output) -> Path:
    """Frame i shows its own number (low and high nibble as two gray halves), lossless
    unless ``output`` (ffmpeg output options) says otherwise."""

    def frames():
        for i in range(fps * seconds):
            frame = np.zeros((64, 64), np.uint8)
            frame[:, :32] = (i % 16) * 16 + 8
            frame[:, 32:] = (i // 16) * 16 + 8
            yield frame

    return encode(path, frames(), 64, 64, fps, pix_fmt="gray", **(output or {"qp": 0}))


def frame_number(image: np.ndarray) -> int:
    """The number drawn by numbered_video into a decoded gray frame."""
    low = int(image[:, 4:28].mean() // 16)
    high = int(image[:, 36:60].mean() // 16)
    return low + 16 * high


def blank_video(path: Path, seconds: int = 5, width: int = 160, height: int = 120, fps: int = 5) -> Path:
    """A video of a plain gradient background: no face anywhere."""
    ramp = np.linspace(40, 200, height, dtype=np.float32)[:, None, None]
    frame = np.broadcast_to(ramp, (height, width, 3)).astype(np.uint8)
    return encode(path, (frame for _ in range(seconds * fps)), width, height, fps)

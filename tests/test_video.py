"""extract_frames: real ffmpeg on real encoded video, and the bad videos it must name."""

from __future__ import annotations

import json
import logging
import re
import subprocess
from pathlib import Path

import cv2
import pytest
from front_helpers import blank_video, frame_number, numbered_video

from dramaemo import cli
from dramaemo.core.errors import UserError
from dramaemo.video.frames import extract_frames, ffmpeg_exe, probe_video


@pytest.fixture(scope="module")
def numbered(tmp_path_factory) -> Path:
    return numbered_video(tmp_path_factory.mktemp("video") / "numbered.mp4", fps=25, seconds=6)


def test_ffmpeg_exe_runs():
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True)
    assert result.returncode == 0 and "ffmpeg version" in result.stdout


def test_probe_reads_size_duration_and_rate(numbered):
    info = probe_video(numbered)
    assert (info.width, info.height) == (64, 64)
    assert info.duration == pytest.approx(6.0, abs=0.05)
    assert info.fps == pytest.approx(25.0)


@pytest.mark.parametrize("offset", [0.0, 0.3, 0.5, 0.9])
def test_second_k_is_the_frame_nearest_to_k_plus_offset(numbered, tmp_path, offset):
    extract_frames(numbered, tmp_path, offset=offset)
    frames = sorted(tmp_path.glob("*.jpg"))
    assert [p.name for p in frames[:2]] == ["000000.jpg", "000001.jpg"]
    assert len(frames) == 6
    for second, path in enumerate(frames):
        shown = frame_number(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
        # nearest frame: at most half a frame (1/50 s) from k + offset
        assert abs(shown / 25 - (second + offset)) <= 0.5 / 25 + 1e-9, (second, shown)


def test_fast_decode_takes_a_reference_frame_near_the_nearest(tmp_path):
    """frames.fast_decode skips non-reference frames: with runs of up to three
    non-reference B frames, each second's frame is an I or P frame at most the three
    skipped Bs before the nearest one; exact decoding keeps the nearest."""
    video = numbered_video(
        tmp_path / "b.mp4", fps=25, seconds=9, crf=4, **{"x264-params": "bframes=3:b-adapt=0:b-pyramid=none"}
    )
    shown_types = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(video), "-vf", "showinfo", "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    types = re.findall(r"type:(\w)", shown_types.stderr)  # picture type of frame i, in order
    assert len(types) == 225 and types.count("B") > 100
    shifts = {}
    for fast in (False, True):
        extract_frames(video, tmp_path / str(fast), offset=0.5, fast_decode=fast)
        shown = [
            frame_number(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
            for path in sorted((tmp_path / str(fast)).glob("*.jpg"))
        ]
        assert len(shown) == 9
        shifts[fast] = [number - (second + 0.5) * 25 for second, number in enumerate(shown)]
        if fast:
            assert all(types[number] in "IP" for number in shown), shown
    assert all(abs(shift) <= 0.5 for shift in shifts[False])
    assert all(-3.5 <= shift <= 1.5 for shift in shifts[True]) and shifts[True] != shifts[False]


def test_cli_writes_frames_info_and_progress(numbered, tmp_path, caplog):
    info = tmp_path / "ep.info.json"
    with caplog.at_level(logging.INFO, logger="dramaemo.video.frames"):
        code = cli.main(
            [
                "extract-frames",
                "--video",
                str(numbered),
                "--outdir",
                str(tmp_path / "ep"),
                "--info",
                str(info),
                "--offset",
                "0.5",
            ]
        )
    assert code == 0
    assert "of 6 s decoded" in caplog.text
    record = json.loads(info.read_text())
    assert record["frames"] == 6 and record["width"] == 64 and record["offset"] == 0.5
    assert record["fast_decode"] is False


def test_rerun_removes_frames_of_an_older_video(numbered, tmp_path):
    (tmp_path / "000099.jpg").write_bytes(b"stale")
    extract_frames(numbered, tmp_path)
    assert not (tmp_path / "000099.jpg").exists()


def test_missing_video_is_named(tmp_path, capsys):
    missing = tmp_path / "ep07.mp4"
    assert cli.main(["extract-frames", "--video", str(missing), "--outdir", str(tmp_path / "f")]) == 2
    message = capsys.readouterr().err
    assert "ep07.mp4" in message and "no such video" in message
    assert len(message.strip().splitlines()) == 1


def test_zero_byte_video_is_named(tmp_path):
    empty = tmp_path / "ep08.mp4"
    empty.touch()
    with pytest.raises(UserError, match=r"ep08\.mp4: empty \(zero-byte\)"):
        extract_frames(empty, tmp_path / "f")


def test_truncated_video_is_named(numbered, tmp_path):
    truncated = tmp_path / "ep09.mp4"
    data = numbered.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"ep09\.mp4: .*(corrupt|truncated)"):
        extract_frames(truncated, tmp_path / "f")


def test_truncated_faststart_video_is_named(tmp_path):
    # moov atom at the start: the header survives, the frame data does not
    video = blank_video(tmp_path / "whole.mp4", seconds=20, width=320, height=240)
    faststart = tmp_path / "fast.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(video),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(faststart),
        ],
        check=True,
    )
    truncated = tmp_path / "ep10.mp4"
    data = faststart.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(UserError, match=r"ep10\.mp4: .*(corrupt|truncated)"):
        extract_frames(truncated, tmp_path / "f")


def test_garbage_file_is_named(tmp_path):
    garbage = tmp_path / "ep11.mp4"
    garbage.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(UserError, match=r"ep11\.mp4"):
        extract_frames(garbage, tmp_path / "f")


def test_audio_only_file_has_no_video_stream(tmp_path):
    audio = tmp_path / "ep12.m4a"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=duration=2", str(audio)], check=True
    )
    with pytest.raises(UserError, match=r"ep12\.m4a: no video stream"):
        extract_frames(audio, tmp_path / "f")


def test_ffmpeg_on_path_is_preferred(tmp_path, monkeypatch):
    import imageio_ffmpeg

    (tmp_path / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert ffmpeg_exe() == str(tmp_path / "ffmpeg")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()

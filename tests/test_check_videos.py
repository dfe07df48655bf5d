"""check-videos: every episode probed before any heavy work, all bad videos listed at
once (stop) or skipped with their reason (skip); extract-frames honours the skip."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dramaemo import cli
from dramaemo.errors import UserError
from dramaemo.video import CHECK_COLUMNS, check_videos
from front_helpers import blank_video


@pytest.fixture
def videos(tmp_path):
    good = blank_video(tmp_path / "good ep.mp4", seconds=3)
    intact = good.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(intact[: len(intact) // 3])  # moov atom (at the end) missing
    empty = tmp_path / "empty.mkv"
    empty.touch()
    text = tmp_path / "notes.avi"
    text.write_text("not a video\n")
    return [good, cut, empty, text]


def test_stop_lists_every_bad_video_at_once(videos):
    with pytest.raises(UserError) as error:
        check_videos(videos, "stop")
    message = str(error.value)
    assert message.startswith("3 of 4 episode videos cannot be used:")
    assert f"{videos[1]}: corrupt or truncated video" in message
    assert f"{videos[2]}: empty (zero-byte) video file" in message
    assert f"{videos[3]}: " in message
    assert str(videos[0]) not in message
    assert "on_bad_video: skip" in message


def test_skip_records_each_video_and_extract_frames_honours_it(videos, tmp_path):
    check = tmp_path / "check.csv"
    assert cli.main(["check-videos", "--videos", *map(str, videos), "--on-bad-video", "skip",
                     "--output", str(check)]) == 0
    table = pd.read_csv(check, keep_default_na=False)
    assert table.columns.tolist() == CHECK_COLUMNS
    assert table["status"].tolist() == ["ok", "skipped", "skipped", "skipped"]
    assert table.loc[0, ["episode", "width", "height"]].tolist() == ["good ep", 160, 120]
    assert table.loc[0, "duration"] == pytest.approx(3, abs=0.2)
    assert "empty (zero-byte)" in table.loc[2, "reason"]

    out = tmp_path / "frames"
    for video in (videos[0], videos[2]):
        code = cli.main(["extract-frames", "--video", str(video), "--outdir",
                         str(out / video.stem), "--info", str(out / f"{video.stem}.info.json"),
                         "--check", str(check)])
        assert code == 0
    assert len(list((out / "good ep").glob("*.jpg"))) == 3
    assert list((out / "empty").iterdir()) == []
    info = json.loads((out / "empty.info.json").read_text())
    assert info["frames"] == 0 and "empty (zero-byte)" in info["skipped"]
    # a video the check never saw is an error naming both files
    other = blank_video(tmp_path / "new.mp4", seconds=2)
    assert cli.main(["extract-frames", "--video", str(other), "--outdir", str(out / "new"),
                     "--check", str(check)]) != 0

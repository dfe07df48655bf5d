"""The video check (dramaemo.video.check): every episode probed before any heavy work,
all bad videos listed at once (stop) or skipped with their reason (skip); a cache keeps
unchanged files from being probed again."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from front_helpers import blank_video

from dramaemo import cli
from dramaemo.core.errors import UserError
from dramaemo.video.check import CHECK_COLUMNS, check_videos


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


def test_skip_records_each_video(videos, tmp_path):
    check = tmp_path / "check.csv"
    assert (
        cli.main(
            ["check-videos", "--videos", *map(str, videos), "--on-bad-video", "skip", "--output", str(check)]
        )
        == 0
    )
    table = pd.read_csv(check, keep_default_na=False)
    assert table.columns.tolist() == CHECK_COLUMNS
    assert table["status"].tolist() == ["ok", "skipped", "skipped", "skipped"]
    assert table.loc[0, ["episode", "width", "height"]].tolist() == ["good ep", 160, 120]
    assert table.loc[0, "duration"] == pytest.approx(3, abs=0.2)
    assert "empty (zero-byte)" in table.loc[2, "reason"]


def test_the_cache_probes_only_new_or_changed_files(videos, tmp_path):
    cache = tmp_path / "cache" / "check.json"
    first = check_videos(videos, "skip", cache=cache)
    stored = json.loads(cache.read_text())
    assert sorted(stored) == sorted(map(str, videos))
    # a cached verdict is used as long as size and time are the same ...
    stored[str(videos[0])]["record"]["reason"] = "marked by the test"
    cache.write_text(json.dumps(stored))
    assert check_videos(videos, "skip", cache=cache)[0]["reason"] == "marked by the test"
    # ... and a changed file is probed again
    videos[2].write_bytes(videos[0].read_bytes())
    again = check_videos(videos, "skip", cache=cache)
    assert [r["status"] for r in again] == ["skipped", "skipped", "ok", "skipped"]
    assert again[1] == first[1]
    # without probing (Snakemake's job processes) an unknown file is taken as it is
    new = blank_video(tmp_path / "new.mp4", seconds=2)
    assert check_videos([new], "stop", cache=cache, probe=False)[0]["status"] == "ok"
    assert str(new) not in json.loads(cache.read_text())

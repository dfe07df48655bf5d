"""The video check: every episode video probed (its header only) before any heavy work.

The workflow runs it when it lists the episodes (workflow/rules/common.smk), so that all
bad videos are listed at once before any job starts, and ``on_bad_video: skip`` can leave
them out of the DAG; ``dramaemo check-videos`` runs it by hand. Light on purpose (no
ffmpeg-python, no numpy): it runs inside Snakemake's own process.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path

from dramaemo.core.errors import UserError

log = logging.getLogger(__name__)

BAD_VIDEO_ACTIONS = ("stop", "skip")  # config on_bad_video
CHECK_COLUMNS = ["episode", "file", "status", "reason", "duration", "width", "height"]


def probe_record(video: str | Path) -> dict:
    """One video's check: ``reason`` is "" when it can be used, else why not."""
    from dramaemo.video.frames import probe_video

    record = {
        "episode": Path(video).stem,
        "file": str(video),
        "reason": "",
        "duration": 0.0,
        "width": 0,
        "height": 0,
    }
    try:
        info = probe_video(video)
        if info.duration <= 0:
            raise UserError(f"{video}: zero duration; re-encode the episode")
        record.update(duration=info.duration, width=info.width, height=info.height)
    except UserError as error:
        # the message starts with the file's name; keep only the reason
        record["reason"] = str(error).removeprefix(f"{video}: ")
    return record


def check_videos(
    videos: list[str | Path], on_bad_video: str = "stop", cache: str | Path | None = None, probe: bool = True
) -> list[dict]:
    """Probe every video (the ffmpeg header only, ~0.1 s per file) and return one record
    per video with ``status`` ok or skipped. With ``stop``, any bad video raises one
    UserError listing every bad file and its reason, not just the first.

    ``cache`` (a JSON file) keeps each record with the file's size and time, so that a
    file is probed again only when it changed; with ``probe`` false (Snakemake's job
    processes), files not in the cache are taken as they are, unprobed.
    """
    known = {}
    if cache and Path(cache).is_file():
        try:
            known = json.loads(Path(cache).read_text())
        except (OSError, ValueError):  # a torn cache is only a cache
            known = {}
    records, probed = [], 0
    for video in videos:
        try:
            stat = Path(video).stat()
            stamp = [stat.st_size, stat.st_mtime_ns]
        except OSError:
            stamp = None
        entry = known.get(str(video))
        if entry and stamp and entry["stamp"] == stamp:
            record = entry["record"]
        elif probe:
            record = probe_record(video)
            known[str(video)] = {"stamp": stamp, "record": record}
            probed += 1
        else:
            record = {
                "episode": Path(video).stem,
                "file": str(video),
                "reason": "",
                "duration": 0.0,
                "width": 0,
                "height": 0,
            }
        status = "ok" if not record["reason"] else ("skipped" if on_bad_video == "skip" else "bad")
        records.append({**record, "status": status})
    if probed:
        log.info("%d videos probed, %d known unchanged", probed, len(videos) - probed)
        if cache:  # written whole, then renamed: a reader never sees half a file
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            partial = Path(f"{cache}.{os.getpid()}.tmp")
            partial.write_text(json.dumps(known, indent=1, ensure_ascii=False))
            os.replace(partial, cache)
    bad = [r for r in records if r["status"] != "ok"]
    if bad and on_bad_video == "stop":
        listing = "\n".join(f"  {r['file']}: {r['reason']}" for r in bad)
        raise UserError(
            f"{len(bad)} of {len(records)} episode videos cannot be used:\n{listing}\n"
            "repair or remove them, or set on_bad_video: skip to go on without them"
        )
    for r in bad:
        log.warning("%s: skipped (on_bad_video: skip): %s", r["file"], r["reason"])
    return [{column: r[column] for column in CHECK_COLUMNS} for r in records]


def _run_check(args) -> None:
    records = check_videos(args.videos, args.on_bad_video)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CHECK_COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    log.info("%d videos checked, %d skipped", len(records), sum(r["status"] != "ok" for r in records))


def add_parser(subparsers) -> None:
    check = subparsers.add_parser("check-videos", help="probe every episode video before any heavy work")
    check.add_argument("--videos", nargs="+", required=True, help="episode video files")
    check.add_argument(
        "--on-bad-video",
        choices=BAD_VIDEO_ACTIONS,
        default="stop",
        help="stop: fail listing every bad video; skip: go on without them",
    )
    check.add_argument("--output", required=True, help="CSV, one row per video")
    check.set_defaults(func=_run_check)

"""Where an episode's subtitles are: light (no NumPy/pandas), so the workflow can ask
while it builds the DAG."""

from __future__ import annotations

from pathlib import Path

# Formats pysubs2 reads without a frame rate, in order of preference for one episode.
SUBTITLE_SUFFIXES = (".srt", ".ass", ".ssa", ".vtt")


def find_subtitles(video: str | Path, language: str) -> Path | None:
    """The subtitle file beside ``video``: ``ep01.srt`` (then .ass, .ssa, .vtt), else
    ``ep01.<language>.<ext>``, else the first other ``ep01.<language>.<ext>`` in
    alphabetical order; None when there is none."""
    video = Path(video)
    for names in (
        [f"{video.stem}{s}" for s in SUBTITLE_SUFFIXES],
        [f"{video.stem}.{language}{s}" for s in SUBTITLE_SUFFIXES],
    ):
        for name in names:
            if (video.parent / name).is_file():
                return video.parent / name
    others = sorted(
        path
        for path in video.parent.glob(f"{video.stem}.*.*")
        if path.suffix.lower() in SUBTITLE_SUFFIXES and path.stem.count(".") == video.stem.count(".") + 1
    )
    return others[0] if others else None

"""Where an episode's subtitles are: light (no NumPy/pandas), so the workflow can ask
while it builds the DAG."""

from __future__ import annotations

from pathlib import Path

PREFERRED_LANGUAGE = "en"


def find_subtitles(video: str | Path) -> Path | None:
    """The SubRip file beside ``video``: ``ep01.srt``, else ``ep01.en.srt``, else the
    first other ``ep01.<language>.srt`` in alphabetical order; None when there is none."""
    video = Path(video)
    exact = video.with_suffix(".srt")
    if exact.is_file():
        return exact
    preferred = video.with_suffix(f".{PREFERRED_LANGUAGE}.srt")
    if preferred.is_file():
        return preferred
    others = sorted(video.parent.glob(f"{video.stem}.*.srt"))
    return others[0] if others else None

"""Text for each sampled second of an episode: annotation CSV, else subtitles, else none.

Subtitles are SubRip files beside the video (dramaemo.core.subtitle_files.find_subtitles),
read with the ``srt`` library.
A file that is not UTF-8 is read as Windows-1252, the usual encoding of older SRTs (the
log says so). The text of second ``k`` is the cues active at ``k + offset`` (the instant
its frame shows), joined in start order when they overlap; a cue with no text gives no
text, so that second falls through to the next source.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo.core.errors import UserError

log = logging.getLogger(__name__)


def decode_subtitles(raw: bytes, path) -> str:
    """UTF-8 (with or without BOM), else Windows-1252, else Latin-1 (never fails)."""
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding != "utf-8-sig":
            log.warning("%s: not UTF-8, read as %s", path, encoding)
        return text
    raise AssertionError("latin-1 decodes any bytes")


def read_cues(path: str | Path) -> list:
    """The cues of an SRT file (srt.Subtitle), in start order.

    A block that does not parse is skipped only after a warning saying how many cues the
    lenient parse kept, so a damaged file is visible in the log.
    """
    import srt

    path = Path(path)
    try:
        text = decode_subtitles(path.read_bytes(), path)
    except OSError as error:
        raise UserError(f"{path}: cannot read subtitles ({error.strerror})") from None
    try:
        cues = list(srt.parse(text))
    except srt.SRTParseException as error:
        cues = list(srt.parse(text, ignore_errors=True))
        log.warning(
            "%s: malformed SRT (%s); %d cues kept, unparseable blocks skipped",
            path,
            str(error).splitlines()[0][:120],
            len(cues),
        )
    return sorted(cues, key=lambda cue: (cue.start, cue.index or 0))


def text_at(cues: list, moments) -> list[str]:
    """For each moment (s), the text of the cues active then ("" when none)."""
    starts = np.array([cue.start / timedelta(seconds=1) for cue in cues], dtype=float)
    ends = np.array([cue.end / timedelta(seconds=1) for cue in cues], dtype=float)
    texts = [" ".join(cue.content.split()) for cue in cues]
    found = []
    for moment in np.asarray(moments, dtype=float):
        active = np.flatnonzero((starts <= moment) & (moment < ends))
        found.append(" ".join(texts[i] for i in active if texts[i]))
    return found


def annotation_texts(annotations: pd.DataFrame | None, episode: str) -> pd.DataFrame:
    """Annotated descriptions of one episode: second, x, y, w, h (floats, NaN when no box),
    description; rows without a description are left out (they give no text)."""
    columns = ["second", "x", "y", "w", "h", "description"]
    if annotations is None or annotations.empty:
        return pd.DataFrame(columns=columns)
    rows = annotations[
        (annotations["episode"] == episode) & (annotations["description"].str.strip() != "")
    ].copy()
    rows["second"] = pd.to_numeric(rows["second"], errors="coerce")
    for column in ("x", "y", "w", "h"):
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
    return rows.dropna(subset=["second"])[columns]


def face_texts(
    faces: pd.DataFrame, annotated: pd.DataFrame, subtitle_text: dict[int, str]
) -> tuple[list[str], list[str]]:
    """(text, source) of each row of ``faces`` (second, x, y, w, h; NaN box for a faceless
    second): the annotation of that face (the row whose box holds the face's centre, else
    the second's first row), else the subtitle at that second, else none."""
    by_second = {int(s): rows for s, rows in annotated.groupby("second")}
    texts, sources = [], []
    for face in faces.itertuples(index=False):
        rows = by_second.get(int(face.second))
        if rows is not None:
            chosen = rows.iloc[0]
            if not np.isnan(face.x):
                cx, cy = face.x + face.w / 2, face.y + face.h / 2
                inside = rows[
                    (rows.x <= cx) & (cx < rows.x + rows.w) & (rows.y <= cy) & (cy < rows.y + rows.h)
                ]
                if not inside.empty:
                    chosen = inside.iloc[0]
            texts.append(str(chosen["description"]))
            sources.append("annotation")
            continue
        subtitle = subtitle_text.get(int(face.second), "")
        texts.append(subtitle)
        sources.append("subtitle" if subtitle else "none")
    return texts, sources

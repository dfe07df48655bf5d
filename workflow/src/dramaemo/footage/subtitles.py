"""Text for each sampled second of an episode: annotation CSV, else subtitles, else none.

Subtitles are SubRip, ASS/SSA or WebVTT files beside the video
(dramaemo.core.subtitle_files.find_subtitles), read with pysubs2; each cue's text is its
plain text (``<i>``, ``<font>``, ASS override codes such as ``{\\an8}`` and line breaks
removed). Encoding (``decode_subtitles``): config ``index.subtitles.encoding`` when set,
else a byte-order mark, else UTF-8, else the legacy encoding of
``index.subtitles.language`` when charset-normalizer's reading of the bytes agrees with
it; otherwise the episode stops with the file named and the fix, never a guess. The text
of second ``k`` is the cues active at ``k + offset`` (the instant its frame shows), joined
in start order when they overlap; a cue with no text gives no text, so that second falls
through to the next source.
"""

from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo.core.errors import UserError

log = logging.getLogger(__name__)

# The encoding a subtitle file that is not UTF-8 is usually in, by language (else Latin).
LEGACY_ENCODINGS = {"ko": "cp949", "ja": "cp932", "zh": "gb18030"}
LATIN_LEGACY = "cp1252"
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
FIX = "re-save it as UTF-8, or set index.subtitles.encoding (e.g. cp949)"


@dataclass(frozen=True)
class Cue:
    start: float  # s
    end: float  # s
    text: str  # plain text, one line
    raw: str  # as the file has it (markup included)


def decode_subtitles(raw: bytes, path, *, encoding: str, language: str) -> tuple[str, str]:
    """(text, encoding used) of a subtitle file's bytes (module doc); UserError naming
    ``path`` when the encoding cannot be told."""
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as error:
            raise UserError(
                f"{path}: not readable as {encoding} (index.subtitles.encoding): {error}"
            ) from None
    for mark, name in BOMS:
        if raw.startswith(mark):
            return raw.decode(name), name
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    legacy = LEGACY_ENCODINGS.get(language, LATIN_LEGACY)
    matches = list(from_bytes(raw))
    try:
        text = raw.decode(legacy)
    except UnicodeDecodeError:
        text = None
    # charset-normalizer lists each distinct reading once: the legacy encoding is confirmed
    # when one of its readings is the same text
    if text is not None and any(str(match) == text for match in matches):
        log.warning("%s: not UTF-8; read as %s (index.subtitles.language %s)", path, legacy, language)
        return text, legacy
    best = matches[0].encoding if matches else "unknown"
    raise UserError(
        f"{path}: subtitles not UTF-8 and their encoding is not certain (index.subtitles.language "
        f"{language}: {legacy} {'does not decode them' if text is None else 'reads them otherwise'}; "
        f"they look like {best}); {FIX}"
    )


def read_cues(path: str | Path, *, encoding: str, language: str) -> tuple[list[Cue], str]:
    """(the cues of a subtitle file in start order, the encoding it was read in)."""
    import pysubs2

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UserError(f"{path}: cannot read subtitles ({error.strerror})") from None
    text, used = decode_subtitles(raw, path, encoding=encoding, language=language)
    try:
        parsed = pysubs2.SSAFile.from_string(text)
    except (
        pysubs2.exceptions.FormatAutodetectionError,
        pysubs2.exceptions.UnknownFPSError,
        ValueError,
    ) as error:
        raise UserError(
            f"{path}: not a subtitle file pysubs2 reads (SRT, ASS/SSA, WebVTT): {error}"
        ) from None
    cues = [
        Cue(event.start / 1000, event.end / 1000, " ".join(event.plaintext.split()), event.text)
        for event in parsed
        if not event.is_comment
    ]
    return sorted(cues, key=lambda cue: cue.start), used


def cues_at(cues: list[Cue], moments, context_seconds: float = 0.0) -> list[list[Cue]]:
    """For each moment (s), the cues on screen then, or with ``context_seconds`` > 0 every
    cue that overlaps [moment - context_seconds, moment + context_seconds] (a cue is one
    line of dialogue; the lines around it say more of the situation), in time order."""
    starts = np.array([cue.start for cue in cues], dtype=float)
    ends = np.array([cue.end for cue in cues], dtype=float)
    found = []
    for moment in np.asarray(moments, dtype=float):
        if context_seconds > 0:
            near = (starts <= moment + context_seconds) & (moment - context_seconds < ends)
        else:
            near = (starts <= moment) & (moment < ends)
        found.append([cues[i] for i in np.flatnonzero(near)])
    return found


def text_at(cues: list[Cue], moments, context_seconds: float = 0.0) -> list[str]:
    """For each moment (s), the cleaned text of ``cues_at`` ("" when none)."""
    return [
        " ".join(cue.text for cue in near if cue.text) for near in cues_at(cues, moments, context_seconds)
    ]


def raw_at(cues: list[Cue], moments, context_seconds: float = 0.0) -> list[str]:
    """For each moment (s), the same cues with their markup, one a line (as pysubs2 holds
    them: ASS override tags, SubRip's <i> and <b> as {\\i1} and {\\b1}, <font> dropped)."""
    return ["\n".join(cue.raw for cue in near) for near in cues_at(cues, moments, context_seconds)]


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

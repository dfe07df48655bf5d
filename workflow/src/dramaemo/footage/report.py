"""The index in the Snakemake report: per-episode emotion timeline, per-episode summary.

Timeline: the tracks over the episode's seconds (x), each second coloured by the track's
predicted (smoothed) emotion, tracks that do not overlap in time sharing a lane (y), shot
cuts as thin vertical lines. Summary: per
episode, the share of face-seconds of each emotion, the dominant emotion, faceless
seconds and where the text came from.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.footage import NO_FACE, TEXT_SOURCES
from dramaemo.footage.tables import read_index, read_index_metadata

log = logging.getLogger(__name__)

# One fixed colour per emotion (matplotlib's tab10), so every timeline reads the same.
EMOTION_COLOURS = dict(
    zip(EMOTIONS, ["#d62728", "#8c564b", "#9467bd", "#ff7f0e", "#7f7f7f", "#1f77b4", "#2ca02c"])
)


def track_lanes(faces: pd.DataFrame) -> dict[int, int]:
    """A lane per track, tracks that do not overlap in time sharing one (first free lane,
    in order of start): as many lanes as faces on screen at once, not one per track."""
    spans = faces.groupby("track")["second"].agg(["min", "max"]).sort_values(["min", "max"])
    ends: list[int] = []
    lane = {}
    for track, (start, end) in spans.iterrows():
        free = next((number for number, last in enumerate(ends) if last < start), len(ends))
        if free == len(ends):
            ends.append(end)
        ends[free] = end
        lane[int(track)] = free
    return lane


def character_lanes(faces: pd.DataFrame, who: dict[int, str]) -> tuple[dict[int, int], list[str]]:
    """(a lane per track, the lanes' labels): one lane per character (``who``: track ->
    its character's name or id), in order of first appearance, then the tracks of no
    character sharing lanes as track_lanes packs them."""
    first = faces.groupby("track")["second"].min().sort_values(kind="stable")
    characters = list(dict.fromkeys(who[t] for t in first.index if who.get(t)))
    lane = {int(t): characters.index(who[t]) for t in first.index if who.get(t)}
    rest = faces[~faces["track"].isin(lane)]
    extra = track_lanes(rest) if len(rest) else {}
    lane |= {t: len(characters) + number for t, number in extra.items()}
    labels = characters + ["no character"] * (max(extra.values(), default=-1) + 1)
    return lane, labels


TIMELINE_COLUMNS = ["episode", "second", "track", "pred"]  # what plot_timeline reads of the index


def plot_timeline(index: pd.DataFrame, shots: pd.DataFrame | None, output, who: dict | None = None) -> None:
    """The episode's timeline; ``who`` (track -> character name or id, from the cast):
    one row per character instead of per track."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    faces = index[index["track"] != NO_FACE]
    tracks = sorted(faces["track"].unique())
    if who:
        lane, labels = character_lanes(faces, who)
    else:
        lane = track_lanes(faces)
        labels = None
    lanes = max(lane.values(), default=0) + 1
    seconds = int(index["second"].max()) + 1 if len(index) else 1
    height = min(12.0, 2.8 + 0.3 * lanes)
    figure, axis = plt.subplots(figsize=(12, height))
    # one collection per emotion and one for the cuts, each box a run of seconds of one
    # track and emotion: not an artist per face and per cut, so the plot's memory and time
    # hardly grow with the episode's length
    runs = faces.sort_values(["track", "second"])
    second, track, emotion = (runs[c].to_numpy() for c in ("second", "track", "pred"))
    starts = np.r_[True, (np.diff(second) != 1) | (track[1:] != track[:-1]) | (emotion[1:] != emotion[:-1])]
    begin = np.flatnonzero(starts)
    spans = pd.DataFrame(
        {
            "left": second[begin].astype(float),
            "width": np.diff(np.r_[begin, len(second)]).astype(float),
            "middle": [lane[t] for t in track[begin]],
            "pred": emotion[begin],
        }
    )
    for emotion, group in spans.groupby("pred"):
        left, right, middle = group["left"], group["left"] + group["width"], group["middle"].astype(float)
        corners = [(left, middle - 0.4), (right, middle - 0.4), (right, middle + 0.4), (left, middle + 0.4)]
        boxes = np.stack([np.column_stack(corner) for corner in corners], axis=1)
        axis.add_collection(PolyCollection(boxes, facecolors=EMOTION_COLOURS[emotion], linewidths=0))
    if shots is not None:
        axis.vlines(shots["start"].iloc[1:], -0.6, lanes - 0.4, colors="#0003", linewidth=0.5)
    episode = index["episode"].iloc[0] if len(index) else ""
    faceless = int((index["track"] == NO_FACE).sum())
    axis.set(
        xlim=(0, seconds),
        ylim=(-0.6, lanes - 0.4),
        xlabel="second",
        ylabel="character" if labels else "face lane",
        yticks=range(lanes),
        title=f"{episode}: predicted emotion per track and second ({len(tracks)} tracks, "
        f"{faceless} of {seconds} seconds without a face)",
    )
    if labels:
        axis.set_yticklabels(labels)
        axis.invert_yaxis()  # the first character on top
    figure.legend(
        handles=[Patch(color=EMOTION_COLOURS[e], label=e) for e in EMOTIONS],
        ncol=7,
        loc="lower center",
        frameon=False,
    )
    figure.tight_layout(rect=(0, 0.4 / height, 1, 1))  # room for the legend below
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)


def summarise(index: pd.DataFrame) -> dict:
    """Share of face-seconds per emotion, dominant emotion, counts, text sources."""
    faces = index[index["track"] != NO_FACE]
    shares = faces["pred"].value_counts(normalize=True).reindex(list(EMOTIONS), fill_value=0.0)
    sources = faces["text_source"].value_counts().reindex(list(TEXT_SOURCES), fill_value=0)
    return {
        "episode": index["episode"].iloc[0] if len(index) else "",
        "seconds": int(index["second"].nunique()),
        "faceless_seconds": int((index["track"] == NO_FACE).sum()),
        "face_seconds": len(faces),
        "tracks": int(faces["track"].nunique()),
        "dominant": shares.idxmax() if len(faces) else "",
        **{f"share_{emotion}": round(float(shares[emotion]), 4) for emotion in EMOTIONS},
        **{f"text_{source}": int(sources[source]) for source in TEXT_SOURCES},
    }


def track_names(who: dict | None, episode: str) -> dict[int, str]:
    """track -> its character's name in ``episode``, from footage.search.named_tracks."""
    return {track: name for (e, track), name in (who or {}).items() if e == episode}


def character_shares(indexes: list[pd.DataFrame], who_of) -> pd.DataFrame:
    """Per character and episode, the share of its face-seconds of each predicted emotion
    (``who_of(episode)``: track -> character)."""
    rows = []
    for index in indexes:
        faces = index[index["track"] != NO_FACE]
        if faces.empty:
            continue
        who = who_of(faces["episode"].iloc[0])
        faces = faces.assign(character=faces["track"].map(who)).dropna(subset=["character"])
        for (character, episode), group in faces.groupby(["character", "episode"]):
            shares = group["pred"].value_counts(normalize=True).reindex(list(EMOTIONS), fill_value=0.0)
            rows.append({"character": character, "episode": episode, "face_seconds": len(group), **shares})
    return pd.DataFrame(rows, columns=["character", "episode", "face_seconds", *EMOTIONS])


def plot_character_shares(shares: pd.DataFrame, output) -> None:
    """One stacked bar per character and episode: the share of each emotion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    shares = shares.sort_values(["character", "episode"]).reset_index(drop=True)
    height = min(16.0, 2.0 + 0.28 * max(len(shares), 1))
    figure, axis = plt.subplots(figsize=(10, height))
    left = pd.Series(0.0, index=shares.index)
    for emotion in EMOTIONS:
        axis.barh(shares.index, shares[emotion], left=left, color=EMOTION_COLOURS[emotion], height=0.8)
        left += shares[emotion]
    axis.set_yticks(shares.index)
    axis.set_yticklabels(
        [
            f"{c} · {e} ({n} s)"
            for c, e, n in zip(shares["character"], shares["episode"], shares["face_seconds"])
        ]
    )
    axis.invert_yaxis()
    axis.set(
        xlim=(0, 1), xlabel="share of the character's face-seconds", title="emotion per character and episode"
    )
    figure.legend(
        handles=[Patch(color=EMOTION_COLOURS[e], label=e) for e in EMOTIONS],
        ncol=7,
        loc="lower center",
        frameon=False,
    )
    figure.tight_layout(rect=(0, 0.5 / height, 1, 1))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)


def _run_timeline(args) -> None:
    from dramaemo.footage.search import named_tracks

    _, shots = read_index_metadata(args.index)
    index = read_index(args.index, columns=TIMELINE_COLUMNS)
    who = None
    if args.cast:
        episode = index["episode"].iloc[0] if len(index) else ""
        who = track_names(named_tracks(Path(args.cast).parent, args.names), episode)
    plot_timeline(index, shots, args.output, who)


def _run_character_summary(args) -> None:
    from dramaemo.footage.search import named_tracks

    who = named_tracks(Path(args.cast).parent, args.names)  # the cast and names read once
    shares = character_shares(
        [read_index(path) for path in args.index], lambda episode: track_names(who, episode)
    )
    shares.to_csv(args.csv, index=False)
    plot_character_shares(shares, args.png)
    log.info("%d characters over %d episodes: %s", shares["character"].nunique(), len(args.index), args.png)


def _run_summary(args) -> None:
    table = pd.DataFrame([summarise(read_index(path)) for path in args.index])
    skipped = pd.DataFrame(json.loads(args.skipped_videos), columns=["episode", "file", "reason"])
    # a skipped video is a row of its own, so the count of episodes stays honest
    table = pd.concat(
        [table.assign(skipped=""), skipped[["episode"]].assign(skipped=skipped["reason"])], ignore_index=True
    )
    table.to_csv(args.csv, index=False)
    shown = table.rename(columns=lambda c: c.replace("share_", "").replace("text_", "text: "))
    Path(args.html).write_text(
        "<!doctype html><meta charset='utf-8'><title>Index summary</title>"
        "<p>Share of face-seconds per predicted emotion, per episode; text: where each face's "
        "description came from; skipped: why a video was left out (on_bad_video: skip).</p>"
        + shown.to_html(index=False, float_format=lambda v: f"{v:.1%}", na_rep=""),
        encoding="utf-8",
    )
    log.info(
        "summary of %d episodes written to %s (%d videos skipped)",
        len(table) - len(skipped),
        args.csv,
        len(skipped),
    )


def add_parser(subparsers) -> None:
    timeline = subparsers.add_parser("index-timeline", help="emotion timeline plot of an indexed episode")
    timeline.add_argument("--index", required=True, help="results/index/{episode}.parquet")
    timeline.add_argument("--output", required=True, help="PNG")
    timeline.add_argument("--cast", help="results/index/cast.parquet: one row per character")
    timeline.add_argument("--names", help="names file of the cast")
    timeline.set_defaults(func=_run_timeline)
    characters = subparsers.add_parser(
        "character-summary", help="share of each emotion per character and episode (plot and CSV)"
    )
    characters.add_argument("--index", nargs="+", required=True, help="results/index/{episode}.parquet files")
    characters.add_argument("--cast", required=True, help="results/index/cast.parquet")
    characters.add_argument("--names", help="names file of the cast")
    characters.add_argument("--csv", required=True)
    characters.add_argument("--png", required=True)
    characters.set_defaults(func=_run_character_summary)
    summary = subparsers.add_parser("index-summary", help="share of each emotion per indexed episode")
    summary.add_argument("--index", nargs="+", required=True, help="results/index/{episode}.parquet files")
    summary.add_argument("--csv", required=True)
    summary.add_argument("--html", required=True)
    summary.add_argument(
        "--skipped-videos", default="[]", help="JSON list of the videos left out (episode, file, reason)"
    )
    summary.set_defaults(func=_run_summary)

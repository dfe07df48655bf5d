"""Choosing footage: the index's segments ranked per scene, one pick per scene.

A segment's **emotion fit** to a scene is the chance that the scene's wanted emotion and
the emotion of a face on screen agree: the dot product of the scene's distribution with
each on-screen face's mean smoothed probabilities over the segment, averaged over the
faces (so a pleasant couple does not get one happy face beside a frightened one). Hard
constraints: the face count on screen throughout (at least as many faces as the scene
names people, where the count comes from its names), the wanted length, the characters on
screen (where the index knows characters), no face showing an excluded emotion. Each shot
is used once in the whole cut (so no clip is reused either); the picks maximise the
story's total fit under that rule (scipy's linear_sum_assignment over scenes x shots).
Ties: confidence, then length. A scene nothing fits gets the nearest relaxed match
(constraints dropped in RELAX_ORDER, the named characters last and one at a time: see
``relaxations``), marked, never a silent gap. A user's own pick of a
scene (``chosen``: the storyboard page's, authoring.serve) is kept as given, its shot taken
out of the others' reach, and the other scenes are assigned around it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from itertools import combinations

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.authoring.story import SceneNeeds
from dramaemo.faces.identity import SHARP_FACE_SIDE
from dramaemo.footage import NO_FACE, PROBABILITIES
from dramaemo.footage.cast import face_side

log = logging.getLogger(__name__)

CHARACTER = "character"  # the index column naming a face's character, where the index has one
RELAX_ORDER = ("seconds", "faces", "excluded", "characters")  # dropped first to last
# A scene's status: its pick meets every constraint, or nothing did (the clip, if any, is
# then the nearest relaxed match and column ``relaxed`` names what was dropped).
PICKED, NO_FOOTAGE, CHOSEN = "picked", "no footage", "chosen"
# Tie-breaks inside one score: far below any fit difference that matters (1e-3).
CONFIDENCE_WEIGHT, SECONDS_WEIGHT = 1e-4, 1e-7
SHARP_CHARACTERS_WEIGHT = 1.0  # above any fit (0..1): sharp_characters rank first
CUT_COLUMNS = [
    "scene",
    "status",
    "episode",
    "track",
    "shot",
    "start",
    "end",
    "seconds",
    "faces",
    "characters",
    "emotion",
    "wanted",
    "fit",
    "mean_confidence",
    "video",
    "shot_start",
    "shot_end",
    "relaxed",
    "why",
]


def segment_faces(segments: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """Per segment: ``probabilities`` (faces x 7, each on-screen face's mean smoothed
    probabilities over the segment's seconds), ``characters`` (names on screen) and
    ``sharp_characters`` (those of them known from a sharp face: a track whose largest face
    is at least faces.identity.SHARP_FACE_SIDE, so its identity was not read off an
    upsampled chip, where different people's descriptors crowd together)."""
    faces = index[index["track"] != NO_FACE]
    has_characters = CHARACTER in faces.columns
    if has_characters and len(faces):
        side = face_side(faces).groupby([faces["episode"], faces["track"]]).transform("max")
        faces = faces.assign(sharp=(side >= SHARP_FACE_SIDE).to_numpy())
    by_episode = {episode: rows for episode, rows in faces.groupby("episode")}
    vectors, names, sharp_names = [], [], []
    for segment in segments.itertuples(index=False):
        rows = by_episode.get(segment.episode)
        if rows is None:
            vectors.append(np.zeros((0, len(EMOTIONS))))
            names.append(frozenset())
            sharp_names.append(frozenset())
            continue
        span = rows[(rows["second"] >= segment.start) & (rows["second"] < segment.end)]
        vectors.append(span.groupby("track")[PROBABILITIES].mean().to_numpy())
        if has_characters:
            named = span[span[CHARACTER].notna()]
            names.append(frozenset(named[CHARACTER].astype(str)))
            sharp_names.append(frozenset(named.loc[named["sharp"], CHARACTER].astype(str)))
        else:
            names.append(frozenset())
            sharp_names.append(frozenset())
    table = segments.reset_index(drop=True).copy()
    table["probabilities"] = vectors
    table["characters"] = names
    table["sharp_characters"] = sharp_names
    return table


def scene_scores(need: SceneNeeds, candidates: pd.DataFrame, relaxed=()) -> pd.DataFrame:
    """``candidates`` that meet the scene's constraints (less those in ``relaxed``), with
    their fit and score, best first."""
    keep = np.ones(len(candidates), dtype=bool)
    if need.scene.seconds and "seconds" not in relaxed:
        keep &= candidates["seconds"].to_numpy() >= need.scene.seconds
    if need.faces and "faces" not in relaxed:
        keep &= candidates["faces_min"].to_numpy() >= need.faces
        if not need.faces_at_least:
            keep &= candidates["faces_max"].to_numpy() == need.faces
    wanted = {name.lower() for name in need.characters}
    if need.characters and "characters" not in relaxed:
        keep &= [wanted <= {n.lower() for n in names} for names in candidates["characters"]]
    excluded = [EMOTIONS.index(e) for e in need.excluded]
    if excluded and "excluded" not in relaxed:
        keep &= [
            len(p) == 0 or not np.isin(p.argmax(axis=1), excluded).any() for p in candidates["probabilities"]
        ]
    chosen = candidates[keep].copy()
    chosen["fit"] = [
        float((p @ need.distribution).mean()) if len(p) else 0.0 for p in chosen["probabilities"]
    ]
    # the named characters known from sharp faces rank first: a wrong person on screen
    # spoils a scene more than a weaker emotion fit does
    sure = [bool(wanted) and wanted <= {n.lower() for n in names} for names in chosen["sharp_characters"]]
    chosen["score"] = (
        chosen["fit"]
        + SHARP_CHARACTERS_WEIGHT * np.asarray(sure, dtype=float)
        + CONFIDENCE_WEIGHT * chosen["mean_confidence"]
        + SECONDS_WEIGHT * chosen["seconds"]
    )
    return chosen.sort_values("score", ascending=False, kind="stable")


def relaxations(need: SceneNeeds):
    """Groups of (constraints dropped, the scene's needs with them dropped), nearest first:
    RELAX_ORDER's other constraints one after another, then the characters one name at a
    time (a scene naming two people gets one of them on screen before it gets neither).
    Within a group the best-scoring match wins."""
    for level in range(1, len(RELAX_ORDER)):
        yield [(RELAX_ORDER[:level], need)]
    for size in range(len(need.characters) - 1, -1, -1):
        yield [
            (RELAX_ORDER, replace(need, characters=list(kept)))
            for kept in combinations(need.characters, size)
        ]


def choice_of(option) -> dict:
    """What names a candidate in a user's choice (episode, track, start), JSON-ready."""
    return {"episode": str(option["episode"]), "track": int(option["track"]), "start": int(option["start"])}


def hand_picks(needs, ranked, top: int, chosen: dict) -> tuple[dict[int, pd.Series], list[str]]:
    """{story row: the candidate the user chose} among each scene's shown ``top``, and a
    line per choice that no longer applies (not among the candidates, or its shot taken
    by an earlier scene's choice)."""
    picks, ignored, shots = {}, [], {}
    for row, need in enumerate(needs):
        choice = chosen.get(need.scene.number)
        if choice is None:
            continue
        key = tuple(choice_of(choice).values())
        shown = ranked[row].head(top)
        match = [
            position for position, option in shown.iterrows() if tuple(choice_of(option).values()) == key
        ]
        if not match:
            ignored.append(f"scene {need.scene.number}: chosen {key} is no longer among its candidates")
            continue
        pick = shown.loc[match[0]]
        if pick["shot_key"] in shots:
            ignored.append(
                f"scene {need.scene.number}: chosen {key} shares its shot with scene {shots[pick['shot_key']]}'s"
            )
            continue
        shots[pick["shot_key"]] = need.scene.number
        picks[row] = pick
    return picks, ignored


def choose(
    needs: list[SceneNeeds], candidates: pd.DataFrame, *, top: int, chosen: dict | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cut: one row per scene in story order, CUT_COLUMNS; options: each scene's best
    ``top`` candidates, the pick among them marked). ``chosen``: {scene number:
    choice_of(candidate)}, the user's own picks among those candidates."""
    shot_key = candidates["episode"].astype(str) + "#" + candidates["shot"].astype(str)
    candidates = candidates.assign(shot_key=shot_key.to_numpy())
    shots = sorted(set(shot_key))
    column = {key: i for i, key in enumerate(shots)}
    ranked = [scene_scores(need, candidates) for need in needs]
    picks, ignored = hand_picks(needs, ranked, top, chosen or {})
    for line in ignored:
        log.warning("choice ignored: %s", line)
    by_hand = set(picks)
    taken = {pick["shot_key"] for pick in picks.values()}
    free = [row for row in range(len(needs)) if row not in by_hand]
    if shots and free:
        from scipy.optimize import linear_sum_assignment

        infeasible = -1e6
        score = np.full((len(free), len(shots)), infeasible)
        best = {}
        for line, row in enumerate(free):
            # the best segment of each shot for this scene (tables are sorted best first)
            table = ranked[row]
            for position, key in zip(table.index, table["shot_key"]):
                if key not in taken and (row, key) not in best:
                    best[row, key] = position
                    score[line, column[key]] = table.at[position, "score"]
        lines, columns = linear_sum_assignment(score, maximize=True)
        for line, col in zip(lines, columns):
            if score[line, col] > infeasible:
                picks[free[line]] = ranked[free[line]].loc[best[free[line], shots[col]]]
    used = {pick["shot_key"] for pick in picks.values()}
    cut, options = [], []
    for row, need in enumerate(needs):
        wanted = EMOTIONS[int(np.argmax(need.distribution))]
        status, dropped, pick = (CHOSEN if row in by_hand else PICKED), (), picks.get(row)
        kept = need.characters
        if pick is None:
            status = NO_FOOTAGE
            for group in relaxations(need):
                found = []
                for dropped, relaxed in group:
                    # the characters still wanted (relaxed.characters) stay a constraint
                    table = scene_scores(relaxed, candidates, tuple(c for c in dropped if c != "characters"))
                    table = table[~table["shot_key"].isin(used)]
                    if not table.empty:
                        found.append((table["score"].iloc[0], table.iloc[0], dropped, relaxed.characters))
                if found:  # max keeps the first of equal scores
                    _, pick, dropped, kept = max(found, key=lambda f: f[0])
                    used.add(pick["shot_key"])
                    break
        cut.append(_cut_row(need, pick, status, dropped, wanted, kept))
        for rank, option in enumerate(ranked[row].head(top).itertuples(index=False), start=1):
            options.append(
                {
                    "scene": need.scene.number,
                    "rank": rank,
                    "picked": pick is not None
                    and status != NO_FOOTAGE
                    and option.shot_key == pick["shot_key"]
                    and option.start == pick["start"]
                    and option.track == pick["track"],
                    **{
                        k: getattr(option, k) for k in ("episode", "track", "shot", "start", "end", "seconds")
                    },
                    "emotion": option.emotion,
                    "fit": round(option.fit, 4),
                    "mean_confidence": option.mean_confidence,
                    "faces": option.faces_max,
                    "video": option.video,
                    "shot_start": option.shot_start,
                    "shot_end": option.shot_end,
                }
            )
    log.info(
        "%d scenes: %d picked (%d of them chosen by hand), %d with no footage meeting every "
        "constraint (%d of them without any)",
        len(cut),
        sum(c["status"] != NO_FOOTAGE for c in cut),
        sum(c["status"] == CHOSEN for c in cut),
        sum(c["status"] == NO_FOOTAGE for c in cut),
        sum(not c["episode"] for c in cut),
    )
    return pd.DataFrame(cut, columns=CUT_COLUMNS), pd.DataFrame(options)


def _cut_row(need: SceneNeeds, pick, status: str, dropped, wanted: str, kept) -> dict:
    scene = need.scene
    asked = [f"wants {wanted} ({need.emotion_source})"]
    if need.faces:
        asked.append(f"{'>= ' if need.faces_at_least else ''}{need.faces} face(s) ({need.faces_source})")
    if scene.seconds:
        asked.append(f">= {scene.seconds:g} s")
    if need.characters:
        asked.append("with " + ", ".join(need.characters))
    if need.excluded:
        asked.append("not " + ", ".join(need.excluded))
    if pick is None:
        return dict.fromkeys(CUT_COLUMNS, "") | {
            "scene": scene.number,
            "status": NO_FOOTAGE,
            "wanted": wanted,
            "relaxed": ";".join(RELAX_ORDER),
            "why": "; ".join(asked) + "; nothing in the index, even with every constraint relaxed",
        }
    start, end = int(pick["start"]), int(pick["end"])
    if scene.seconds and end - start > scene.seconds:
        # the wanted length, centred in the segment (whole seconds)
        extra = end - start - int(np.ceil(scene.seconds))
        start += extra // 2
        end = start + int(np.ceil(scene.seconds))
    why = "; ".join(asked) + f"; fit {pick['fit']:.3f}: {pick['emotion']} on {int(pick['faces_max'])} face(s)"
    if dropped:
        why += f"; no footage meets every constraint: nearest match with {', '.join(dropped)} relaxed"
        if kept:
            why += f" (still with {', '.join(kept)})"
    if status == CHOSEN:
        why += "; chosen by hand on the storyboard"
    return {
        "scene": scene.number,
        "status": status,
        "episode": pick["episode"],
        "track": int(pick["track"]),
        "shot": int(pick["shot"]),
        "start": start,
        "end": end,
        "seconds": end - start,
        "faces": int(pick["faces_max"]),
        "characters": ";".join(sorted(pick["characters"])),
        "emotion": pick["emotion"],
        "wanted": wanted,
        "fit": round(float(pick["fit"]), 4),
        "mean_confidence": float(pick["mean_confidence"]),
        "video": pick["video"],
        "shot_start": pick["shot_start"],
        "shot_end": pick["shot_end"],
        "relaxed": ";".join(dropped),
        "why": why,
    }

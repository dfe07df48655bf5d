"""Characters: tracks of one person grouped across shots and episodes, from their faces'
identity descriptors (faces.identity), with no distance threshold given by the user.

What separates two people is read off the footage itself: two tracks on screen at the
same second are two people (``cannot_link``), so the distances between such pairs show
how far apart different people are on *this* footage and this model (on bench-cast, with
the pipeline's detections, the closest 1% of the pairs of sharp faces lie below 0.49; on
JAFFE's Japanese faces people are far closer, and dlib's customary 0.6 merges everyone).
Only pairs of sharp tracks count where there are enough (faces of at least the chip's
face side, faces.identity.SHARP_FACE_SIDE): small faces are upsampled and their
descriptors crowd together. ``cluster_tracks`` then:

1. cuts an average-linkage tree of the track descriptors at that distance (the
   ``SEPARATION_PERCENTILE`` of those pairs): small groups, each of one person (where there
   are more than ``LINKAGE_TRACKS`` tracks: a tree of those with the largest faces, then of
   the tracks farther than that distance from every group so far, and so on);
2. keeps the groups with tracks of at least ``MIN_SEED_TRACKS`` moments as seeds (a one-off
   face has no character; a moment is a run of tracks that continue one another across a
   cut, ``continuing``: the same place in the next second and closer than that distance,
   since a face a shot detector cut in three is still seen once) and merges two seeds whose centres are closer than ``MERGE_FRACTION`` of
   that distance, unless a track of one was on screen with a track of the other;
3. gives every track the nearest seed's character when it lies within the seeds' own
   spread (the ``RADIUS_PERCENTILE`` of their members' leave-one-out distances to their
   centres, taken at a member's distance, so a small cast keeps its farthest member), and leaves it
   ``UNKNOWN`` otherwise, never forced into a character (on bench-cast the outer 1% of
   seed members are mostly other people).

Characters kept from an earlier cast (``fixed``: the cast page's edits) keep their
numbers and members; new groups and tracks join them as they would join any seed.

Every value chosen, and from what, is returned with the labels (``record``), for the cast
table to keep. With too few pairs on screen together to read a distance from
(``MIN_SEPARATION_PAIRS``), the model's customary 0.6 is used and the record says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

UNKNOWN = -1  # a track without a character: too far from every one, or not describable
SEPARATION_PERCENTILE = 1.0
MIN_SEPARATION_PAIRS = 10
CUSTOMARY_THRESHOLD = 0.6  # dlib's own tolerance, used only without pairs to read one from
MIN_SEED_TRACKS = 3  # moments (runs of continuing tracks), not tracks
# A track continues another across a cut when its first box overlaps the other's last box
# of the second before at least this much (a person who stayed where they were).
CONTINUE_IOU = 0.5
MERGE_FRACTION = 0.8
RADIUS_PERCENTILE = 99.0
# Tracks the average-linkage tree of step 1 is built from, at most: its condensed distance
# matrix takes n(n - 1)/2 doubles, twice (scipy copies it), so 5,000 tracks take 200 MB and
# a season of a stage show's 5,400 tracks an hour (bench/speed.py's hour) would take 60 GB.
# Beyond it, trees of the largest faces first, then of the tracks no group so far explains.
LINKAGE_TRACKS = 5000


def cannot_link(tracks: pd.DataFrame) -> set[tuple[int, int]]:
    """Pairs (i, j), i < j, of rows of ``tracks`` (one per track: ``episode``, ``track``)
    whose tracks share a second on screen; ``tracks["seconds"]`` lists each one's."""
    by_second: dict[tuple, list[int]] = {}
    for row, (episode, seconds) in enumerate(zip(tracks["episode"], tracks["seconds"])):
        for second in seconds:
            by_second.setdefault((episode, int(second)), []).append(row)
    pairs = set()
    for rows in by_second.values():
        for a in rows:
            for b in rows:
                if a < b:
                    pairs.add((a, b))
    return pairs


def continuing(tracks: pd.DataFrame) -> set[tuple[int, int]]:
    """Pairs (i, j) of rows of ``tracks`` (``episode``; ``first_second``, ``last_second``;
    ``first_box``, ``last_box`` as x y w h) where track j starts the second after track i
    ends, its first box overlapping i's last by CONTINUE_IOU or more: one face beyond a cut
    (a shot detector's false cut, or a person who stayed in place)."""
    from dramaemo.footage.tracks import iou_matrix

    pairs = set()
    starting = tracks.reset_index(drop=True).groupby(["episode", "first_second"]).groups
    for row, (episode, last, box) in enumerate(
        zip(tracks["episode"], tracks["last_second"], tracks["last_box"])
    ):
        following = starting.get((episode, last + 1))
        if following is None:
            continue
        following = np.asarray(following)
        overlap = iou_matrix(np.asarray([box]), np.stack(tracks["first_box"].to_numpy()[following]))[0]
        pairs |= {(row, int(other)) for other in following[overlap >= CONTINUE_IOU]}
    return pairs


def cluster_tracks(
    descriptors: np.ndarray,
    pairs: set[tuple[int, int]],
    sharp=None,
    fixed=None,
    excluded=(),
    sides=None,
    continues=frozenset(),
) -> tuple[np.ndarray, dict]:
    """(character per row of ``descriptors``, 0.. or UNKNOWN; the record of how). Rows
    with NaN (faces that could not be described) are UNKNOWN. ``sharp``: per row, whether
    its faces are large enough for a descriptor that is not upsampled (None: all are);
    the separating distance is read off pairs of such tracks where there are enough, since
    small faces' descriptors crowd together (on bench-cast, background faces of 60-80 px,
    different people, lie 0.33 apart, below most pairs of the cast).

    ``fixed``: label -> rows of characters kept from an earlier cast (the user's, with
    their names): they keep their numbers and members, new groups close to one join it,
    other tracks are assigned to them as to any seed, and new characters are numbered
    after them. ``excluded``: rows split off by the user, left UNKNOWN. ``sides``: per row,
    the side of its largest face (None: all alike), which tracks seed the characters where
    more than LINKAGE_TRACKS could. ``continues``: pairs of rows of which the second may
    continue the first across a cut (``continuing``): linked into one moment where their
    descriptors lie closer than the separating distance; a seed needs MIN_SEED_TRACKS moments."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import cdist

    descriptors = np.asarray(descriptors, dtype=float)
    labels = np.full(len(descriptors), UNKNOWN)
    usable = np.flatnonzero(~np.isnan(descriptors).any(axis=1))
    position = {row: i for i, row in enumerate(usable)}
    vectors = descriptors[usable]
    sharp = np.ones(len(descriptors), dtype=bool) if sharp is None else np.asarray(sharp, dtype=bool)
    pairs = [(a, b) for a, b in pairs if a in position and b in position]
    sharp_pairs = {(position[a], position[b]) for a, b in pairs if sharp[a] and sharp[b]}
    pairs = {(position[a], position[b]) for a, b in pairs}
    record = {"tracks": len(descriptors), "described": len(usable), "separation_pairs": len(pairs)}
    if len(usable) < 2:
        return labels, record | {"characters": 0, "threshold": None, "threshold_from": "fewer than 2 tracks"}
    measured, which = (sharp_pairs, "sharp ") if len(sharp_pairs) >= MIN_SEPARATION_PAIRS else (pairs, "")
    if len(measured) >= MIN_SEPARATION_PAIRS:
        apart = np.linalg.norm(vectors[[a for a, _ in measured]] - vectors[[b for _, b in measured]], axis=1)
        threshold = float(np.percentile(apart, SEPARATION_PERCENTILE))
        source = f"percentile {SEPARATION_PERCENTILE:g} of {len(measured)} pairs of {which}tracks on screen together"
    else:
        threshold = CUSTOMARY_THRESHOLD
        source = f"dlib's customary {CUSTOMARY_THRESHOLD} (only {len(pairs)} pairs on screen together)"
    moment = moments(
        vectors,
        [(position[a], position[b]) for a, b in continues if a in position and b in position],
        threshold,
    )
    record["moments"] = int(moment.max()) + 1
    fixed = {label: {position[r] for r in rows if r in position} for label, rows in (fixed or {}).items()}
    fixed = {label: rows for label, rows in fixed.items() if rows}
    excluded = {position[r] for r in excluded if r in position}
    pinned = set().union(*fixed.values()) if fixed else set()
    free = np.array([i for i in range(len(vectors)) if i not in pinned and i not in excluded], dtype=int)
    # seeds: the kept characters, then new groups of the other tracks
    seeds: dict[tuple[str, int], set[int]] = {("kept", label): set(rows) for label, rows in fixed.items()}
    # groups of the free tracks, at most LINKAGE_TRACKS in one tree: the largest faces first,
    # then, round after round, the tracks farther than the distance from every group so far
    waiting, largest = free, np.zeros(len(descriptors)) if sides is None else np.asarray(sides, dtype=float)
    rounds = 0
    while len(waiting) >= 2:
        seeding = np.sort(waiting[np.argsort(-largest[usable[waiting]], kind="stable")[:LINKAGE_TRACKS]])
        groups = fcluster(linkage(vectors[seeding], "average"), threshold, "distance")
        sizes = pd.Series(moment[seeding]).groupby(groups).nunique()
        for group in sizes[sizes >= MIN_SEED_TRACKS].index:
            seeds[("new", len(seeds))] = set(seeding[groups == group].tolist())
        rounds += 1
        waiting = np.setdiff1d(waiting, seeding)
        found = [sorted(rows) for key, rows in seeds.items() if key[0] == "new"]
        if len(waiting) and found:
            centres = np.stack([vectors[rows].mean(axis=0) for rows in found])
            waiting = waiting[cdist(vectors[waiting], centres).min(axis=1) > threshold]
    if rounds > 1:
        record["seed_rounds"] = f"{rounds} trees of at most {LINKAGE_TRACKS} tracks (of {len(free)})"
    apart_of: dict[int, set[int]] = {}
    for a, b in pairs:
        apart_of.setdefault(a, set()).add(b)
        apart_of.setdefault(b, set()).add(a)
    merge_below = MERGE_FRACTION * threshold
    merged = True
    while merged and len(seeds) > 1:
        merged = False
        keys = sorted(seeds)
        centres = np.stack([vectors[sorted(seeds[k])].mean(axis=0) for k in keys])
        distances = cdist(centres, centres)
        np.fill_diagonal(distances, np.inf)
        for flat in np.argsort(distances, axis=None):
            i, j = np.unravel_index(flat, distances.shape)
            if distances[i, j] >= merge_below:
                break
            a, b = keys[i], keys[j]
            if a[0] == b[0] == "kept":  # the user's characters stay apart
                continue
            if b[0] == "kept":  # a new group joins a kept character, never the other way
                a, b = b, a
            if not any(apart_of.get(row, set()) & seeds[b] for row in seeds[a]):
                seeds[a] |= seeds.pop(b)
                merged = True
                break
    record |= {
        "threshold": round(threshold, 4),
        "threshold_from": source,
        "merge_below": round(merge_below, 4),
    }
    if not seeds:
        return labels, record | {"characters": 0, "radius": None, "kept": 0}
    # kept characters keep their numbers; new ones follow, in order of first appearance
    kept = sorted(k for k in seeds if k[0] == "kept")
    fresh = sorted((k for k in seeds if k[0] == "new"), key=lambda k: min(seeds[k]))
    start = max((k[1] for k in kept), default=-1) + 1
    number = {k: k[1] for k in kept} | {k: start + i for i, k in enumerate(fresh)}
    keys = kept + fresh
    centres = np.stack([vectors[sorted(seeds[k])].mean(axis=0) for k in keys])
    distances = cdist(vectors, centres)
    # each member's distance to the centre of the others (n / (n - 1) times its distance to
    # its seed's centre): what a new track of that character will lie at, not the
    # shorter distance of a point that pulled the centre towards itself
    spread = np.concatenate(
        [
            distances[sorted(seeds[k]), i] * len(seeds[k]) / (len(seeds[k]) - 1)
            for i, k in enumerate(keys)
            if len(seeds[k]) > 1
        ]
        or [np.zeros(1)]
    )
    radius = float(np.percentile(spread, RADIUS_PERCENTILE, method="higher"))
    nearest = distances.argmin(axis=1)
    inside = distances[np.arange(len(vectors)), nearest] <= radius
    assigned = np.array([number[keys[i]] for i in nearest])
    inside[sorted(excluded | pinned)] = False
    labels[usable[inside]] = assigned[inside]
    for label, rows in fixed.items():
        labels[usable[sorted(rows)]] = label
    return labels, record | {
        "kept": len(kept),
        "characters": len(keys),
        "radius": round(radius, 4),
        "unknown": int((labels == UNKNOWN).sum()),
    }


def moments(vectors: np.ndarray, continues, threshold: float) -> np.ndarray:
    """The moment (0..) of each row of ``vectors``: the connected runs of the ``continues``
    pairs whose descriptors lie closer than ``threshold``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    links = [(a, b) for a, b in continues if np.linalg.norm(vectors[a] - vectors[b]) < threshold]
    rows, cols = (np.array([link[i] for link in links], dtype=int) for i in (0, 1))
    graph = coo_matrix((np.ones(len(links)), (rows, cols)), shape=(len(vectors), len(vectors)))
    return connected_components(graph, directed=False)[1]

"""Faces linked across consecutive seconds of one shot into tracks (one character).

At one sample per second a face moves little within a shot, so a box is matched to the
boxes of the tracks still open (seen within ``max_gap`` + 1 seconds, same shot) by
the Hungarian assignment (``scipy.optimize.linear_sum_assignment``) on 1 - IoU, and a
pair is linked only when its IoU reaches ``min_iou`` or its centres are closer than
``centre_gate`` times the larger face side. A cut ends every track.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

BOX = ["x", "y", "w", "h"]
NO_LINK = 1e6  # cost of a pair that fails both gates


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N x 4, x y w h) with every box of ``b`` (M x 4)."""
    a, b = np.asarray(a, dtype=float)[:, None, :], np.asarray(b, dtype=float)[None, :, :]
    left = np.maximum(a[..., 0], b[..., 0])
    top = np.maximum(a[..., 1], b[..., 1])
    right = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2])
    bottom = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Centre distance of every pair, in units of the pair's larger face side."""
    a, b = np.asarray(a, dtype=float)[:, None, :], np.asarray(b, dtype=float)[None, :, :]
    dx = (a[..., 0] + a[..., 2] / 2) - (b[..., 0] + b[..., 2] / 2)
    dy = (a[..., 1] + a[..., 3] / 2) - (b[..., 1] + b[..., 3] / 2)
    side = np.maximum(np.maximum(a[..., 2], a[..., 3]), np.maximum(b[..., 2], b[..., 3]))
    return np.hypot(dx, dy) / np.maximum(side, 1)


def link_tracks(
    faces: pd.DataFrame, min_iou: float = 0.3, centre_gate: float = 0.5, max_gap: int = 0
) -> np.ndarray:
    """Track id of every face row (columns second, shot, x, y, w, h), numbered from 0
    in order of first appearance; rows of one second never share a track."""
    track = np.full(len(faces), -1, dtype=np.int64)
    if faces.empty:
        return track
    order = faces.sort_values(["second", "x"], kind="stable").index
    positions = pd.Series(np.arange(len(faces)), index=faces.index)
    # open tracks: id -> (last second, shot, box)
    open_tracks: dict[int, tuple[int, int, np.ndarray]] = {}
    next_id = 0
    for second, group in faces.loc[order].groupby("second", sort=True):
        shot = group["shot"].to_numpy()
        boxes = group[BOX].to_numpy(dtype=float)
        candidates = [t for t, (last, _, _) in open_tracks.items() if second - last <= max_gap + 1]
        assigned = np.full(len(group), -1)
        if candidates:
            previous = np.stack([open_tracks[t][2] for t in candidates])
            previous_shot = np.array([open_tracks[t][1] for t in candidates])
            iou = iou_matrix(boxes, previous)
            near = centre_distance(boxes, previous) <= centre_gate
            allowed = ((iou >= min_iou) | near) & (shot[:, None] == previous_shot[None, :])
            cost = np.where(allowed, 1.0 - iou, NO_LINK)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if allowed[r, c]:
                    assigned[r] = candidates[c]
        for r, label in enumerate(assigned):
            if label < 0:
                label, next_id = next_id, next_id + 1
            assigned[r] = label
            open_tracks[int(label)] = (int(second), int(shot[r]), boxes[r])
        track[positions.loc[group.index].to_numpy()] = assigned
        # tracks beyond the gap or in an earlier shot can never be linked again
        open_tracks = {
            t: v for t, v in open_tracks.items() if second - v[0] <= max_gap and v[1] == shot.max()
        }
    return track

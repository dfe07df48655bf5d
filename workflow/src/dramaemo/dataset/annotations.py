"""The annotation CSV: read, validate, and join with the face crops (dataset + report).

Input format (UTF-8, header row): ``episode,second,x,y,w,h,emotion,description``.
``episode`` is the video's file name without extension, ``second`` a whole second from
the start, ``x,y,w,h`` the face box in original pixels (empty when the frame has exactly
one face), ``emotion`` one of the seven classes in any case (or a key of the config's
``label_map``), ``description`` free text.

A detection belongs to a row when its box centre lies inside the row's box (same episode
and second); a detection inside several rows' boxes goes to the row it overlaps most, and
of several detections inside one row's box the one overlapping most is kept. Every row and
every detection ends in exactly one category of the join report, so nothing is dropped
without being counted. Row numbers are the file's line numbers (the header is row 1).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.core.errors import UserError
from dramaemo.dataset.manifests import read_manifest
from dramaemo.faces.detection import MANIFEST_COLUMNS

log = logging.getLogger(__name__)

ANNOTATION_COLUMNS = ("episode", "second", "x", "y", "w", "h", "emotion", "description")
BOX = ["x", "y", "w", "h"]
# Two annotation rows label the same face when episode, second and box agree.
ITEM_KEY = ["episode", "second", *BOX]
DATASET_COLUMNS = [
    "item_id",
    "episode",
    "second",
    "face_index",
    "x",
    "y",
    "w",
    "h",
    "crop_path",
    "emotion",
    "description",
    "scene_id",
]
# `file`: the annotation CSV of a row (config `annotations` may list several).
REPORT_COLUMNS = ["category", "kind", "row", "episode", "second", "face_index", "detail", "file"]

# Join report categories, in report order, with what they mean. Rows are checked in this
# order and land in the first category that applies.
CATEGORIES = {
    "matched": "annotated face matched to a detection (in the dataset)",
    "no_detection": "annotated face with no detection at its place",
    "ambiguous": "annotation without a box in a frame with several faces",
    "malformed_row": "row with more or fewer fields than the header",
    "non_utf8_description": "row whose text is not valid UTF-8",
    "episode_without_video": "row of an episode that has no video",
    "non_integer_second": "row whose second is not a whole number >= 0",
    "second_beyond_video": "row whose second lies after the end of the video",
    "unknown_label": "row whose emotion is not a class (nor in label_map)",
    "empty_description": "row with an empty description",
    "bad_box": "row whose box is partial, not numeric, negative or out of the frame",
    "conflict": "rows of the same episode, second and box with different emotions (none used)",
    "duplicate": "row repeating an earlier row's episode, second, box and emotion",
    "tie_resolved": "match chosen among several candidates by the larger overlap",
    "unannotated_detection": "detection with no annotation row (background face, false alarm)",
    "extra_detection": "second detection inside an annotated box (not used)",
    "video_without_annotations": "episode with a video but no annotation row",
    "skipped_video": "episode whose video could not be read (on_bad_video: skip)",
}
ROW_CATEGORIES = [
    "matched",
    "no_detection",
    "ambiguous",
    "malformed_row",
    "non_utf8_description",
    "episode_without_video",
    "non_integer_second",
    "second_beyond_video",
    "unknown_label",
    "empty_description",
    "bad_box",
    "conflict",
    "duplicate",
]
EXAMPLES_IN_MARKDOWN = 15  # per category; the CSV lists everything
# Longest field the reader takes (csv's default, 128 KiB, would make a file holding one
# long description unreadable as a whole).
MAX_FIELD_CHARS = 1 << 24


def read_annotations(path: str | Path) -> pd.DataFrame:
    """The annotation CSV as strings, with ``row`` (its line in the file; header = 1).

    Bytes that are not UTF-8 are kept as surrogate escapes so that the rows holding them
    can be counted, not lost. Raises UserError for an unreadable file or missing columns.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UserError(f"{path}: cannot read the annotation CSV ({error.strerror})") from None
    text = raw.decode("utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8", errors="surrogateescape")
    if not text.strip():
        raise UserError(f"{path}: empty annotation CSV; header must be {','.join(ANNOTATION_COLUMNS)}")
    # csv, not pandas: pandas re-encodes the text and fails on the surrogate escapes.
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [column.strip().lower() for column in next(reader)]
        missing = [column for column in ANNOTATION_COLUMNS if column not in header]
        if missing:
            other = next((d for d in (";", "\t", "|") if d in ",".join(header)), None)
            hint = f" (the header is separated by {other!r}: save the file with commas)" if other else ""
            raise UserError(
                f"{path}: row 1: missing column(s) {', '.join(missing)}; the header must "
                f"be {','.join(ANNOTATION_COLUMNS)}{hint}"
            )
        positions = [header.index(column) for column in ANNOTATION_COLUMNS]
        records, start = [], reader.line_num + 1
        for fields in reader:
            if any(field.strip() for field in fields):  # blank lines are no rows
                malformed = len(fields) != len(header)
                fields = fields + [""] * (len(header) - len(fields))
                values = [fields[i] for i in positions]
                # Flag undecodable bytes, then show them as U+FFFD (pandas' Arrow strings
                # refuse surrogate escapes).
                non_utf8 = [c for c, v in zip(ANNOTATION_COLUMNS, values) if _has_surrogates(v)]
                values = [v.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for v in values]
                records.append([start, malformed, ",".join(non_utf8), *values])
            start = reader.line_num + 1
    except csv.Error as error:
        raise UserError(f"{path}: row {reader.line_num}: not a readable CSV ({error})") from None
    table = pd.DataFrame(records, columns=["row", "malformed", "non_utf8", *ANNOTATION_COLUMNS])
    table["fields"] = [len(header)] * len(table)
    return table


def item_id(episode: str, second: int, face_index: int) -> str:
    """The id of one face of one second: the dataset's, the labelling page's and every
    table keyed by item use this one scheme."""
    return f"{episode}_{int(second):06d}_{int(face_index)}"


def read_labels(path: str | Path, label_map: dict[str, str] | None = None) -> pd.DataFrame:
    """An annotation CSV as one label per item, for comparing annotators: emotions in
    canonical case (``label_map`` applied, as in the join); errors name the file and the
    row (its line number, as in the join report)."""
    table = read_annotations(path)
    emotions = table["emotion"].map(lambda value: normalise_label(value, label_map or {}))
    unknown = emotions.isna()
    if unknown.any():
        first = table[unknown].iloc[0]
        raise UserError(
            f"{path}: row {first['row']}: unknown emotion {first['emotion']!r} ({int(unknown.sum())} "
            f"such rows); use one of {', '.join(EMOTIONS)} or map it with config label_map"
        )
    table["emotion"] = emotions
    repeated = table.duplicated(ITEM_KEY, keep="first")
    if repeated.any():
        raise UserError(
            f"{path}: row {table[repeated].iloc[0]['row']}: the same episode, second and box as an "
            "earlier row"
        )
    return table[list(ANNOTATION_COLUMNS)]


def normalise_label(value: str, label_map: dict[str, str]) -> str | None:
    """The class name of an emotion label, case-insensitive, or None when unknown."""
    key = value.strip().lower()
    mapped = {k.strip().lower(): v for k, v in label_map.items()}
    if key in mapped:
        return mapped[key]
    return {emotion.lower(): emotion for emotion in EMOTIONS}.get(key)


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in value)


def _whole_number(value: str) -> int | None:
    try:
        number = float(value)
    except ValueError:
        return None
    if not np.isfinite(number) or not number.is_integer() or number < 0:
        return None
    return int(number)


def _check_box(record, width: int, height: int) -> tuple[tuple | None, str | None]:
    """(box or None for no box, problem or None)."""
    values = [record[name].strip() for name in BOX]
    if not any(values):
        return None, None
    if not all(values):
        return None, "partial box (give all of x,y,w,h or none)"
    try:
        x, y, w, h = (float(value) for value in values)
    except ValueError:
        return None, f"box is not numeric ({','.join(values)})"
    if not np.isfinite([x, y, w, h]).all():
        return None, f"box is not numeric ({','.join(values)})"
    if min(x, y) < 0 or w <= 0 or h <= 0:
        return None, f"negative or empty box ({','.join(values)})"
    if x + w > width or y + h > height:
        return None, f"box {','.join(values)} leaves the {width}x{height} frame"
    return (x, y, w, h), None


def validate_rows(table: pd.DataFrame, infos: dict[str, dict], label_map: dict[str, str]) -> pd.DataFrame:
    """Adds ``category``/``detail`` (first problem of each row, "" when valid), the
    parsed ``sec``, ``box`` and ``label``."""
    categories, details, seconds, boxes, labels = [], [], [], [], []
    for record in table.to_dict("records"):
        category, detail, second, box, label = "", "", None, None, None
        if record["malformed"]:
            category = "malformed_row"
            detail = f"not {record['fields']} fields like the header (a quote not closed?)"
        elif record["non_utf8"]:
            category = "non_utf8_description"
            detail = f"bytes that are not UTF-8 in {record['non_utf8']}; save the CSV as UTF-8"
        elif record["episode"] not in infos:
            category = "episode_without_video"
            detail = f"no video for episode '{record['episode']}' in episodes_dir"
        elif infos[record["episode"]].get("skipped"):
            category = "episode_without_video"
            detail = (
                f"the video of episode '{record['episode']}' was skipped: "
                f"{infos[record['episode']]['skipped']}"
            )
        elif (second := _whole_number(record["second"])) is None:
            category = "non_integer_second"
            detail = f"second '{record['second']}' is not a whole number >= 0"
        elif second >= infos[record["episode"]]["frames"]:
            category = "second_beyond_video"
            detail = f"second {second}, but the video has {infos[record['episode']]['frames']} seconds"
        elif (label := normalise_label(record["emotion"], label_map)) is None:
            category = "unknown_label"
            detail = f"emotion '{record['emotion']}' is not one of {', '.join(EMOTIONS)}; add it to label_map"
        elif not record["description"].strip():
            category = "empty_description"
            detail = "description is empty"
        else:
            info = infos[record["episode"]]
            box, problem = _check_box(record, info["width"], info["height"])
            if problem:
                category, detail = "bad_box", problem
        categories.append(category)
        details.append(detail)
        seconds.append(second)
        boxes.append(box)
        labels.append(label)
    table = table.copy()
    table["category"], table["detail"] = categories, details
    table["sec"], table["box"], table["label"] = seconds, boxes, labels
    return _mark_repeats(table)


def _row_name(record, several_files: bool) -> str:
    """How the report names a row: "row 3", or "row 3 of bob.csv" with several files."""
    return f"row {record['row']}" + (f" of {Path(record['file']).name}" if several_files else "")


def _mark_repeats(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the same face (episode, second, box), in one file or across files: with
    one emotion they are duplicates (the first kept); with different emotions every one
    of them is a conflict, so that no label wins by file order."""
    several = "file" in table and table["file"].nunique() > 1
    groups: dict[tuple, list[int]] = {}
    for index, record in table[table["category"] == ""].iterrows():
        groups.setdefault((record["episode"], record["sec"], record["box"]), []).append(index)
    for indices in groups.values():
        if len(indices) < 2:
            continue
        records = table.loc[indices]
        if records["label"].nunique() > 1:
            listing = ", ".join(f"{_row_name(r, several)}: {r['label']}" for r in records.to_dict("records"))
            table.loc[indices, "category"] = "conflict"
            table.loc[indices, "detail"] = f"different emotions for one face ({listing})"
        else:
            first = _row_name(records.iloc[0], several)
            table.loc[indices[1:], "category"] = "duplicate"
            table.loc[indices[1:], "detail"] = f"same episode, second and box as {first}"
    return table


def _overlap(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _contains_centre(row_box, det_box) -> bool:
    cx, cy = det_box[0] + det_box[2] / 2, det_box[1] + det_box[3] / 2
    x, y, w, h = row_box
    return x <= cx <= x + w and y <= cy <= y + h


def match_frame(rows: list[dict], faces: dict[int, tuple]):
    """Match the valid rows and the detections (face_index -> box) of one frame.

    Rows are dicts with ``ref`` (unique over all annotation files), ``row`` (line
    number, for messages) and ``box``. Returns ({ref: face_index}, {ref:
    category/detail}, {face_index: category/detail}) where unlisted rows are unmatched
    and unlisted faces unannotated.
    """
    line = {r["ref"]: r["row"] for r in rows}
    matches, row_notes, face_notes = {}, {}, {}
    boxed = [r for r in rows if r["box"] is not None]
    # Each detection to the boxed row whose box holds its centre; ties: larger overlap.
    claims: dict[int, list[tuple[float, int]]] = {}
    for face_index, face in faces.items():
        candidates = sorted(
            ((_overlap(r["box"], face), r["ref"]) for r in boxed if _contains_centre(r["box"], face)),
            reverse=True,
        )
        if not candidates:
            continue
        overlap, row = candidates[0]
        claims.setdefault(row, []).append((overlap, face_index))
        if len(candidates) > 1:
            face_notes[face_index] = (
                "tie_resolved",
                f"centre inside the boxes of rows "
                f"{', '.join(str(line[c[1]]) for c in candidates)}; "
                f"given to row {line[row]} (larger overlap)",
            )
    for row, claimed in claims.items():
        claimed.sort(reverse=True)
        matches[row] = claimed[0][1]
        for _, extra in claimed[1:]:
            face_notes[extra] = (
                "extra_detection",
                f"also inside the box of row {line[row]}, which overlaps more with face {claimed[0][1]}",
            )
        if len(claimed) > 1:
            row_notes[row] = (
                "tie_resolved",
                f"{len(claimed)} detections inside the box; kept face {claimed[0][1]} (larger overlap)",
            )
    for r in rows:
        if r["box"] is not None:
            continue
        if len(faces) == 1 and len(rows) == 1:
            matches[r["ref"]] = next(iter(faces))
        elif len(faces) > 1 or len(rows) > 1:
            row_notes[r["ref"]] = (
                "ambiguous",
                f"no box, but the frame has {len(faces)} faces and {len(rows)} rows; give the box",
            )
    return matches, row_notes, face_notes


def scene_ids(rows: pd.DataFrame) -> pd.Series:
    """Scenes: runs of consecutive seconds with the same description in one episode.

    Rows of one second may belong to different scenes (two characters, two texts).
    """
    ordered = rows.sort_values(["episode", "description", "sec"])
    same_run = (
        (ordered["episode"] == ordered["episode"].shift())
        & (ordered["description"] == ordered["description"].shift())
        & (ordered["sec"] - ordered["sec"].shift() <= 1)
    )
    run = (~same_run).cumsum()
    runs = pd.DataFrame(
        {"episode": ordered["episode"], "run": run, "start": ordered.groupby(run)["sec"].transform("min")}
    )
    # Number the scenes in time order inside each episode.
    firsts = runs.drop_duplicates("run").sort_values(["episode", "start", "run"])
    firsts["name"] = firsts["episode"] + "-s" + firsts.groupby("episode").cumcount().map("{:04d}".format)
    return run.map(dict(zip(firsts["run"], firsts["name"]))).reindex(rows.index)


def read_annotation_files(paths) -> pd.DataFrame:
    """Every annotation CSV of ``paths`` (one path or a list), as one table with ``file``
    (the path of each row) and ``ref`` (a row's number over all files)."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    tables = [read_annotations(path).assign(file=str(path)) for path in paths]
    table = pd.concat(tables, ignore_index=True)
    table["ref"] = range(len(table))
    return table


def join(
    annotations,
    manifests: dict[str, pd.DataFrame],
    infos: dict[str, dict],
    label_map: dict[str, str] | None = None,
):
    """(dataset table, report table, summary dict) of one annotation CSV or a list of
    them (e.g. one per annotator)."""
    label_map = label_map or {}
    table = validate_rows(read_annotation_files(annotations), infos, label_map)
    valid = table[table["category"] == ""].copy()
    valid["sec"] = valid["sec"].astype(int)
    detections = (
        pd.concat(list(manifests.values()), ignore_index=True)
        if manifests
        else pd.DataFrame(columns=MANIFEST_COLUMNS)
    )
    valid["scene_id"] = scene_ids(valid) if len(valid) else pd.Series(dtype=str)
    # Plain dicts from here on: pandas row access per frame is ~100x slower.
    faces_by_frame: dict[tuple, dict[int, dict]] = {}
    for d in detections.to_dict("records"):
        faces_by_frame.setdefault((d["episode"], int(d["second"])), {})[int(d["face_index"])] = d
    rows_by_frame: dict[tuple, list[dict]] = {}
    for r in valid.to_dict("records"):
        rows_by_frame.setdefault((r["episode"], r["sec"]), []).append(r)
    report, items = [], []
    used_faces: dict[tuple, tuple[str, str]] = {}
    for (episode, second), rows in sorted(rows_by_frame.items()):
        faces = faces_by_frame.get((episode, second), {})
        boxes = {i: (f["x"], f["y"], f["w"], f["h"]) for i, f in faces.items()}
        matches, row_notes, face_notes = match_frame(rows, boxes)
        for r in rows:
            description = r["description"].strip()
            ref, file = r["ref"], r["file"]
            if ref in matches:
                face = faces[matches[ref]]
                items.append(
                    {
                        "item_id": item_id(episode, second, face["face_index"]),
                        "episode": episode,
                        "second": second,
                        "face_index": face["face_index"],
                        "x": face["x"],
                        "y": face["y"],
                        "w": face["w"],
                        "h": face["h"],
                        "crop_path": face["crop_path"],
                        "emotion": r["label"],
                        "description": description,
                        "scene_id": r["scene_id"],
                    }
                )
                used_faces[(episode, second, face["face_index"])] = ("matched", "")
                report.append(
                    (
                        "matched",
                        "row",
                        r["row"],
                        episode,
                        second,
                        face["face_index"],
                        f"{r['label']}: {description[:80]}",
                        file,
                    )
                )
                if ref in row_notes:
                    report.append(
                        (
                            row_notes[ref][0],
                            "row",
                            r["row"],
                            episode,
                            second,
                            face["face_index"],
                            row_notes[ref][1],
                            file,
                        )
                    )
            elif ref in row_notes:
                category, detail = row_notes[ref]
                report.append((category, "row", r["row"], episode, second, "", detail, file))
            else:
                where = "at its box" if r["box"] is not None else "in the frame"
                report.append(
                    ("no_detection", "row", r["row"], episode, second, "", f"no face detected {where}", file)
                )
        for face_index, (category, detail) in face_notes.items():
            if category == "extra_detection":
                used_faces[(episode, second, face_index)] = (category, detail)
            else:
                report.append((category, "detection", "", episode, second, face_index, detail, ""))
    for r in table[table["category"] != ""].to_dict("records"):
        report.append(
            (
                r["category"],
                "row",
                r["row"],
                r["episode"],
                r["sec"] if r["sec"] is not None else r["second"],
                "",
                r["detail"],
                r["file"],
            )
        )
    for frame, faces in faces_by_frame.items():
        for face_index, d in faces.items():
            category, detail = used_faces.get(
                (*frame, face_index), ("unannotated_detection", "no annotation row")
            )
            if category != "matched":
                report.append(
                    (
                        category,
                        "detection",
                        "",
                        *frame,
                        face_index,
                        f"{detail}; box {d['x']},{d['y']},{d['w']},{d['h']}",
                        "",
                    )
                )
    skipped = {episode for episode, info in infos.items() if info.get("skipped")}
    for episode in sorted(skipped):
        report.append(
            (
                "skipped_video",
                "episode",
                "",
                episode,
                "",
                "",
                f"{infos[episode].get('path', 'the video')}: {infos[episode]['skipped']}",
                "",
            )
        )
    annotated = set(table["episode"])
    for episode in sorted(set(infos) - annotated - skipped):
        report.append(
            (
                "video_without_annotations",
                "episode",
                "",
                episode,
                "",
                "",
                "the episode has a video but no annotation row",
                "",
            )
        )
    order = list(CATEGORIES)
    report.sort(
        key=lambda e: (
            order.index(e[0]),
            str(e[3]),
            e[4] if isinstance(e[4], int) else -1,
            e[7],
            e[2] if isinstance(e[2], int) else 0,
            e[5] if isinstance(e[5], int) else -1,
        )
    )
    dataset = pd.DataFrame(items, columns=DATASET_COLUMNS)
    report = pd.DataFrame(report, columns=REPORT_COLUMNS)
    counts = report["category"].value_counts()
    # every valid row is matched, not detected or ambiguous
    assessed = int(sum(counts.get(c, 0) for c in ("matched", "no_detection", "ambiguous")))
    assert assessed == len(valid)
    summary = {
        "annotation_rows": len(table),
        "valid_rows": len(valid),
        "annotated_faces_matched": int(counts.get("matched", 0)),
        "matched_share": counts.get("matched", 0) / assessed if assessed else 0.0,
        "detections": len(detections),
        "counts": {c: int(counts.get(c, 0)) for c in CATEGORIES},
        "files": table["file"].drop_duplicates().tolist(),
    }
    row_total = sum(summary["counts"][c] for c in ROW_CATEGORIES)
    assert row_total == len(table), "every annotation row must be in exactly one category"
    return dataset, report, summary


def report_markdown(report: pd.DataFrame, summary: dict, annotations) -> str:
    """The join report for people: counts, the matched share, examples of each problem."""
    share = summary["matched_share"]
    lines = [
        "# Join report",
        "",
        f"Annotation CSV: {_file_list(annotations)}: {summary['annotation_rows']} rows, "
        f"{summary['valid_rows']} valid. Detections: {summary['detections']}.",
        "",
        f"**{summary['annotated_faces_matched']} of {summary['valid_rows']} valid "
        f"annotated faces matched ({share:.1%})**; "
        f"{summary['annotation_rows'] - summary['valid_rows']} rows could not be used.",
        "",
        "| category | count | meaning |",
        "|---|---:|---|",
    ]
    lines += [f"| {c} | {n} | {CATEGORIES[c]} |" for c, n in summary["counts"].items()]
    lines += [
        "",
        "Row numbers are line numbers in the annotation CSV (header = 1). The "
        "full list is in the CSV report next to this file.",
        "",
    ]
    for category in CATEGORIES:
        if category == "matched":
            continue
        entries = report[report["category"] == category]
        if entries.empty:
            continue
        lines += [f"## {category} ({len(entries)})", ""]
        several = len(summary.get("files", [])) > 1
        for e in entries.head(EXAMPLES_IN_MARKDOWN).itertuples():
            where = " ".join(
                part
                for part in (
                    f"row {e.row}" if e.row != "" else "",
                    f"of {Path(e.file).name}" if several and e.file else "",
                    f"{e.episode}",
                    f"second {e.second}" if e.second != "" else "",
                    f"face {e.face_index}" if e.face_index != "" else "",
                )
                if part
            )
            lines.append(f"- {where}: {e.detail}")
        if len(entries) > EXAMPLES_IN_MARKDOWN:
            lines.append(f"- ... and {len(entries) - EXAMPLES_IN_MARKDOWN} more (see CSV)")
        lines.append("")
    return "\n".join(lines)


def _file_list(annotations) -> str:
    paths = [annotations] if isinstance(annotations, (str, Path)) else annotations
    return ", ".join(f"`{path}`" for path in paths)


def plot_join(summary: dict, path: str | Path) -> None:
    """Bar chart of the join report's counts (rows, detections, episodes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = {c: n for c, n in summary["counts"].items() if n}
    figure, axes = plt.subplots(figsize=(7, 0.35 * len(counts) + 1.2))
    colours = [
        "tab:green"
        if c == "matched"
        else "tab:gray"
        if c in ("unannotated_detection", "extra_detection", "tie_resolved")
        else "tab:red"
        for c in counts
    ]
    axes.barh(list(counts), list(counts.values()), color=colours)
    axes.invert_yaxis()
    axes.bar_label(axes.containers[0], padding=2)
    axes.set_xlabel("count")
    axes.set_title(f"Join report: {summary['matched_share']:.1%} of annotated faces matched")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _episode_name(path: str, suffix: str) -> str:
    name = Path(path).name
    if not name.endswith(suffix):
        raise UserError(f"{path}: expected a file named <episode>{suffix}")
    return name[: -len(suffix)]


def _run_join(args) -> None:
    manifests = {_episode_name(p, ".manifest.csv"): read_manifest(p) for p in args.manifests}
    infos = {_episode_name(p, ".info.json"): json.loads(Path(p).read_text()) for p in args.infos}
    if set(manifests) != set(infos):
        raise UserError("join-annotations: --manifests and --infos name different episodes")
    label_map = json.loads(args.label_map) if args.label_map else {}
    for video in json.loads(args.skipped_videos):  # no frames, no faces; listed
        infos[video["episode"]] = {
            "path": video["file"],
            "skipped": video["reason"],
            "width": 0,
            "height": 0,
            "frames": 0,
        }
        manifests[video["episode"]] = pd.DataFrame(columns=MANIFEST_COLUMNS)
    dataset, report, summary = join(args.annotations, manifests, infos, label_map)
    for path in (args.output, args.report_csv, args.report_md):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    dataset.to_csv(args.output, index=False)
    report.to_csv(args.report_csv, index=False)
    Path(args.report_md).write_text(report_markdown(report, summary, args.annotations))
    if args.plot:
        plot_join(summary, args.plot)
    log.info(
        "%d of %d annotation rows matched (%.1f%% of valid annotated faces); %d detections; counts %s",
        summary["annotated_faces_matched"],
        summary["annotation_rows"],
        100 * summary["matched_share"],
        summary["detections"],
        {k: v for k, v in summary["counts"].items() if v},
    )
    if dataset.empty:  # the report stays for the user to read; split then stops
        log.warning(
            "%s: no annotation row matched a detected face; see %s",
            ", ".join(args.annotations),
            args.report_md,
        )


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "join-annotations", help="match crops with the annotation CSV; dataset + report"
    )
    parser.add_argument(
        "--annotations", nargs="+", required=True, help="annotation CSV(s), e.g. one per annotator"
    )
    parser.add_argument(
        "--manifests", nargs="+", required=True, help="crop manifests, <episode>.manifest.csv"
    )
    parser.add_argument(
        "--infos", nargs="+", required=True, help="frame infos, <episode>.info.json (size, seconds)"
    )
    parser.add_argument("--label-map", default="{}", help="JSON object: label -> class")
    parser.add_argument(
        "--skipped-videos",
        default="[]",
        help="JSON list of {episode, file, reason}: videos left out by the "
        "video check (on_bad_video: skip), listed in the report",
    )
    parser.add_argument("--output", required=True, help="dataset CSV")
    parser.add_argument("--report-csv", required=True)
    parser.add_argument("--report-md", required=True)
    parser.add_argument("--plot", help="PNG bar chart of the report's counts")
    parser.set_defaults(func=_run_join)

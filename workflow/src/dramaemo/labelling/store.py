"""The labelling page's data: the crops it shows and the labels it stores.

``read_manifests`` lists the crops of the pipeline's manifests
(``results/crops/{episode}.manifest.csv``), each with the dataset's item id
(dramaemo.dataset.annotations.item_id). ``LabelStore`` keeps one annotator's labels durably:
every action (label, skip, undo) is first appended to an event log next to the CSV
(``<out>.log.jsonl``, one JSON object a line, naming the annotator), flushed and fsynced
under a thread lock and a file lock (``fcntl.flock``), before the page hears back. The
CSV, in the pipeline's annotation format, is derived from the log and replaced
atomically (temp file + fsync + ``os.replace``) after each action, and rebuilt from the
log at start-up. A crash can at worst cut the log's last line, which was never
acknowledged; two tabs, or two servers on the same file, each read the other's events
under the lock before writing.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dramaemo.core.durable import LOG_SUFFIX, EventLog, replace_text
from dramaemo.core.errors import UserError
from dramaemo.dataset.annotations import ANNOTATION_COLUMNS
from dramaemo.dataset.annotations import item_id as face_item_id
from dramaemo.dataset.manifests import read_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Crop:
    """One face crop of a manifest row, with its files located."""

    episode: str
    second: int
    face_index: int
    x: int
    y: int
    w: int
    h: int
    crop_file: str  # relative to the crops root, with '/' separators (its URL path)
    frame_file: Path | None  # None when the manifest names no frame

    @property
    def item_id(self) -> str:
        return face_item_id(self.episode, self.second, self.face_index)


# ---------------------------------------------------------------------------- manifests


def _locate(value: str, manifest: Path, crops_root: Path) -> Path | None:
    """A manifest path, taken as written (absolute, or relative to the working
    directory, as the pipeline writes it), else relative to the manifest or crops root."""
    path = Path(value)
    candidates = [path] if path.is_absolute() else [path, manifest.parent / path, crops_root / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    return None


def _whole_number(manifest: Path, row_number: int, column: str, value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise UserError(
            f"{manifest}: row {row_number}: {column} {value!r} is not a whole number; "
            "fix the row, or rerun the crop step that wrote the manifest"
        ) from None
    if number < minimum:
        raise UserError(f"{manifest}: row {row_number}: {column} {number} is below {minimum}")
    return number


def read_manifests(manifests: list[str | Path], crops_root: str | Path) -> tuple[list[Crop], list[str]]:
    """The crops of the manifests, ordered by episode, second and face index.

    Returns the crops and the dropped rows (a line each, naming file and row): rows whose
    crop file is missing, and repeated (episode, second, face_index). Rows that cannot be
    read, or whose crop lies outside ``crops_root``, raise UserError.
    """
    root = Path(crops_root).resolve()
    if not root.is_dir():
        raise UserError(
            f"{crops_root}: crops directory not found; pass the folder of the crops (results/crops)"
        )
    if not manifests:
        raise UserError("no manifest given; pass --manifest results/crops/*.manifest.csv")
    crops: dict[str, Crop] = {}
    first_row: dict[str, str] = {}
    dropped: list[str] = []
    for manifest in map(Path, manifests):
        table = read_manifest(manifest, dtype=str)
        for row_number, row in enumerate(table.to_dict("records"), start=1):
            where = f"{manifest}: row {row_number}"
            numbers = {
                column: _whole_number(manifest, row_number, column, row[column], minimum)
                for column, minimum in (
                    ("second", 0),
                    ("face_index", 0),
                    ("x", 0),
                    ("y", 0),
                    ("w", 1),
                    ("h", 1),
                )
            }
            if not row["episode"]:
                raise UserError(f"{where}: empty episode")
            crop_path = _locate(row["crop_path"], manifest, root) if row["crop_path"] else None
            if crop_path is None:
                dropped.append(f"{where}: crop file {row['crop_path']!r} not found")
                continue
            if not crop_path.is_relative_to(root):
                raise UserError(
                    f"{where}: crop {row['crop_path']} lies outside the crops directory {root}; "
                    "pass the folder that holds the crops as --crops-root"
                )
            frame_path = _locate(row["frame_path"], manifest, root) if row["frame_path"] else None
            crop = Crop(
                episode=row["episode"],
                **numbers,
                crop_file=crop_path.relative_to(root).as_posix(),
                frame_file=frame_path,
            )
            if crop.item_id in crops:
                dropped.append(f"{where}: repeats {crop.item_id} of {first_row[crop.item_id]}")
                continue
            crops[crop.item_id] = crop
            first_row[crop.item_id] = where
    ordered = sorted(crops.values(), key=lambda crop: (crop.episode, crop.second, crop.face_index))
    return ordered, dropped


# ---------------------------------------------------------------------------- label store


class NothingToUndo(Exception):
    """Undo asked for with no label or skip left to take back."""


class LabelStore:
    """One annotator's labels: an append-only event log and the CSV derived from it.

    Events: ``label`` (item, emotion, description), ``skip`` (item) and ``undo`` (the
    ``seq`` of the event it takes back). Each event carries the item's episode, second,
    face index and box, so the CSV keeps labels of crops that are no longer served.
    """

    def __init__(self, out: str | Path, annotator: str, crops: list[Crop]):
        self.out = Path(out)
        self.log_path = self.out.with_name(self.out.name + LOG_SUFFIX)
        self.annotator = annotator
        self.crops = {crop.item_id: crop for crop in crops}
        self.order = [crop.item_id for crop in crops]
        self.position = {item_id: index for index, item_id in enumerate(self.order, start=1)}
        self.at_second: dict[tuple[str, int], list[str]] = {}  # faces of each episode second
        for crop in crops:
            self.at_second.setdefault((crop.episode, crop.second), []).append(crop.item_id)
        if self.out.exists() and not self.log_path.exists():
            raise UserError(
                f"{self.out}: exists but has no label log {self.log_path.name}, so it was not "
                "written by `dramaemo label`; choose another --out (it would be overwritten)"
            )
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._log = EventLog(self.log_path)
        self._events: list[dict] = []  # every event, in log order
        self._effective: dict[int, dict] = {}  # seq -> label/skip event not undone, by seq
        self._item_seqs: dict[str, list[int]] = {}  # item_id -> its effective events' seqs
        self._state: dict[str, dict] = {}  # item_id -> its latest effective event
        self._csv_rows: dict[str, tuple[tuple, str]] = {}  # item_id -> (sort key, CSV line)
        with self._log.locked():
            self._catch_up()
            self._write_csv()

    def close(self) -> None:
        self._log.close()

    # -- locking and the log

    def _locked(self):
        """Thread lock for this process's tabs, file lock for other processes."""
        return self._log.locked()

    def _catch_up(self) -> None:
        """Apply what the log holds beyond what we have read (other servers' events)."""
        for line, event in self._log.catch_up():
            if event.get("annotator") != self.annotator:
                raise UserError(
                    f"{self.log_path}: line {line}: labels of annotator "
                    f"{event.get('annotator')!r}, not {self.annotator!r}; give each "
                    "annotator their own --out file"
                )
            self._apply(event)

    def _apply(self, event: dict) -> None:
        """Update the state by one event (incrementally: thousands of labels stay fast)."""
        self._events.append(event)
        if event["action"] == "undo":
            target = self._effective.pop(event["undoes"], None)
            if target is None:
                return
            item_id = target["item_id"]
            self._item_seqs[item_id].remove(target["seq"])
        else:
            item_id = event["item_id"]
            self._effective[event["seq"]] = event
            self._item_seqs.setdefault(item_id, []).append(event["seq"])
        seqs = self._item_seqs.get(item_id)
        latest = self._effective[seqs[-1]] if seqs else None
        self._state.pop(item_id, None)
        self._csv_rows.pop(item_id, None)
        if latest is not None:
            self._state[item_id] = latest
            if latest["action"] == "label":
                line = io.StringIO()
                csv.writer(line, lineterminator="\n").writerow(
                    [latest[column] for column in ANNOTATION_COLUMNS]
                )
                key = (latest["episode"], latest["second"], latest["face_index"])
                self._csv_rows[item_id] = (key, line.getvalue())

    def _append(self, event: dict) -> dict:
        """Write one event durably (caller holds the lock and has caught up)."""
        event = {
            "seq": len(self._events) + 1,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "annotator": self.annotator,
            **event,
        }
        self._log.append(event)
        self._apply(event)
        self._write_csv()
        return event

    def _write_csv(self) -> None:
        """Replace the CSV by the labels in effect, atomically (sorted by episode, second)."""
        text = (
            ",".join(ANNOTATION_COLUMNS) + "\n" + "".join(line for _, line in sorted(self._csv_rows.values()))
        )
        replace_text(self.out, text)

    # -- actions

    def _item_fields(self, item_id: str) -> dict:
        crop = self.crops[item_id]
        return {
            "item_id": item_id,
            "episode": crop.episode,
            "second": crop.second,
            "face_index": crop.face_index,
            "x": crop.x,
            "y": crop.y,
            "w": crop.w,
            "h": crop.h,
        }

    def label(self, item_id: str, emotion: str, description: str) -> dict:
        with self._locked():
            self._catch_up()
            return self._append(
                {
                    "action": "label",
                    **self._item_fields(item_id),
                    "emotion": emotion,
                    "description": description,
                }
            )

    def skip(self, item_id: str) -> dict:
        with self._locked():
            self._catch_up()
            return self._append({"action": "skip", **self._item_fields(item_id)})

    def undo(self) -> dict:
        """Take back the latest label or skip still in effect; returns that event."""
        with self._locked():
            self._catch_up()
            if not self._effective:
                raise NothingToUndo
            target = self._effective[next(reversed(self._effective))]  # the latest seq
            self._append(
                {
                    "action": "undo",
                    "undoes": target["seq"],
                    "item_id": target["item_id"],
                    "episode": target["episode"],
                    "second": target["second"],
                    "face_index": target["face_index"],
                }
            )
            return target

    # -- reading

    def snapshot(self) -> dict:
        """Labels and skips in effect, caught up with other writers."""
        with self._locked():
            self._catch_up()
            return dict(self._state)


def next_item(store: LabelStore, state: dict[str, dict]) -> str | None:
    """The first crop neither labelled nor skipped; then the skipped ones, in order."""
    skipped = None
    for item_id in store.order:
        event = state.get(item_id)
        if event is None:
            return item_id
        if event["action"] == "skip" and skipped is None:
            skipped = item_id
    return skipped


def prefill(store: LabelStore, state: dict[str, dict], item_id: str) -> tuple[str, int | None]:
    """Description of the previous second of the same episode (same face first)."""
    crop = store.crops[item_id]
    candidates = sorted(
        (
            state[other]
            for other in store.at_second.get((crop.episode, crop.second - 1), [])
            if state.get(other, {}).get("action") == "label"
        ),
        key=lambda event: (event["face_index"] != crop.face_index, event["face_index"]),
    )
    if not candidates:
        return "", None
    return candidates[0]["description"], candidates[0]["second"]

"""The labelling page: sort face crops into the 7 emotions and describe the situation.

``dramaemo label`` serves a local web page (Flask) over the crop manifests that the
pipeline writes (``results/crops/{episode}.manifest.csv``). The page shows one crop at a
time; keys 1-7 pick the emotion, the description is pre-filled from the previous second
of the same episode. Labels go to an annotation CSV in the pipeline's input format
(``episode,second,x,y,w,h,emotion,description``), one file per annotator.

Durability: every action (label, skip, undo) is first appended to an event log next to
the CSV (``<out>.log.jsonl``, one JSON object a line, naming the annotator), flushed and
fsynced under a thread lock and a file lock (``fcntl.flock``), before the page hears
back. The CSV is derived from the log and replaced atomically (temp file + fsync +
``os.replace``) after each action, and rebuilt from the log at start-up. A crash can at
worst cut the log's last line, which was never acknowledged; two tabs, or two servers
on the same file, each read the other's events under the lock before writing.

``dramaemo label-agreement a.csv b.csv`` reports Cohen's kappa over the crops that two
annotators both labelled.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import fcntl
import getpass
import io
import itertools
import json
import logging
import os
import re
import tempfile
import threading
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from flask import Flask, abort, jsonify, render_template, request, send_file, send_from_directory, url_for
from werkzeug.exceptions import HTTPException

from dramaemo import EMOTIONS
from dramaemo.errors import UserError
from dramaemo.tables import read_csv_checked

log = logging.getLogger(__name__)

# The pipeline's input format (see README, "Annotation CSV"); a label file has exactly these.
ANNOTATION_COLUMNS = ("episode", "second", "x", "y", "w", "h", "emotion", "description")
MANIFEST_COLUMNS = (
    "episode", "second", "face_index", "x", "y", "w", "h", "crop_path", "frame_path",
)
# Two annotation rows are the same item when episode, second and box agree.
ITEM_KEY = ("episode", "second", "x", "y", "w", "h")
LOG_SUFFIX = ".log.jsonl"
DEFAULT_MAX_DESCRIPTION = 500
# A request body never needs more than a description and a few fields.
MAX_REQUEST_BYTES = 64 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
ANNOTATOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


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
        return f"{self.episode}:{self.second}:{self.face_index}"


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
        raise UserError(f"{crops_root}: crops directory not found; pass the folder of the crops (results/crops)")
    if not manifests:
        raise UserError("no manifest given; pass --manifest results/crops/*.manifest.csv")
    crops: dict[str, Crop] = {}
    first_row: dict[str, str] = {}
    dropped: list[str] = []
    for manifest in map(Path, manifests):
        table = read_csv_checked(
            manifest, MANIFEST_COLUMNS, dtype=str, what="manifest",
            fix="run the pipeline up to the crops first "
                "(snakemake --cores 2 results/crops/<episode>.manifest.csv)",
        )
        for row_number, row in enumerate(table.to_dict("records"), start=1):
            where = f"{manifest}: row {row_number}"
            numbers = {
                column: _whole_number(manifest, row_number, column, row[column], minimum)
                for column, minimum in (
                    ("second", 0), ("face_index", 0), ("x", 0), ("y", 0), ("w", 1), ("h", 1),
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
                episode=row["episode"], **numbers,
                crop_file=crop_path.relative_to(root).as_posix(), frame_file=frame_path,
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


def _fsync_directory(folder: Path) -> None:
    """Make a rename inside ``folder`` survive a power cut."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


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
        self._thread_lock = threading.Lock()
        self._descriptor = os.open(self.log_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self._offset = 0  # bytes of the log already applied
        self._line_number = 0
        self._events: list[dict] = []  # every event, in log order
        self._effective: dict[int, dict] = {}  # seq -> label/skip event not undone, by seq
        self._item_seqs: dict[str, list[int]] = {}  # item_id -> its effective events' seqs
        self._state: dict[str, dict] = {}  # item_id -> its latest effective event
        self._csv_rows: dict[str, tuple[tuple, str]] = {}  # item_id -> (sort key, CSV line)
        with self._locked():
            self._catch_up()
            self._write_csv()

    def close(self) -> None:
        os.close(self._descriptor)

    # -- locking and the log

    @contextlib.contextmanager
    def _locked(self):
        """Thread lock for this process's tabs, file lock for other processes."""
        with self._thread_lock:
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._descriptor, fcntl.LOCK_UN)

    def _catch_up(self) -> None:
        """Apply what the log holds beyond what we have read (other servers' events)."""
        size = os.fstat(self._descriptor).st_size
        if size == self._offset:
            return
        data = os.pread(self._descriptor, size - self._offset, self._offset)
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            # Writers hold the lock until their whole line is on disk, so a partial line
            # here is a crash's remnant: never acknowledged, safe to cut.
            log.warning(
                "%s: dropping %d bytes of a line cut by a crash (never acknowledged)",
                self.log_path, len(data) - complete,
            )
            os.ftruncate(self._descriptor, self._offset + complete)
            os.fsync(self._descriptor)
        for line in data[:complete].splitlines():
            self._line_number += 1
            try:
                event = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise UserError(f"{self.log_path}: line {self._line_number}: not a JSON event") from None
            if event.get("annotator") != self.annotator:
                raise UserError(
                    f"{self.log_path}: line {self._line_number}: labels of annotator "
                    f"{event.get('annotator')!r}, not {self.annotator!r}; give each "
                    "annotator their own --out file"
                )
            self._apply(event)
        self._offset += complete

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
                csv.writer(line, lineterminator="\n").writerow([latest[column] for column in ANNOTATION_COLUMNS])
                key = (latest["episode"], latest["second"], latest["face_index"])
                self._csv_rows[item_id] = (key, line.getvalue())

    def _append(self, event: dict) -> dict:
        """Write one event durably (caller holds the lock and has caught up)."""
        event = {
            "seq": len(self._events) + 1,
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "annotator": self.annotator,
            **event,
        }
        line = (json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8")
        written = os.write(self._descriptor, line)
        if written != len(line):  # a full disk; cut what went out so the log stays whole
            os.ftruncate(self._descriptor, self._offset)
            raise OSError(f"{self.log_path}: short write ({written} of {len(line)} bytes)")
        os.fsync(self._descriptor)
        self._offset += len(line)
        self._line_number += 1
        self._apply(event)
        self._write_csv()
        return event

    def _write_csv(self) -> None:
        """Replace the CSV by the labels in effect, atomically (sorted by episode, second)."""
        text = ",".join(ANNOTATION_COLUMNS) + "\n" + "".join(line for _, line in sorted(self._csv_rows.values()))
        descriptor, temporary = tempfile.mkstemp(dir=self.out.parent, prefix=f".{self.out.name}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.out)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_directory(self.out.parent)

    # -- actions

    def _item_fields(self, item_id: str) -> dict:
        crop = self.crops[item_id]
        return {
            "item_id": item_id, "episode": crop.episode, "second": crop.second,
            "face_index": crop.face_index, "x": crop.x, "y": crop.y, "w": crop.w, "h": crop.h,
        }

    def label(self, item_id: str, emotion: str, description: str) -> dict:
        with self._locked():
            self._catch_up()
            return self._append(
                {"action": "label", **self._item_fields(item_id), "emotion": emotion, "description": description}
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
                {"action": "undo", "undoes": target["seq"], "item_id": target["item_id"],
                 "episode": target["episode"], "second": target["second"], "face_index": target["face_index"]}
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
        (state[other] for other in store.at_second.get((crop.episode, crop.second - 1), [])
         if state.get(other, {}).get("action") == "label"),
        key=lambda event: (event["face_index"] != crop.face_index, event["face_index"]),
    )
    if not candidates:
        return "", None
    return candidates[0]["description"], candidates[0]["second"]


# ---------------------------------------------------------------------------- agreement


def read_annotation_csv(path: str | Path) -> pd.DataFrame:
    """An annotation CSV with its emotions in canonical case; errors name file and row."""
    path = Path(path)
    table = read_csv_checked(path, ANNOTATION_COLUMNS, dtype=str, what="annotation CSV")
    canonical = {emotion.lower(): emotion for emotion in EMOTIONS}
    emotions = table["emotion"].str.strip().str.lower().map(canonical)
    unknown = emotions.isna()
    if unknown.any():
        row = int(unknown.to_numpy().argmax()) + 1
        raise UserError(
            f"{path}: row {row}: unknown emotion {table['emotion'].iloc[row - 1]!r} "
            f"({int(unknown.sum())} such rows); use one of {', '.join(EMOTIONS)}"
        )
    table["emotion"] = emotions
    repeated = table.duplicated(list(ITEM_KEY), keep="first")
    if repeated.any():
        row = int(repeated.to_numpy().argmax()) + 1
        raise UserError(f"{path}: row {row}: the same episode, second and box as an earlier row")
    return table


def agreement(first: pd.DataFrame, second: pd.DataFrame) -> dict:
    """Cohen's kappa and raw agreement over the items both tables label."""
    # Imported here: scikit-learn takes seconds to load and only agreement needs it.
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import cohen_kappa_score

    shared = first.merge(second, on=list(ITEM_KEY), suffixes=("_a", "_b"))
    result = {"shared": len(shared), "observed": None, "kappa": None, "shared_table": shared}
    if len(shared):
        result["observed"] = float((shared["emotion_a"] == shared["emotion_b"]).mean())
        with warnings.catch_warnings():
            # One emotion in every shared item makes kappa 0/0: reported as undefined.
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            kappa = cohen_kappa_score(shared["emotion_a"], shared["emotion_b"], labels=list(EMOTIONS))
        result["kappa"] = None if pd.isna(kappa) else float(kappa)
    return result


def _format_kappa(value: float | None) -> str:
    return "undefined (a single emotion in all shared items)" if value is None else f"{value:.3f}"


def run_agreement(args: argparse.Namespace) -> None:
    if len(args.annotations) < 2:
        raise UserError("label-agreement needs at least two annotation CSVs")
    tables = {path: read_annotation_csv(path) for path in args.annotations}
    report = []
    for (name_a, table_a), (name_b, table_b) in itertools.combinations(tables.items(), 2):
        result = agreement(table_a, table_b)
        shared = result.pop("shared_table")
        print(f"{name_a} ({len(table_a)} labels) vs {name_b} ({len(table_b)} labels): "
              f"{result['shared']} shared items")
        if result["shared"] == 0:
            print("  no crop labelled by both: nothing to compare (do the files cover the same manifests?)")
        else:
            print(f"  observed agreement {result['observed']:.3f}, Cohen's kappa {_format_kappa(result['kappa'])}")
            confusion = pd.crosstab(
                pd.Categorical(shared["emotion_a"], categories=EMOTIONS),
                pd.Categorical(shared["emotion_b"], categories=EMOTIONS),
                rownames=[f"rows: {Path(name_a).name}"], colnames=[f"columns: {Path(name_b).name}"],
                dropna=False,
            )
            print("  " + confusion.to_string().replace("\n", "\n  "))
        report.append({"a": name_a, "b": name_b, **result})
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------- web app


def _shown_path(path: Path) -> str:
    """A path as the annotator typed it: relative to the working directory when inside."""
    path = Path(os.path.abspath(path))
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def create_app(
    store: LabelStore,
    crops_root: str | Path,
    *,
    max_description: int = DEFAULT_MAX_DESCRIPTION,
    compare: list[str | Path] = (),
    dropped: list[str] = (),
    trusted_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS,
) -> Flask:
    """The labelling page and its JSON API over ``store``."""
    app = Flask(__name__)
    # TRUSTED_HOSTS refuses other Host headers: a web page cannot reach us by DNS rebinding.
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES, TRUSTED_HOSTS=list(trusted_hosts) if trusted_hosts else None
    )
    crops_root = Path(crops_root).resolve()
    crop_files = {crop.crop_file for crop in store.crops.values()}
    canonical = {emotion.lower(): emotion for emotion in EMOTIONS}
    compare = [Path(path) for path in compare]

    def item_payload(item_id: str, state: dict, description: str | None = None) -> dict:
        crop = store.crops[item_id]
        prefilled, source_second = prefill(store, state, item_id)
        return {
            "item_id": item_id, "episode": crop.episode, "second": crop.second,
            "face_index": crop.face_index, "box": {"x": crop.x, "y": crop.y, "w": crop.w, "h": crop.h},
            "crop_url": url_for("serve_crop", filename=crop.crop_file),
            "frame_url": url_for("serve_frame", item=item_id) if crop.frame_file else None,
            "description": prefilled if description is None else description,
            # the second the description was pre-filled from, if it was
            "prefilled_from": source_second if description is None else None,
            "skipped_before": state.get(item_id, {}).get("action") == "skip",
            "position": store.position[item_id],
        }

    def progress(state: dict) -> dict:
        labelled = [state[i]["emotion"] for i in store.order if state.get(i, {}).get("action") == "label"]
        counts = Counter(labelled)
        return {
            "total": len(store.order), "done": len(labelled), "left": len(store.order) - len(labelled),
            "skipped": sum(state.get(i, {}).get("action") == "skip" for i in store.order),
            "per_emotion": {emotion: counts.get(emotion, 0) for emotion in EMOTIONS},
        }

    def agreements(state: dict) -> list[dict]:
        if not compare:
            return []
        mine = pd.DataFrame(
            [{column: str(event[column]) for column in ANNOTATION_COLUMNS}
             for event in state.values() if event["action"] == "label"],
            columns=list(ANNOTATION_COLUMNS),
        )
        results = []
        for path in compare:
            try:
                other = read_annotation_csv(path)
            except UserError as error:
                results.append({"file": str(path), "error": str(error)})
                continue
            result = agreement(mine, other)
            result.pop("shared_table")
            results.append({"file": str(path), **result})
        return results

    def state_payload(current: str | None = None, description: str | None = None, **extra) -> dict:
        state = store.snapshot()
        item_id = current or next_item(store, state)
        return {
            "annotator": store.annotator,
            "item": item_payload(item_id, state, description) if item_id else None,
            "progress": progress(state),
            "agreement": agreements(state),
            "dropped": len(dropped),
            **extra,
        }

    def json_body() -> dict:
        # JSON only: a cross-site form cannot send it without a CORS preflight we never grant.
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(400, "send a JSON object with Content-Type: application/json")
        return body

    def known_item(body: dict) -> str:
        item_id = body.get("item_id")
        if not isinstance(item_id, str) or item_id not in store.crops:
            abort(404, f"unknown item {item_id!r}: not in the served manifests")
        return item_id

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify(error=error.description, status=error.code), error.code

    @app.get("/")
    def page():
        return render_template(
            "label.html", annotator=store.annotator, out=_shown_path(store.out), max_description=max_description,
            settings={"emotions": list(EMOTIONS), "maxDescription": max_description},
        )

    @app.get("/api/state")
    def api_state():
        return jsonify(state_payload())

    @app.post("/api/label")
    def api_label():
        body = json_body()
        item_id = known_item(body)
        emotion = body.get("emotion")
        if not isinstance(emotion, str) or emotion.strip().lower() not in canonical:
            abort(400, f"unknown emotion {emotion!r}; choose one of {', '.join(EMOTIONS)}")
        description = body.get("description", "")
        if not isinstance(description, str):
            abort(400, "description must be text")
        description = " ".join(description.split())  # one line, as the CSV wants
        if not description:
            abort(400, "description is empty; type what is happening (the pipeline drops rows "
                  "without one: join report, empty_description)")
        if len(description) > max_description:
            abort(400, f"description has {len(description)} characters; at most {max_description} are allowed")
        event = store.label(item_id, canonical[emotion.strip().lower()], description)
        payload = state_payload()
        log.info("%s: %s %s (%s); %d done, %d left", store.annotator, item_id, event["emotion"],
                 event["description"][:60], payload["progress"]["done"], payload["progress"]["left"])
        return jsonify(payload)

    @app.post("/api/skip")
    def api_skip():
        item_id = known_item(json_body())
        store.skip(item_id)
        log.info("%s: skipped %s", store.annotator, item_id)
        return jsonify(state_payload())

    @app.post("/api/undo")
    def api_undo():
        json_body()
        try:
            undone = store.undo()
        except NothingToUndo:
            abort(409, "nothing to undo")
        log.info("%s: undid %s of %s", store.annotator, undone["action"], undone["item_id"])
        if undone["item_id"] not in store.crops:  # labelled from a manifest no longer served
            return jsonify(state_payload(undone=undone["item_id"]))
        # Show the crop again, with the description that was typed for it.
        return jsonify(state_payload(undone["item_id"], undone.get("description"), undone=undone["item_id"]))

    @app.get("/crops/<path:filename>")
    def serve_crop(filename: str):
        # Only crops of the manifests; send_from_directory refuses '..' on its own too.
        if filename not in crop_files:
            abort(404, "no such crop")
        return send_from_directory(crops_root, filename, max_age=3600)

    @app.get("/frame")
    def serve_frame():
        item = store.crops.get(request.args.get("item", ""))
        if item is None or item.frame_file is None:
            abort(404, "no frame for this item")
        if not item.frame_file.is_file():
            abort(404, f"frame {item.frame_file} is gone (frames.keep: false removes frames after cropping)")
        return send_file(item.frame_file, max_age=3600)

    return app


# ---------------------------------------------------------------------------- command


def _serve(app: Flask, host: str, port: int) -> None:
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=True)
    log.info("labelling page at http://%s:%d/ (Ctrl+C stops; every label is already on disk)", host, server.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped")
    finally:
        server.server_close()


def run_label(args: argparse.Namespace) -> None:
    annotator = args.annotator.strip()
    if not annotator:
        try:
            annotator = getpass.getuser()
        except (KeyError, OSError):
            raise UserError("no --annotator given and no login name to use; pass --annotator NAME") from None
    if not ANNOTATOR_NAME.fullmatch(annotator):
        raise UserError(f"--annotator {annotator!r}: use letters, digits, '.', '-' or '_' (it may name a file)")
    if args.max_description < 1:
        raise UserError(f"--max-description {args.max_description}: must be at least 1")
    out = Path(args.out) if args.out else Path(args.out_dir) / f"{annotator}.csv"
    crops, dropped = read_manifests(args.manifest, args.crops_root)
    for line in dropped:
        log.warning("dropped %s", line)
    log.info("%d crops from %d manifest(s); %d row(s) dropped", len(crops), len(args.manifest), len(dropped))
    store = LabelStore(out, annotator, crops)
    log.info("labels of %s go to %s (event log %s)", annotator, out, store.log_path)
    loopback = args.host in LOOPBACK_HOSTS
    if not loopback:
        log.warning("--host %s: the page (and your labels) can be reached from other machines", args.host)
    app = create_app(
        store, args.crops_root, max_description=args.max_description, compare=args.compare,
        dropped=dropped, trusted_hosts=LOOPBACK_HOSTS if loopback else None,
    )
    try:
        _serve(app, args.host, args.port)
    finally:
        store.close()


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "label", help="serve the labelling page over face crops; writes an annotation CSV",
        description="Serve a local page that shows one face crop at a time: keys 1-7 pick "
        f"the emotion ({', '.join(f'{i} {e}' for i, e in enumerate(EMOTIONS, 1))}), S skips, "
        "U undoes, F shows the frame. Labels go to an annotation CSV (one per annotator).",
    )
    parser.add_argument("--manifest", nargs="+", required=True, help="crop manifest(s), results/crops/*.manifest.csv")
    parser.add_argument("--crops-root", default="results/crops", help="folder of the crops; nothing outside it is served")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", help="annotation CSV to write (its event log is <out>.log.jsonl)")
    where.add_argument("--out-dir", default="resources/labels", help="folder for <annotator>.csv when --out is not given")
    parser.add_argument("--annotator", default="", help="annotator name (default: the login name)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    parser.add_argument("--max-description", type=int, default=DEFAULT_MAX_DESCRIPTION, help="longest description accepted")
    parser.add_argument("--compare", nargs="*", default=[], help="other annotators' CSVs: the page shows Cohen's kappa")
    parser.set_defaults(func=run_label)

    agreement_parser = subparsers.add_parser(
        "label-agreement", help="Cohen's kappa between annotators over the crops they share",
        description="Pairwise agreement of annotation CSVs: an item is the same episode, second and box.",
    )
    agreement_parser.add_argument("annotations", nargs="+", help="two or more annotation CSVs")
    agreement_parser.add_argument("--json", help="also write the figures to this JSON file")
    agreement_parser.set_defaults(func=run_agreement)

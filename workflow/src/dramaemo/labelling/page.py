"""The labelling page: sort face crops into the 7 emotions and describe the situation.

``dramaemo label`` serves a local web page (Flask) over the crop manifests that the
pipeline writes (``results/crops/{episode}.manifest.csv``). The page shows one crop at a
time; keys 1-7 pick the emotion, the description is pre-filled from the previous second
of the same episode. Labels go to an annotation CSV in the pipeline's input format
(``episode,second,x,y,w,h,emotion,description``), one file per annotator, kept durably
by dramaemo.labelling.store; with ``--compare`` the page shows Cohen's kappa against other
annotators' files (dramaemo.labelling.agreement).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import re
from collections import Counter
from pathlib import Path

import pandas as pd
from flask import Flask, abort, jsonify, render_template, request, send_file, send_from_directory, url_for
from werkzeug.exceptions import HTTPException

from dramaemo import EMOTIONS
from dramaemo.core import paths
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.dataset.annotations import ANNOTATION_COLUMNS, read_labels
from dramaemo.labelling.agreement import agreement
from dramaemo.labelling.store import LabelStore, NothingToUndo, next_item, prefill, read_manifests

log = logging.getLogger(__name__)

# A request body never needs more than a description and a few fields.
MAX_REQUEST_BYTES = 64 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
ANNOTATOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

# ---------------------------------------------------------------------------- web app


def json_object() -> dict:
    """The request's JSON object, else 400. JSON only: a cross-site form cannot send it
    without a CORS preflight these pages never grant (the labelling and storyboard pages)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "send a JSON object with Content-Type: application/json")
    return body


def json_errors(app: Flask) -> None:
    """Answer every HTTP error of ``app`` as JSON (error, status): what the pages' scripts
    read (the labelling, cast and storyboard pages)."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify(error=error.description, status=error.code), error.code


def _shown_path(path: Path) -> str:
    """A path as the annotator typed it: relative to the working directory when inside."""
    path = Path(os.path.abspath(path))
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def create_app(
    store: LabelStore,
    crops_root: str | Path,
    *,
    max_description: int | None = None,
    compare: list[str | Path] = (),
    label_map: dict[str, str] | None = None,
    dropped: list[str] = (),
    trusted_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS,
) -> Flask:
    """The labelling page and its JSON API over ``store``."""
    if max_description is None:  # the schema holds the default (config label.max_description)
        max_description = schema_defaults("label", "max_description")
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
            "item_id": item_id,
            "episode": crop.episode,
            "second": crop.second,
            "face_index": crop.face_index,
            "box": {"x": crop.x, "y": crop.y, "w": crop.w, "h": crop.h},
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
            "total": len(store.order),
            "done": len(labelled),
            "left": len(store.order) - len(labelled),
            "skipped": sum(state.get(i, {}).get("action") == "skip" for i in store.order),
            "per_emotion": {emotion: counts.get(emotion, 0) for emotion in EMOTIONS},
        }

    def agreements(state: dict) -> list[dict]:
        if not compare:
            return []
        mine = pd.DataFrame(
            [
                {column: str(event[column]) for column in ANNOTATION_COLUMNS}
                for event in state.values()
                if event["action"] == "label"
            ],
            columns=list(ANNOTATION_COLUMNS),
        )
        results = []
        for path in compare:
            try:
                other = read_labels(path, label_map)
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

    def known_item(body: dict) -> str:
        item_id = body.get("item_id")
        if not isinstance(item_id, str) or item_id not in store.crops:
            abort(404, f"unknown item {item_id!r}: not in the served manifests")
        return item_id

    json_errors(app)

    @app.get("/")
    def page():
        return render_template(
            "label.html",
            annotator=store.annotator,
            out=_shown_path(store.out),
            max_description=max_description,
            settings={"emotions": list(EMOTIONS), "maxDescription": max_description},
        )

    @app.get("/api/state")
    def api_state():
        return jsonify(state_payload())

    @app.post("/api/label")
    def api_label():
        body = json_object()
        item_id = known_item(body)
        emotion = body.get("emotion")
        if not isinstance(emotion, str) or emotion.strip().lower() not in canonical:
            abort(400, f"unknown emotion {emotion!r}; choose one of {', '.join(EMOTIONS)}")
        description = body.get("description", "")
        if not isinstance(description, str):
            abort(400, "description must be text")
        description = " ".join(description.split())  # one line, as the CSV wants
        if not description:
            abort(
                400,
                "description is empty; type what is happening (the pipeline drops rows "
                "without one: join report, empty_description)",
            )
        if len(description) > max_description:
            abort(
                400, f"description has {len(description)} characters; at most {max_description} are allowed"
            )
        event = store.label(item_id, canonical[emotion.strip().lower()], description)
        payload = state_payload()
        log.info(
            "%s: %s %s (%s); %d done, %d left",
            store.annotator,
            item_id,
            event["emotion"],
            event["description"][:60],
            payload["progress"]["done"],
            payload["progress"]["left"],
        )
        return jsonify(payload)

    @app.post("/api/skip")
    def api_skip():
        item_id = known_item(json_object())
        store.skip(item_id)
        log.info("%s: skipped %s", store.annotator, item_id)
        return jsonify(state_payload())

    @app.post("/api/undo")
    def api_undo():
        json_object()
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


def serve(app: Flask, host: str, port: int, name: str, saved: str) -> None:
    """Serve ``app`` until Ctrl+C; ``name``: the page's, ``saved``: what is already on disk."""
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=True)
    log.info("%s at http://%s:%d/ (Ctrl+C stops; %s)", name, host, server.port, saved)
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
        raise UserError(
            f"--annotator {annotator!r}: use letters, digits, '.', '-' or '_' (it may name a file)"
        )
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
        store,
        args.crops_root,
        max_description=args.max_description,
        compare=args.compare,
        label_map=json.loads(args.label_map),
        dropped=dropped,
        trusted_hosts=LOOPBACK_HOSTS if loopback else None,
    )
    try:
        serve(app, args.host, args.port, "labelling page", "every label is already on disk")
    finally:
        store.close()


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "label",
        help="serve the labelling page over face crops; writes an annotation CSV",
        description="Serve a local page that shows one face crop at a time: keys 1-7 pick "
        f"the emotion ({', '.join(f'{i} {e}' for i, e in enumerate(EMOTIONS, 1))}), S skips, "
        "U undoes, F shows the frame. Labels go to an annotation CSV (one per annotator).",
    )
    parser.add_argument(
        "--manifest", nargs="+", required=True, help="crop manifest(s), results/crops/*.manifest.csv"
    )
    defaults = schema_defaults("label")
    parser.add_argument(
        "--crops-root", default=paths.CROPS_ROOT, help="folder of the crops; nothing outside it is served"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", help="annotation CSV to write (its event log is <out>.log.jsonl)")
    where.add_argument(
        "--out-dir", default=defaults["out_dir"], help="folder for <annotator>.csv when --out is not given"
    )
    parser.add_argument("--annotator", default="", help="annotator name (default: the login name)")
    parser.add_argument(
        "--host", default=defaults["host"], help="address to bind (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=defaults["port"], help="port (0 picks a free one)")
    parser.add_argument(
        "--max-description",
        type=int,
        default=defaults["max_description"],
        help="longest description accepted",
    )
    parser.add_argument(
        "--compare", nargs="*", default=[], help="other annotators' CSVs: the page shows Cohen's kappa"
    )
    parser.add_argument(
        "--label-map", default="{}", help="JSON {label: class} applied to the --compare files"
    )
    parser.set_defaults(func=run_label)

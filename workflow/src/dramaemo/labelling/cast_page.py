"""The cast page: one card per character, a strip of its faces from every episode; type
its name, merge two characters, split off a wrong track; every action saved by
labelling.cast_store before the page hears back. Keyboard-driven (the page lists the
keys): Up/Down (or k/j) move between cards, Enter names the card, Left/Right (or h/l)
move along its faces, x splits the face's track off, m marks the card and m on another
merges the marked one into it, u undoes the last action.

Served on 127.0.0.1 with the labelling page's rules (labelling.page): a trusted Host
header, JSON bodies only, small requests.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from flask import Flask, abort, jsonify, render_template, send_file

from dramaemo.core.errors import UserError
from dramaemo.labelling.cast_store import CastStore, NothingToUndo
from dramaemo.labelling.page import LOOPBACK_HOSTS, MAX_REQUEST_BYTES, json_errors, json_object

THUMBNAIL_SIDE = 96  # pixels of a face on a card
FACES_PER_CARD = 24  # faces shown per character (the tracks nearest its centre first)
FRAME_NAME = "{second:06d}.jpg"  # video.frames.FRAME_PATTERN's file of a second


def create_app(
    store: CastStore,
    faces: pd.DataFrame,
    frames_root: str | Path,
    *,
    trusted_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS,
) -> Flask:
    """The cast page over ``store``; ``faces``: one row per track (episode, track,
    distance, second, x, y, w, h: the face shown for it), ``frames_root``: the folder of
    the episodes' frame folders."""
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES, TRUSTED_HOSTS=list(trusted_hosts) if trusted_hosts else None
    )
    frames_root = Path(frames_root).resolve()
    shown = {
        (e, int(t)): row for e, t, row in zip(faces["episode"], faces["track"], faces.to_dict("records"))
    }

    def state_payload(**extra) -> dict:
        members, names, split = store.state()
        cards = []
        for character in sorted(members):
            tracks = sorted(
                (key for key in members[character] if key in shown),
                key=lambda key: (shown[key]["distance"], key),
            )
            if not members[character]:
                continue
            cards.append(
                {
                    "character": character,
                    "name": names.get(character, ""),
                    "tracks": len(members[character]),
                    "episodes": sorted({episode for episode, _ in members[character]}),
                    "faces": [
                        {"episode": e, "track": t, "second": int(shown[(e, t)]["second"])}
                        for e, t in tracks[:FACES_PER_CARD]
                    ],
                }
            )
        return {"cards": cards, "split": len(split), "names": str(store.names_path), **extra}

    def act(action, *args):
        try:
            action(*args)
        except UserError as error:
            abort(400, str(error))
        return jsonify(state_payload())

    json_errors(app)

    @app.get("/")
    def page():
        return render_template(
            "cast.html", names=str(store.names_path), edits=str(store.edits_path), face_side=THUMBNAIL_SIDE
        )

    @app.get("/api/state")
    def api_state():
        store.refresh()
        return jsonify(state_payload())

    @app.post("/api/name")
    def api_name():
        body = json_object()
        return act(store.name, str(body.get("character", "")), str(body.get("name", "")))

    @app.post("/api/merge")
    def api_merge():
        body = json_object()
        return act(store.merge, str(body.get("character", "")), str(body.get("into", "")))

    @app.post("/api/split")
    def api_split():
        body = json_object()
        track = body.get("track")
        if not isinstance(track, int):
            abort(400, "track must be a whole number")
        return act(store.split, str(body.get("episode", "")), track)

    @app.post("/api/undo")
    def api_undo():
        json_object()
        try:
            store.undo()
        except NothingToUndo:
            abort(409, "nothing to undo")
        return jsonify(state_payload())

    @app.get("/face/<episode>/<int:track>.jpg")
    def face(episode: str, track: int):
        import cv2

        row = shown.get((episode, track))
        if row is None:
            abort(404, f"no face of track {track} of {episode!r}")
        frame = cv2.imread(str(frames_root / episode / FRAME_NAME.format(second=int(row["second"]))))
        if frame is None:
            abort(404, f"no frame of second {row['second']} of {episode} (frames.keep: true keeps them)")
        x, y, w, h = (int(row[k]) for k in ("x", "y", "w", "h"))
        pad = w // 5  # a little of the hair and chin
        crop = frame[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad]
        crop = cv2.resize(crop, (THUMBNAIL_SIDE, THUMBNAIL_SIDE), interpolation=cv2.INTER_AREA)
        encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
        return send_file(io.BytesIO(encoded.tobytes()), mimetype="image/jpeg", max_age=3600)

    @app.after_request
    def no_framing(response):
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    return app

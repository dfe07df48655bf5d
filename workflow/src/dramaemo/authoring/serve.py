"""``dramaemo author STORY --serve``: the storyboard as a local page to swap picks on.

The page is the storyboard (authoring.export.storyboard_page) with keys and buttons: pick
another of a scene's candidates (or go back to the automatic pick) and the choice is saved
durably (authoring.choices) before the page hears back; then the cut is chosen again
around the user's picks and every output (rough cut, cut.csv, timelines, storyboard) is
written again, all or nothing. The labelling page's safety rules: 127.0.0.1 by default,
loopback Host headers only (no DNS rebinding), JSON bodies only (no cross-site form),
small bodies, and only the files of the plan are served.
"""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Flask, abort, jsonify, send_file, send_from_directory

from dramaemo.authoring.choices import read_choices, save_choice
from dramaemo.authoring.choose import choice_of
from dramaemo.authoring.export import storyboard_page
from dramaemo.labelling.page import LOOPBACK_HOSTS, MAX_REQUEST_BYTES, json_errors, json_object


def create_app(plan, outdir, choices_file, *, export, trusted_hosts=LOOPBACK_HOSTS) -> Flask:
    """The page and its API over ``plan`` (authoring.author.Plan, already exported into
    ``outdir``); ``export(plan)`` writes the outputs again after a pick."""
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES, TRUSTED_HOSTS=list(trusted_hosts) if trusted_hosts else None
    )
    outdir, choices_file = Path(outdir), Path(choices_file)
    lock = threading.Lock()  # one re-export at a time; the choices file has its own lock
    state = {"version": 0}
    videos = sorted({str(video) for video in plan.options["video"]}) if len(plan.options) else []
    video_number = {video: number for number, video in enumerate(videos)}

    def scenes() -> list[dict]:
        rows = []
        for pick in plan.cut.to_dict("records"):
            shown = plan.options[(plan.options["scene"] == pick["scene"]) & plan.options["picked"]]
            rows.append(
                {
                    "scene": int(pick["scene"]),
                    "status": pick["status"],
                    "why": pick["why"],
                    "picked_rank": int(shown["rank"].iloc[0]) if len(shown) else None,
                }
            )
        return rows

    def shot_of(scene: int, choice: dict):
        """(episode, shot) of a scene's candidate named by ``choice``; None if not shown."""
        for option in plan.options[plan.options["scene"] == scene].to_dict("records"):
            if choice_of(option) == choice:
                return (str(option["episode"]), int(option["shot"]))
        return None

    json_errors(app)

    @app.get("/")
    def page():
        return storyboard_page(
            plan.cut,
            plan.options,
            plan.parse,
            plan.story.stem,
            lambda video: f"/video/{video_number[str(video)]}",
            served=True,
        )

    @app.get("/api/state")
    def api_state():
        return jsonify(scenes=scenes(), version=state["version"], choices=str(choices_file))

    @app.post("/api/pick")
    def api_pick():
        body = json_object()
        scene, rank = body.get("scene"), body.get("rank")
        if not isinstance(scene, int) or scene not in set(plan.parse["scene"]):
            abort(404, f"unknown scene {scene!r}")
        if not isinstance(rank, int) or rank < 0:
            abort(400, f"rank {rank!r}: a candidate's rank, or 0 for the automatic pick")
        shown = plan.options[plan.options["scene"] == scene] if len(plan.options) else plan.options
        choice = None
        if rank:
            match = shown[shown["rank"] == rank]
            if match.empty:
                abort(404, f"scene {scene} has no candidate #{rank} (it has {len(shown)})")
            choice = choice_of(match.iloc[0])
        with lock:
            chosen = read_choices(choices_file)
            if choice is not None:
                # one shot per cut: refuse a pick whose shot another scene's own pick holds
                holders = [
                    other
                    for other, theirs in chosen.items()
                    if other != scene and shot_of(other, theirs) == shot_of(scene, choice)
                ]
                if holders:
                    abort(409, f"scene {holders[0]}'s pick uses that shot: pick another there first")
            chosen = save_choice(choices_file, scene, choice)
            plan.rechoose(chosen)
            seconds = export(plan)
            state["version"] += 1
        said = (
            f"scene {scene}: candidate #{rank} chosen"
            if rank
            else f"scene {scene}: back to the automatic pick"
        )
        return jsonify(
            scenes=scenes(),
            version=state["version"],
            message=f"{said}; saved to {choices_file}; rough cut written again ({seconds:.2f} s)",
        )

    @app.get("/posters/<path:filename>")
    def poster(filename: str):
        return send_from_directory(outdir / "posters", filename, max_age=0)

    @app.get("/video/<int:number>")
    def video(number: int):
        if number >= len(videos):
            abort(404, "no such video")
        return send_file(videos[number], conditional=True)  # range requests: the player seeks

    return app

"""``dramaemo cast-page``: name the characters of the footage index, once.

Reads the index's cast (results/index/cast.parquet, footage.cast) and shows each
character's tracks on the cast page (labelling.cast_page): the largest face of each
track, cut from the episode's frames. The names file and the edits file it writes are the
workflow's config index.characters.names and .edits: point them there, and search and the
storyboard show the names (renaming reruns only those), while rule cast keeps the
characters' ids and members over new episodes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from dramaemo.core import paths
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.footage import UNKNOWN_CHARACTER
from dramaemo.footage.cast import chosen_faces
from dramaemo.footage.search import indexed_episodes
from dramaemo.footage.tables import read_cast, read_index

log = logging.getLogger(__name__)


def cast_faces(index_dir) -> tuple[dict[str, set], pd.DataFrame]:
    """(character -> its (episode, track) pairs; one face per track: the largest, with
    the track's distance from its character's centre)."""
    index_dir = Path(index_dir)
    cast = read_cast(index_dir / Path(paths.CAST).name)
    named = cast[cast["character"] != UNKNOWN_CHARACTER]
    if named.empty:
        raise UserError(f"{index_dir}: the cast has no character yet (results/index/cast.json says why)")
    members: dict[str, set] = {}
    for character, episode, track in zip(named["character"], named["episode"], named["track"]):
        members.setdefault(character, set()).add((episode, int(track)))
    faces = pd.concat(
        [
            chosen_faces(read_index(index_dir / f"{episode}.parquet"), 1)
            for episode in sorted(indexed_episodes(index_dir))
        ],
        ignore_index=True,
    )
    faces = faces.merge(named[["episode", "track", "distance"]], on=["episode", "track"])
    return members, faces[["episode", "track", "distance", "second", "x", "y", "w", "h"]]


def _run(args) -> None:
    from dramaemo.labelling.cast_page import create_app
    from dramaemo.labelling.cast_store import CastStore
    from dramaemo.labelling.page import LOOPBACK_HOSTS, serve

    members, faces = cast_faces(args.index_dir)
    store = CastStore(members, args.names, args.edits)
    log.info("%d characters; names go to %s, merges and splits to %s", len(members), args.names, args.edits)
    loopback = args.host in LOOPBACK_HOSTS
    if not loopback:
        log.warning("--host %s: the cast page can be reached (and changed) from other machines", args.host)
    app = create_app(store, faces, args.frames_root, trusted_hosts=LOOPBACK_HOSTS if loopback else None)
    try:
        serve(app, args.host, args.port, "cast page", f"every action is already in {store.log.path}")
    finally:
        store.close()


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "cast-page",
        help="name, merge and split the index's characters on a local page",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    settings = schema_defaults("index", "characters")
    parser.add_argument("--index-dir", default=paths.INDEX_DIR, help="folder of the footage index")
    parser.add_argument(
        "--frames-root", default=str(Path(paths.FRAMES).parent), help="folder of the frame folders"
    )
    parser.add_argument("--names", required=True, help="names file to write (config index.characters.names)")
    parser.add_argument("--edits", required=True, help="edits file to write (config index.characters.edits)")
    parser.add_argument(
        "--host", default=settings["host"], help="address to bind (127.0.0.1: this machine only)"
    )
    parser.add_argument("--port", type=int, default=settings["port"], help="port (0 picks a free one)")
    parser.set_defaults(func=_run)

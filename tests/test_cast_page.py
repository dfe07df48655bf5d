"""The cast page: names, merges and splits kept durably (the label store's guarantees:
two servers, a killed server), the names and edits files it writes read back by the
workflow's readers (footage.cast), and the page driven by keyboard in headless Chromium."""

from __future__ import annotations

import os
import signal
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import free_port, json_request, snakemake_env, start_page_server

from dramaemo.core.errors import UserError
from dramaemo.footage import CAST_COLUMNS, INDEX_COLUMNS
from dramaemo.footage.cast import DESCRIPTOR_COLUMNS, build_cast, read_edits, read_names
from dramaemo.footage.tables import write_index
from dramaemo.labelling.cast_store import CastStore

# two episodes; C01 has tracks 0, 2 of ep01 and 0 of ep02, C02 track 1 of ep01 and 1 of ep02
TRACKS = [("ep01", 0, "C01"), ("ep01", 1, "C02"), ("ep01", 2, "C01"), ("ep02", 0, "C01"), ("ep02", 1, "C02")]


@pytest.fixture
def index_dir(tmp_path):
    """An index folder with a cast, and the frames the page cuts faces from."""
    folder = tmp_path / "results" / "index"
    rng = np.random.default_rng(0)
    for episode in ("ep01", "ep02"):
        rows = []
        for second in range(3):
            for episode_of, track, _ in TRACKS:
                if episode_of == episode and (track < 2 or second == 2):
                    rows.append({"episode": episode, "second": second, "track": track, "face_index": track})
        index = pd.DataFrame(rows).assign(x=lambda t: 10 + 60 * t["track"], y=20, w=50, h=50)
        write_index(
            index.reindex(columns=INDEX_COLUMNS), folder / f"{episode}.parquet", "v.mp4", pd.DataFrame()
        )
        frames = tmp_path / "results" / "frames" / episode
        frames.mkdir(parents=True)
        for second in range(3):
            cv2.imwrite(
                str(frames / f"{second:06d}.jpg"), rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)
            )
    cast = pd.DataFrame(TRACKS, columns=["episode", "track", "character"]).assign(
        distance=0.1, seconds_on_screen=2, chosen=1, described=1, refused=""
    )
    cast[CAST_COLUMNS].to_parquet(folder / "cast.parquet", index=False)
    return folder


def members():
    found: dict[str, set] = {}
    for episode, track, character in TRACKS:
        found.setdefault(character, set()).add((episode, track))
    return found


def test_names_merges_splits_and_undo_reach_the_files_the_workflow_reads(tmp_path):
    names, edits = tmp_path / "cast" / "names.csv", tmp_path / "cast" / "edits.json"
    store = CastStore(members(), names, edits)
    store.name("C01", "  Geu-rae ")
    assert read_names(names, ["C01", "C02"]) == {"C01": "Geu-rae"}
    before = edits.stat().st_mtime_ns
    store.name("C02", "Seok-yul")
    assert edits.stat().st_mtime_ns == before  # a rename leaves the edits alone: rule cast does not rerun
    with pytest.raises(UserError, match="'geu-rae' is already C01's name; merge the two characters instead"):
        store.name("C02", "geu-rae")
    store.split("ep01", 2)
    store.merge("C02", "C01")
    kept = read_edits(edits)
    assert kept["characters"] == {"C01": [("ep01", 0), ("ep01", 1), ("ep02", 0), ("ep02", 1)]}
    assert kept["split"] == [("ep01", 2)]
    assert read_names(names, ["C01"]) == {"C01": "Geu-rae"}
    store.undo()  # the merge
    assert sorted(read_edits(edits)["characters"]) == ["C01", "C02"]
    with pytest.raises(UserError, match="unknown character 'C09'"):
        store.merge("C09", "C01")
    store.close()
    # a second server on the same files sees it all, and the first sees its actions
    first, second = CastStore(members(), names, edits), CastStore(members(), names, edits)
    second.name("C02", "Min-ah")
    first.refresh()
    assert first.state()[1] == {"C01": "Geu-rae", "C02": "Min-ah"}
    first.close()
    second.close()


def test_the_edits_keep_ids_and_members_when_the_cast_is_built_again(tmp_path):
    """Rule cast with the page's edits: the merged character keeps its id and tracks, a
    split track is unknown, a new episode's track of the character joins it."""
    rng = np.random.default_rng(4)
    people = {"C01": 0.4, "C02": -0.4}
    indexes, described = [], []
    axis = np.eye(len(DESCRIPTOR_COLUMNS))[0]
    for episode in ("ep01", "ep02", "ep03", "ep04"):
        rows = [(episode, track, second) for track in range(2) for second in range(3)]
        indexes.append(
            pd.DataFrame(rows, columns=["episode", "track", "second"]).assign(x=0, y=0, w=120, h=120)
        )
        for track in range(2):
            vector = (people["C01"] if track == 0 else people["C02"]) * axis + rng.normal(0, 0.01, len(axis))
            described.append([episode, track, 1, 1, "", 120, *vector])
    tracks = [
        pd.DataFrame(
            described,
            columns=["episode", "track", "chosen", "described", "refused", "side", *DESCRIPTOR_COLUMNS],
        )
    ]
    # ep04 is new; the page merged ep01's and ep02's track 0 into C05 and split ep02's track 1 off
    edits = {
        "characters": {"C05": [("ep01", 0), ("ep02", 0), ("ep03", 0)], "C02": [("ep01", 1), ("ep03", 1)]},
        "split": [("ep02", 1)],
    }
    cast, record = build_cast(indexes, tracks, edits)
    who = dict(zip(zip(cast["episode"], cast["track"]), cast["character"]))
    assert who[("ep01", 0)] == who[("ep02", 0)] == who[("ep04", 0)] == "C05"
    assert who[("ep01", 1)] == who[("ep04", 1)] == "C02" and who[("ep02", 1)] == ""
    assert record["edits"] == {"characters": 2, "split": 1, "tracks no longer indexed": 0}


def _start(workdir, port, log_file):
    command = [sys.executable, "-m", "dramaemo", "cast-page", "--names", "cast/names.csv"]
    command += ["--edits", "cast/edits.json", "--port", str(port)]
    return start_page_server(command, workdir, port, log_file, env=snakemake_env())


def test_killed_server_loses_no_acknowledged_action(index_dir):
    workdir = index_dir.parents[1]
    port = free_port()
    with open(workdir / "server.log", "wb") as log_file:
        server = _start(workdir, port, log_file)
        try:
            base = f"http://127.0.0.1:{port}"
            json_request(f"{base}/api/name", {"character": "C01", "name": "Geu-rae"})
            json_request(f"{base}/api/merge", {"character": "C02", "into": "C01"})
        finally:
            server.send_signal(signal.SIGKILL)  # no clean shutdown
            server.wait()
        server = _start(workdir, port, log_file)
        try:
            state = json_request(f"http://127.0.0.1:{port}/api/state")
        finally:
            server.terminate()
            server.wait()
    assert [(c["character"], c["name"], c["tracks"]) for c in state["cards"]] == [("C01", "Geu-rae", 5)]
    assert "cast page at http://127.0.0.1:" in (workdir / "server.log").read_text()


@pytest.mark.browser
def test_cast_page_by_keyboard_in_chromium(index_dir, chrome):
    import threading

    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait
    from werkzeug.serving import make_server

    from dramaemo.authoring.cast_page import cast_faces
    from dramaemo.labelling.cast_page import create_app

    workdir = index_dir.parents[1]
    names, edits = workdir / "cast" / "names.csv", workdir / "cast" / "edits.json"
    found, faces = cast_faces(index_dir)
    store = CastStore(found, names, edits)
    server = make_server(
        "127.0.0.1", 0, create_app(store, faces, workdir / "results" / "frames"), threaded=True
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    wait = WebDriverWait(chrome, 30)

    def press(*keys):
        ActionChains(chrome).send_keys(*keys).perform()

    def cards():  # one script: the page re-renders its cards after every action
        return [
            tuple(card)
            for card in chrome.execute_script(
                "return [...document.querySelectorAll('section.card')]"
                ".map(c => [c.dataset.character, c.querySelectorAll('figure').length]);"
            )
        ]

    try:
        chrome.get(f"http://127.0.0.1:{server.port}/")
        wait.until(lambda driver: cards() == [("C01", 3), ("C02", 2)])
        wait.until(
            lambda driver: driver.execute_script(
                "return [...document.images].every(i => i.complete && i.naturalWidth > 0);"
            )
        )
        press("\ue007")  # Enter: name the current card (C01)
        press("Geu-rae", "\ue007")
        wait.until(lambda driver: names.is_file() and "C01,Geu-rae" in names.read_text())
        press("l", "x")  # C01's second face: split its track off
        wait.until(lambda driver: cards()[0] == ("C01", 2))
        assert read_edits(edits)["split"]
        press("j", "m", "k", "m")  # mark C02, back to C01, merge C02 into it
        wait.until(lambda driver: cards() == [("C01", 4)])
        assert list(read_edits(edits)["characters"]) == ["C01"]
        press("u")  # undo the merge
        wait.until(lambda driver: cards() == [("C01", 2), ("C02", 2)])
        shown = chrome.execute_script(
            "return document.querySelector('section[data-character=C01] input').value;"
        )
        assert shown == "Geu-rae"
    finally:
        server.shutdown()
        store.close()
    assert os.path.getsize(store.log.path) > 0

"""The labelling page (dramaemo.labelling.page): its API through Flask's test client, the label
store's durability (threads, a second server, a killed server, a torn log line), the
agreement command, and the page itself driven by keyboard in headless Chromium.

The crops are built here from real photographs shipped by scikit-image and matplotlib
(astronaut, Grace Hopper), cut out at the boxes OpenCV's Haar cascade finds in them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import imageio.v3 as imageio
import matplotlib.cbook
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import skimage.data
import skimage.transform
from conftest import free_port, json_request, start_page_server
from skimage.color import rgb2gray
from skimage.util import img_as_ubyte

from dramaemo import EMOTIONS, cli
from dramaemo.core.errors import UserError
from dramaemo.dataset.annotations import ANNOTATION_COLUMNS
from dramaemo.faces.detection import MANIFEST_COLUMNS
from dramaemo.labelling.page import create_app
from dramaemo.labelling.store import LabelStore, read_manifests

REPO = Path(__file__).resolve().parents[1]
CROP_SIZE = 96
# Face boxes found by cv2's haarcascade_frontalface_default in the two photographs.
ASTRONAUT_BOX = (177, 66, 95, 95)
HOPPER_BOX = (155, 105, 222, 222)


def _photo(name: str) -> np.ndarray:
    if name == "astronaut":
        return skimage.data.astronaut()
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(matplotlib.image.imread(handle, format="jpg"))


def _write_item(root: Path, episode: str, second: int, face_index: int, photo: str, box) -> dict:
    """A frame (JPEG) and its gray square crop (PNG), as the pipeline lays them out."""
    image = _photo(photo)
    # Each second a little brighter, so that consecutive crops differ as in a video.
    image = np.clip(image.astype(int) + 6 * second, 0, 255).astype(np.uint8)
    frame = Path("results/frames") / episode / f"{second:06d}.jpg"
    crop = Path("results/crops") / episode / f"{second:06d}_{face_index}.png"
    (root / frame).parent.mkdir(parents=True, exist_ok=True)
    (root / crop).parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(root / frame, image, quality=90)
    x, y, w, h = box
    face = skimage.transform.resize(
        rgb2gray(image[y : y + h, x : x + w]), (CROP_SIZE, CROP_SIZE), anti_aliasing=True
    )
    imageio.imwrite(root / crop, img_as_ubyte(face))
    return {
        "episode": episode,
        "second": second,
        "face_index": face_index,
        "x": x,
        "y": y,
        "w": w,
        "h": h,
        "crop_path": crop.as_posix(),
        "frame_path": frame.as_posix(),
    }


def build_crops(root: Path) -> list[Path]:
    """Two episodes: ep01 seconds 0-2 (astronaut), ep02 seconds 5-6 (Grace Hopper)."""
    manifests = []
    for episode, photo, box, seconds in (
        ("ep01", "astronaut", ASTRONAUT_BOX, (0, 1, 2)),
        ("ep02", "hopper", HOPPER_BOX, (5, 6)),
    ):
        rows = [_write_item(root, episode, second, 0, photo, box) for second in seconds]
        manifest = root / "results/crops" / f"{episode}.manifest.csv"
        pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).to_csv(manifest, index=False)
        manifests.append(manifest)
    return manifests


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A Snakemake-like working directory with crops, frames and manifests."""
    monkeypatch.chdir(tmp_path)
    build_crops(tmp_path)
    return tmp_path


def _manifests(root: Path) -> list[Path]:
    return sorted((root / "results/crops").glob("*.manifest.csv"))


def make_app(root: Path, annotator: str = "alice", out: str = "labels/alice.csv", **options):
    crops, dropped = read_manifests(_manifests(root), root / "results/crops")
    store = LabelStore(root / out, annotator, crops)
    return create_app(store, root / "results/crops", dropped=dropped, **options), store


def post(client, url: str, body: dict | None = None):
    return client.post(url, json={} if body is None else body)


def test_manifests_are_read_in_order_and_missing_crops_are_counted(workdir):
    manifest = workdir / "results/crops/ep01.manifest.csv"
    table = pd.read_csv(manifest)
    table.loc[1, "crop_path"] = "results/crops/ep01/gone.png"
    table.to_csv(manifest, index=False)
    crops, dropped = read_manifests(_manifests(workdir), "results/crops")
    assert [crop.item_id for crop in crops] == [
        "ep01_000000_0",
        "ep01_000002_0",
        "ep02_000005_0",
        "ep02_000006_0",
    ]
    assert dropped == [f"{manifest}: row 2: crop file 'results/crops/ep01/gone.png' not found"]
    assert crops[0].crop_file == "ep01/000000_0.png"
    assert crops[0].frame_file == (workdir / "results/frames/ep01/000000.jpg").resolve()


def test_bad_manifests_name_the_file_and_row(workdir):
    manifest = workdir / "results/crops/ep02.manifest.csv"
    table = pd.read_csv(manifest, dtype=str)
    table.loc[1, "second"] = "6.5"
    table.to_csv(manifest, index=False)
    with pytest.raises(UserError, match=r"ep02.manifest.csv: row 2: second '6.5' is not a whole number"):
        read_manifests(_manifests(workdir), "results/crops")
    table.drop(columns=["frame_path"]).to_csv(manifest, index=False)
    with pytest.raises(UserError, match=r"ep02.manifest.csv: missing column\(s\) frame_path"):
        read_manifests(_manifests(workdir), "results/crops")
    # A crop outside the crops directory is refused, not served.
    outside = workdir / "elsewhere.png"
    shutil.copy(workdir / "results/crops/ep01/000000_0.png", outside)
    table = pd.read_csv(workdir / "results/crops/ep01.manifest.csv", dtype=str)
    table.loc[0, "crop_path"] = str(outside)
    table.to_csv(manifest, index=False)
    with pytest.raises(UserError, match=r"row 1: crop .*elsewhere.png lies outside the crops directory"):
        read_manifests([manifest], "results/crops")


def test_label_writes_a_pipeline_row_with_box_and_annotator_in_the_log(workdir):
    app, store = make_app(workdir)
    client = app.test_client()
    state = client.get("/api/state").get_json()
    assert state["annotator"] == "alice"
    assert state["item"]["item_id"] == "ep01_000000_0"
    assert state["progress"] == {
        "total": 5,
        "done": 0,
        "left": 5,
        "skipped": 0,
        "per_emotion": dict.fromkeys(EMOTIONS, 0),
    }
    response = post(
        client,
        "/api/label",
        {"item_id": "ep01_000000_0", "emotion": "happy", "description": "  He  floats in\nspace, smiling "},
    )
    assert response.status_code == 200, response.get_json()
    state = response.get_json()
    assert state["item"]["item_id"] == "ep01_000001_0"
    assert state["progress"]["done"] == 1 and state["progress"]["per_emotion"]["Happy"] == 1

    table = pd.read_csv(workdir / "labels/alice.csv", keep_default_na=False)
    assert tuple(table.columns) == ANNOTATION_COLUMNS  # exactly the pipeline's input format
    assert table.to_dict("records") == [
        {
            "episode": "ep01",
            "second": 0,
            "x": 177,
            "y": 66,
            "w": 95,
            "h": 95,
            "emotion": "Happy",
            "description": "He floats in space, smiling",
        }
    ]
    events = [json.loads(line) for line in (workdir / "labels/alice.csv.log.jsonl").read_text().splitlines()]
    assert [(event["action"], event["annotator"], event["item_id"]) for event in events] == [
        ("label", "alice", "ep01_000000_0")
    ]


def test_description_is_prefilled_from_the_previous_second_of_the_same_episode(workdir):
    app, _ = make_app(workdir)
    client = app.test_client()
    state = post(
        client,
        "/api/label",
        {"item_id": "ep01_000000_0", "emotion": "Happy", "description": "He floats in space"},
    ).get_json()
    assert state["item"]["description"] == "He floats in space"
    assert state["item"]["prefilled_from"] == 0
    post(client, "/api/label", {"item_id": "ep01_000001_0", "emotion": "Happy", "description": "He waves"})
    state = post(
        client, "/api/label", {"item_id": "ep01_000002_0", "emotion": "Sad", "description": "He sighs"}
    ).get_json()
    # ep02 starts at second 5: nothing from ep01 leaks in.
    assert state["item"]["item_id"] == "ep02_000005_0"
    assert state["item"]["description"] == "" and state["item"]["prefilled_from"] is None


def test_skip_and_undo_are_durable(workdir):
    app, store = make_app(workdir)
    client = app.test_client()
    assert post(client, "/api/undo").status_code == 409  # nothing yet
    state = post(client, "/api/skip", {"item_id": "ep01_000000_0"}).get_json()
    assert state["item"]["item_id"] == "ep01_000001_0" and state["progress"]["skipped"] == 1
    state = post(
        client, "/api/label", {"item_id": "ep01_000001_0", "emotion": "Fear", "description": "A shadow"}
    ).get_json()
    assert state["item"]["item_id"] == "ep01_000002_0"
    state = post(client, "/api/undo").get_json()
    # The undone crop comes back with the description that was typed for it.
    assert state["undone"] == "ep01_000001_0"
    assert state["item"]["item_id"] == "ep01_000001_0" and state["item"]["description"] == "A shadow"
    assert len(pd.read_csv(workdir / "labels/alice.csv")) == 0
    state = post(client, "/api/undo").get_json()
    assert state["item"]["item_id"] == "ep01_000000_0" and state["progress"]["skipped"] == 0
    # Skipped crops come back after all the others.
    post(client, "/api/skip", {"item_id": "ep01_000000_0"})
    for second, episode in ((1, "ep01"), (2, "ep01"), (5, "ep02"), (6, "ep02")):
        state = post(
            client,
            "/api/label",
            {"item_id": f"{episode}_{second:06d}_0", "emotion": "Neutral", "description": "x"},
        ).get_json()
    assert state["item"]["item_id"] == "ep01_000000_0" and state["item"]["skipped_before"]
    post(client, "/api/undo")  # takes back ep02:6:0
    store.close()

    app, store = make_app(workdir)  # a restart replays the log, undos included
    state = app.test_client().get("/api/state").get_json()
    assert state["item"]["item_id"] == "ep02_000006_0"
    assert state["progress"]["done"] == 3 and state["progress"]["skipped"] == 1
    assert list(pd.read_csv(workdir / "labels/alice.csv")["second"]) == [1, 2, 5]


def test_relabelling_replaces_the_row_and_undo_restores_the_earlier_label(workdir):
    app, store = make_app(workdir)
    client = app.test_client()
    post(client, "/api/label", {"item_id": "ep01_000000_0", "emotion": "Happy", "description": "He smiles"})
    post(
        client,
        "/api/label",
        {"item_id": "ep01_000000_0", "emotion": "Sad", "description": 'He says "no", sadly'},
    )
    rows = pd.read_csv(workdir / "labels/alice.csv").to_dict("records")
    assert [(row["emotion"], row["description"]) for row in rows] == [("Sad", 'He says "no", sadly')]
    state = post(client, "/api/undo").get_json()
    assert (
        state["item"]["item_id"] == "ep01_000000_0" and state["item"]["description"] == 'He says "no", sadly'
    )
    store.close()
    app, store = make_app(workdir)
    rows = pd.read_csv(workdir / "labels/alice.csv").to_dict("records")
    assert [(row["emotion"], row["description"]) for row in rows] == [("Happy", "He smiles")]
    assert app.test_client().get("/api/state").get_json()["progress"]["per_emotion"]["Happy"] == 1


def test_restart_resumes_where_the_annotator_stopped(workdir):
    app, store = make_app(workdir)
    client = app.test_client()
    for item_id, emotion in (("ep01_000000_0", "Happy"), ("ep01_000001_0", "Surprise")):
        assert (
            post(
                client, "/api/label", {"item_id": item_id, "emotion": emotion, "description": "x"}
            ).status_code
            == 200
        )
    store.close()
    (workdir / "labels/alice.csv").unlink()  # even the CSV is rebuilt from the log
    app, store = make_app(workdir)
    state = app.test_client().get("/api/state").get_json()
    assert state["item"]["item_id"] == "ep01_000002_0"
    assert state["progress"]["done"] == 2 and state["progress"]["left"] == 3
    assert list(pd.read_csv(workdir / "labels/alice.csv")["emotion"]) == ["Happy", "Surprise"]


def _many_crops(root: Path, count: int) -> Path:
    """A manifest of `count` crops (one crop file reused at many seconds)."""
    row = _write_item(root, "ep09", 0, 0, "astronaut", ASTRONAUT_BOX)
    rows = [{**row, "second": second} for second in range(count)]
    manifest = root / "results/crops/ep09.manifest.csv"
    pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).to_csv(manifest, index=False)
    return manifest


def test_concurrent_posts_from_threads_and_two_servers_lose_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manifest = _many_crops(tmp_path, 80)
    crops, _ = read_manifests([manifest], "results/crops")
    # Two servers on the same file (two processes in real life), four tabs each.
    stores = [LabelStore(tmp_path / "alice.csv", "alice", crops) for _ in range(2)]
    apps = [create_app(store, "results/crops") for store in stores]
    expected = {crop.item_id: EMOTIONS[index % 7] for index, crop in enumerate(crops)}
    item_ids = list(expected)
    failures = []
    barrier = threading.Barrier(8)

    def tab(number: int):
        client = apps[number % 2].test_client()
        barrier.wait()
        for item_id in item_ids[number::8]:
            response = post(
                client,
                "/api/label",
                {"item_id": item_id, "emotion": expected[item_id], "description": f"tab {number}"},
            )
            if response.status_code != 200:
                failures.append(response.get_json())

    threads = [threading.Thread(target=tab, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    table = pd.read_csv(tmp_path / "alice.csv")
    assert len(table) == 80
    assert dict(zip("ep09_" + table["second"].map("{:06d}".format) + "_0", table["emotion"])) == expected
    lines = (tmp_path / "alice.csv.log.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["seq"] for line in lines) == list(range(1, 81))
    # Each server sees the other's labels.
    for app in apps:
        assert app.test_client().get("/api/state").get_json()["progress"]["done"] == 80


def test_two_stores_on_one_file_hammered_from_threads_lose_nothing(tmp_path, monkeypatch):
    """Without the file lock two servers interleave: the same seq twice, rows missing."""
    monkeypatch.chdir(tmp_path)
    crops, _ = read_manifests([_many_crops(tmp_path, 400)], "results/crops")
    stores = [LabelStore(tmp_path / "alice.csv", "alice", crops) for _ in range(2)]
    barrier = threading.Barrier(8)

    def writer(number: int):
        barrier.wait()
        for crop in crops[number::8]:
            stores[number % 2].label(crop.item_id, "Fear", f"writer {number}")

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (tmp_path / "alice.csv.log.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["seq"] for line in lines) == list(range(1, 401))
    assert len(pd.read_csv(tmp_path / "alice.csv")) == 400
    for store in stores:
        assert len(store.snapshot()) == 400


def test_a_line_cut_by_a_crash_is_dropped_and_the_rest_kept(workdir, caplog):
    app, store = make_app(workdir)
    post(
        app.test_client(),
        "/api/label",
        {"item_id": "ep01_000000_0", "emotion": "Angry", "description": "shouts"},
    )
    store.close()
    torn = b'{"seq": 2, "annotator": "alice", "action": "lab'  # the process died here
    with open(workdir / "labels/alice.csv.log.jsonl", "ab") as handle:
        handle.write(torn)
    app, store = make_app(workdir)
    assert f"dropping {len(torn)} bytes of a line cut by a crash" in caplog.text
    client = app.test_client()
    assert client.get("/api/state").get_json()["progress"]["done"] == 1
    assert (
        post(
            client, "/api/label", {"item_id": "ep01_000001_0", "emotion": "Sad", "description": "x"}
        ).status_code
        == 200
    )
    lines = (workdir / "labels/alice.csv.log.jsonl").read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2]


# The real CLI entry point; a label command imports only dramaemo.labelling.page (cli.COMMANDS).
CLI_MAIN = "import sys; from dramaemo import cli; sys.exit(cli.main(sys.argv[1:]))"


@pytest.fixture
def label_cli():
    """The real cli.main."""
    return cli.main


def _start_server(workdir: Path, port: int, log_file) -> subprocess.Popen:
    command = [
        sys.executable,
        "-c",
        CLI_MAIN,
        "label",
        "--manifest",
        *map(str, _manifests(workdir)),
        "--crops-root",
        "results/crops",
        "--out",
        "labels/alice.csv",
        "--annotator",
        "alice",
        "--port",
        str(port),
    ]
    return start_page_server(command, workdir, port, log_file)


def test_killed_server_loses_no_acknowledged_label(workdir):
    port = free_port()
    with open(workdir / "server.log", "wb") as log_file:
        server = _start_server(workdir, port, log_file)
        try:
            base = f"http://127.0.0.1:{port}"
            for item_id, emotion in (
                ("ep01_000000_0", "Happy"),
                ("ep01_000001_0", "Fear"),
                ("ep01_000002_0", "Sad"),
            ):
                json_request(
                    f"{base}/api/label", {"item_id": item_id, "emotion": emotion, "description": "x"}
                )
            json_request(f"{base}/api/undo", {})
        finally:
            server.send_signal(signal.SIGKILL)  # no clean shutdown
            server.wait()
        server = _start_server(workdir, port, log_file)
        try:
            state = json_request(f"http://127.0.0.1:{port}/api/state")
        finally:
            server.terminate()
            server.wait()
    assert state["item"]["item_id"] == "ep01_000002_0"
    assert state["progress"]["done"] == 2
    assert list(pd.read_csv(workdir / "labels/alice.csv")["emotion"]) == ["Happy", "Fear"]
    assert "labelling page at http://127.0.0.1:" in (workdir / "server.log").read_text()


@pytest.mark.parametrize(
    "path",
    [
        "/crops/../../../../etc/passwd",
        "/crops/%2e%2e/%2e%2e/labels/alice.csv",
        "/crops/..%2f..%2fresults/frames/ep01/000000.jpg",
        "/crops/ep01/..%2F..%2F..%2Fresults/crops/ep01.manifest.csv",
        "/crops/ep01.manifest.csv",  # under the crops directory, but not a crop
        "/crops//etc/passwd",
        "/frame?item=../../etc/passwd",
        "/frame?item=ep01_000099_0",
        "/static/../label.py",
    ],
)
def test_paths_outside_the_crops_are_refused(workdir, path):
    app, _ = make_app(workdir)
    client = app.test_client()
    post(client, "/api/label", {"item_id": "ep01_000000_0", "emotion": "Happy", "description": "x"})
    response = client.get(path, follow_redirects=True)
    assert response.status_code in (403, 404), (path, response.status_code)
    assert b"root:" not in response.data and b"episode," not in response.data


def test_crops_and_frames_of_the_manifest_are_served(workdir):
    app, _ = make_app(workdir)
    client = app.test_client()
    item = client.get("/api/state").get_json()["item"]
    crop = client.get(item["crop_url"])
    assert crop.status_code == 200 and crop.mimetype == "image/png"
    assert crop.data == (workdir / "results/crops/ep01/000000_0.png").read_bytes()
    frame = client.get(item["frame_url"])
    assert frame.status_code == 200 and frame.mimetype == "image/jpeg"
    (workdir / "results/frames/ep01/000000.jpg").unlink()  # frames.keep: false
    response = client.get(item["frame_url"])
    assert response.status_code == 404 and "frames.keep" in response.get_json()["error"]


@pytest.mark.parametrize(
    "body, status, message",
    [
        (
            {"item_id": "ep01_000000_0", "emotion": "Joy"},
            400,
            "unknown emotion 'Joy'; choose one of Angry, Disgust",
        ),
        ({"item_id": "ep01_000000_0", "emotion": None}, 400, "unknown emotion None"),
        (
            {"item_id": "ep01_000000_0", "emotion": "Happy", "description": "x" * 501},
            400,
            "description has 501 characters; at most 500 are allowed",
        ),
        (
            {"item_id": "ep01_000000_0", "emotion": "Happy", "description": ["a"]},
            400,
            "description must be text",
        ),
        (
            {"item_id": "ep01_000000_0", "emotion": "Happy", "description": " \n "},
            400,
            "description is empty",
        ),
        (
            {"item_id": "../ep01_000000_0", "emotion": "Happy", "description": "x"},
            404,
            "unknown item '../ep01_000000_0'",
        ),
    ],
)
def test_bad_labels_are_refused_with_a_clear_message(workdir, body, status, message):
    app, _ = make_app(workdir)
    response = post(app.test_client(), "/api/label", body)
    assert response.status_code == status
    assert response.is_json and message in response.get_json()["error"]
    assert len(pd.read_csv(workdir / "labels/alice.csv")) == 0


def test_max_description_length_is_configurable_and_500_passes(workdir):
    app, _ = make_app(workdir)
    assert (
        post(
            app.test_client(),
            "/api/label",
            {"item_id": "ep01_000000_0", "emotion": "Happy", "description": "x" * 500},
        ).status_code
        == 200
    )
    app, _ = make_app(workdir, out="labels/short.csv", max_description=10)
    response = post(
        app.test_client(),
        "/api/label",
        {"item_id": "ep01_000000_0", "emotion": "Sad", "description": "x" * 11},
    )
    assert response.status_code == 400 and "at most 10" in response.get_json()["error"]


def test_forms_and_foreign_hosts_are_refused(workdir):
    app, _ = make_app(workdir)
    client = app.test_client()
    # A cross-site HTML form can post only form data: not JSON, so refused.
    response = client.post(
        "/api/label", data={"item_id": "ep01_000000_0", "emotion": "Happy", "description": "x"}
    )
    assert response.status_code == 400 and "application/json" in response.get_json()["error"]
    # DNS rebinding: a page of another host name resolving to 127.0.0.1.
    assert client.get("/api/state", headers={"Host": "evil.example:8000"}).status_code == 400
    assert client.get("/api/state", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    assert client.post("/api/label", data="x" * 100_000, content_type="application/json").status_code == 413


def test_a_file_of_another_annotator_or_not_ours_is_refused(workdir):
    app, store = make_app(workdir)
    post(
        app.test_client(), "/api/label", {"item_id": "ep01_000000_0", "emotion": "Happy", "description": "x"}
    )
    store.close()
    with pytest.raises(
        UserError, match=r"alice.csv.log.jsonl: line 1: labels of annotator 'alice', not 'bob'"
    ):
        make_app(workdir, annotator="bob")
    (workdir / "labels/mine.csv").write_text("episode,second\n")
    with pytest.raises(UserError, match=r"mine.csv: exists but has no label log"):
        make_app(workdir, out="labels/mine.csv")


def _label_all(root: Path, annotator: str, emotions: list[str], **options):
    app, store = make_app(root, annotator=annotator, out=f"labels/{annotator}.csv", **options)
    client = app.test_client()
    for item_id, emotion in zip(
        ["ep01_000000_0", "ep01_000001_0", "ep01_000002_0", "ep02_000005_0", "ep02_000006_0"], emotions
    ):
        if emotion:
            assert (
                post(
                    client, "/api/label", {"item_id": item_id, "emotion": emotion, "description": "x"}
                ).status_code
                == 200
            )
    return client, store


def test_agreement_command_reports_cohens_kappa_over_shared_items(workdir, capsys, label_cli):
    # alice labels 4 crops, bob 5; 4 shared. By hand: observed 3/4 = 0.75; alice
    # Happy .5 Sad .25 Angry .25, bob Happy .25 Sad .5 Angry .25, chance .3125;
    # kappa = (0.75 - 0.3125) / (1 - 0.3125) = 0.636.
    _label_all(workdir, "alice", ["Happy", "Happy", "Sad", "Angry", None])
    _label_all(workdir, "bob", ["Happy", "Sad", "Sad", "Angry", "Fear"])
    assert label_cli(["label-agreement", "labels/alice.csv", "labels/bob.csv", "--json", "kappa.json"]) == 0
    out = capsys.readouterr().out
    assert "labels/alice.csv (4 labels) vs labels/bob.csv (5 labels): 4 shared items" in out
    assert "observed agreement 0.750, Cohen's kappa 0.636" in out
    report = json.loads((workdir / "kappa.json").read_text())
    assert report[0]["shared"] == 4 and report[0]["kappa"] == pytest.approx(0.7 / 1.1)

    # The page of a third annotator shows kappa against the other two files.
    client, _ = _label_all(
        workdir,
        "carol",
        ["Happy", "Happy", "Sad", None, None],
        compare=["labels/alice.csv", "labels/bob.csv"],
    )
    agreement = client.get("/api/state").get_json()["agreement"]
    assert [(entry["shared"], entry["kappa"]) for entry in agreement] == [(3, 1.0), (3, pytest.approx(0.4))]


def test_agreement_command_errors_name_the_file_and_row(workdir, capsys, label_cli):
    (workdir / "a.csv").write_text("episode,second,x,y,w,h,emotion,description\nep01,0,1,2,3,4,Happy,x\n")
    (workdir / "b.csv").write_text(
        "episode,second,x,y,w,h,emotion,description\nep01,0,1,2,3,4,happy,x\nep01,1,1,2,3,4,Joy,y\n"
    )
    assert label_cli(["label-agreement", "a.csv", "b.csv"]) == 2
    # row = the line in the file (header = row 1), as in the join report
    assert "b.csv: row 3: unknown emotion 'Joy'" in capsys.readouterr().err
    # config label_map renames other vocabularies here too, as in the join
    assert label_cli(["label-agreement", "a.csv", "b.csv", "--label-map", '{"joy": "Happy"}']) == 0
    capsys.readouterr()
    (workdir / "b.csv").write_text("episode,second,x,y,w,h,emotion,description\nep01,0,1,2,3,4,happy,x\n")
    assert label_cli(["label-agreement", "a.csv", "b.csv"]) == 0
    assert "Cohen's kappa undefined (a single emotion in all shared items)" in capsys.readouterr().out
    assert label_cli(["label-agreement", "a.csv"]) == 2


# ---------------------------------------------------------------------------- browser

SCREENSHOT = REPO / "docs" / "labelling.png"


@pytest.fixture
def served(workdir):
    """The labelling page on a free port of 127.0.0.1, in a thread."""
    from werkzeug.serving import make_server

    app, store = make_app(workdir)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}", workdir
    server.shutdown()
    store.close()


@pytest.mark.browser
def test_page_labels_crops_by_keyboard_in_headless_chromium(chrome, served):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    url, workdir = served
    chrome.get(url + "/")
    wait = WebDriverWait(chrome, 15)

    def showing(item_id: str):
        wait.until(lambda driver: driver.find_element(By.ID, "crop").get_attribute("data-item") == item_id)
        # the crop is really displayed, not just requested
        wait.until(
            lambda driver: driver.execute_script(
                "const crop = document.getElementById('crop'); return crop.complete && crop.naturalWidth > 0;"
            )
        )

    def press(key: str):
        ActionChains(chrome).send_keys(key).perform()

    showing("ep01_000000_0")
    assert "annotator alice" in chrome.find_element(By.ID, "annotator").text
    assert chrome.find_element(By.ID, "progress").text == "0 done · 5 left of 5"
    buttons = [button.text.replace("\n", " ") for button in chrome.find_elements(By.CSS_SELECTOR, ".emotion")]
    assert buttons == [f"{index} {emotion}" for index, emotion in enumerate(EMOTIONS, start=1)]

    description = chrome.find_element(By.ID, "description")
    description.click()
    description.send_keys("He floats above the Earth, smiling", Keys.ENTER)  # Enter leaves the field
    press("4")  # Happy
    showing("ep01_000001_0")
    assert description.get_attribute("value") == "He floats above the Earth, smiling"  # pre-filled
    press("7")  # Surprise, with the pre-filled description
    showing("ep01_000002_0")
    press("s")  # skip...
    showing("ep02_000005_0")
    press("u")  # ...and take it back
    showing("ep01_000002_0")
    description.click()
    description.send_keys(Keys.CONTROL, "a")
    description.send_keys("He looks back at the camera", Keys.ESCAPE)
    press("6")  # Sad
    showing("ep02_000005_0")
    description.click()
    description.send_keys("She explains a program to the class", Keys.ENTER)
    press("5")  # Neutral
    showing("ep02_000006_0")
    press("f")  # the full frame around the face
    wait.until(
        lambda driver: driver.execute_script(
            "const frame = document.getElementById('frame');"
            "return !document.getElementById('frame-figure').hidden && frame.complete && frame.naturalWidth > 0;"
        )
    )
    box = chrome.find_element(By.ID, "face-box").rect
    frame = chrome.find_element(By.ID, "frame").rect
    assert box["width"] == pytest.approx(frame["width"] * 222 / 512, abs=2)  # Grace Hopper's box
    assert chrome.find_element(By.ID, "progress").text == "4 done · 1 left of 5"
    assert "pre-filled from second 5" in chrome.find_element(By.ID, "description-note").text

    screenshot = workdir / "labelling.png"
    chrome.save_screenshot(str(screenshot))
    if os.environ.get("DRAMAEMO_UPDATE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copy(screenshot, SCREENSHOT)

    table = pd.read_csv(workdir / "labels/alice.csv", keep_default_na=False)
    assert table.to_dict("records") == [
        {
            "episode": "ep01",
            "second": 0,
            "x": 177,
            "y": 66,
            "w": 95,
            "h": 95,
            "emotion": "Happy",
            "description": "He floats above the Earth, smiling",
        },
        {
            "episode": "ep01",
            "second": 1,
            "x": 177,
            "y": 66,
            "w": 95,
            "h": 95,
            "emotion": "Surprise",
            "description": "He floats above the Earth, smiling",
        },
        {
            "episode": "ep01",
            "second": 2,
            "x": 177,
            "y": 66,
            "w": 95,
            "h": 95,
            "emotion": "Sad",
            "description": "He looks back at the camera",
        },
        {
            "episode": "ep02",
            "second": 5,
            "x": 155,
            "y": 105,
            "w": 222,
            "h": 222,
            "emotion": "Neutral",
            "description": "She explains a program to the class",
        },
    ]

    # A long description typed past the field's limit never reaches the CSV: the server
    # refuses it and the page says why.
    chrome.execute_script(
        "document.getElementById('description').removeAttribute('maxlength');"
        "document.getElementById('description').value = 'x'.repeat(501);"
    )
    press("1")
    wait.until(lambda driver: "at most 500" in driver.find_element(By.ID, "message").text)
    assert len(pd.read_csv(workdir / "labels/alice.csv")) == 4


# ---------------------------------------------------------------------------- workflow


@pytest.mark.slow
def test_snakemake_label_target_serves_the_crops_and_its_csv_feeds_the_pipeline(tiny_front_copy):
    """`snakemake label` on the tiny demo, labels posted to it, then the join reads them."""
    from conftest import run_snakemake, snakemake_env

    workdir = tiny_front_copy
    (workdir / "config/label.yaml").write_text("label:\n  annotator: ci\n  port: 0\n")
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "label",
        "--directory",
        str(workdir),
        "--configfile",
        "config/tiny.yaml",
        "config/label.yaml",
        "--cores",
        "1",
    ]
    # Its own session, so that stopping it stops the server it started too.
    workflow = subprocess.Popen(
        command,
        cwd=workdir,
        env=snakemake_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log = workdir / "logs/label/label.log"
    try:
        deadline = time.monotonic() + 180
        base = None
        while base is None and time.monotonic() < deadline and workflow.poll() is None:
            time.sleep(0.5)
            found = [
                line
                for line in (log.read_text().splitlines() if log.exists() else [])
                if "labelling page at " in line
            ]
            if found:
                base = found[0].split("labelling page at ")[1].split("/ ")[0]
        assert base, f"no page within 180 s; snakemake said:\n{workflow.stdout.read().decode()[-3000:]}"
        state = json_request(f"{base}/api/state")
        manifests = sorted((workdir / "results/crops").glob("*.manifest.csv"))
        assert state["progress"]["total"] == sum(len(pd.read_csv(path)) for path in manifests) > 2
        for emotion in ("Happy", "Sad"):
            state = json_request(
                f"{base}/api/label",
                {
                    "item_id": state["item"]["item_id"],
                    "emotion": emotion,
                    "description": "She looks at the camera",
                },
            )
    finally:
        os.killpg(workflow.pid, signal.SIGTERM)
        workflow.wait(timeout=60)
    labels = pd.read_csv(workdir / "resources/labels/ci.csv")
    assert list(labels["emotion"]) == ["Happy", "Sad"]

    # The label file is the pipeline's annotation CSV: the join matches both rows.
    (workdir / "config/labelled.yaml").write_text(
        "demo:\n  activate: false\nepisodes_dir: resources/demo/episodes\n"
        "annotations: resources/labels/ci.csv\n"
    )
    run_snakemake(
        workdir, "results/dataset/dataset.csv", "--configfile", "config/tiny.yaml", "config/labelled.yaml"
    )
    dataset = pd.read_csv(workdir / "results/dataset/dataset.csv")
    assert sorted(dataset["emotion"]) == ["Happy", "Sad"]
    assert set(dataset["description"]) == {"She looks at the camera"}

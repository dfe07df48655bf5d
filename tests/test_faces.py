"""detect_faces / crop_faces on frames of a real encoded demo episode."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import blazeface_model, found_faces
from front_helpers import blank_video

from dramaemo import cli
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.dataset.demo import build_demo
from dramaemo.faces import detection as faces_module
from dramaemo.faces.detection import (
    DETECTION_COLUMNS,
    MANIFEST_COLUMNS,
    crop_faces,
    derived_detection_scale,
    load_cascade,
    resolve_detection_scale,
)
from dramaemo.video.frames import extract_frames

HAAR = {"detector": "haar"}


@pytest.fixture(params=["blazeface", "haar"])
def detector(request) -> dict:
    """detect_faces' settings of each detector (the default's model fetched once)."""
    if request.param == "haar":
        return HAAR
    return {"detector": "blazeface", "model": blazeface_model()}


@pytest.fixture(scope="module")
def demo_episode(tmp_path_factory):
    """(frames folder, annotation table) of one 12-second demo episode."""
    root = tmp_path_factory.mktemp("demo")
    annotations = build_demo(
        root / "episodes",
        root / "annotations.csv",
        episodes=1,
        seconds=12,
        seed=3,
        width=240,
        height=180,
        fps=5,
    )
    extract_frames(root / "episodes" / "demo01.mp4", root / "frames")
    return root / "frames", annotations


def iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_every_annotated_demo_face_is_detected_at_its_box(demo_episode, detector):
    frames, annotations = demo_episode
    found = found_faces(frames, "demo01", **detector)
    assert list(found.columns) == DETECTION_COLUMNS
    boxed = annotations.dropna(subset=["x"])
    assert len(boxed) > 0
    for row in boxed.itertuples():
        faces = found[found["second"] == row.second]
        best = max(
            (iou((f.x, f.y, f.w, f.h), (row.x, row.y, row.w, row.h)) for f in faces.itertuples()), default=0
        )
        assert best > 0.5, f"second {row.second}: no detection near the annotated box"


def test_faces_are_numbered_left_to_right(demo_episode, detector):
    found = found_faces(demo_episode[0], "demo01", **detector)
    for _, faces in found.groupby("second"):
        assert list(faces["face_index"]) == list(range(len(faces)))
        assert faces["x"].is_monotonic_increasing


def test_detection_scale_maps_boxes_back_to_original_pixels(demo_episode):
    full = found_faces(demo_episode[0], "demo01", detection_scale=1.0, **HAAR)
    half = found_faces(demo_episode[0], "demo01", detection_scale=0.6, min_size=40, **HAAR)
    assert len(half) > 0
    for face in half.itertuples():
        same_second = full[full["second"] == face.second]
        best = max(
            iou((f.x, f.y, f.w, f.h), (face.x, face.y, face.w, face.h)) for f in same_second.itertuples()
        )
        assert best > 0.6


def test_min_neighbors_is_honoured(demo_episode):
    strict = found_faces(demo_episode[0], "demo01", min_neighbors=50, **HAAR)
    loose = found_faces(demo_episode[0], "demo01", min_neighbors=1, **HAAR)
    assert len(strict) < len(loose)


def test_byte_identical_frame_reuses_boxes(demo_episode, detector, tmp_path, caplog):
    frames = tmp_path / "frames"
    frames.mkdir()
    first = sorted(demo_episode[0].glob("*.jpg"))[0]
    for second in range(3):
        shutil.copy(first, frames / f"{second:06d}.jpg")
    with caplog.at_level(logging.INFO, logger="dramaemo.faces.detection"):
        found = found_faces(frames, "ep", **detector)
    assert "2 still frames reused" in caplog.text
    per_second = [g[["x", "y", "w", "h"]].to_numpy() for _, g in found.groupby("second")]
    assert len(per_second) == 3 and all(np.array_equal(per_second[0], p) for p in per_second)


def test_video_without_faces_gives_empty_outputs_with_header(tmp_path):
    video = blank_video(tmp_path / "empty.mp4")
    extract_frames(video, tmp_path / "frames")
    detections = tmp_path / "empty.detections.csv"
    assert (
        cli.main(
            [
                "detect-faces",
                "--frames",
                str(tmp_path / "frames"),
                "--episode",
                "empty",
                "--output",
                str(detections),
                "--model",
                str(blazeface_model()),
            ]
        )
        == 0
    )
    assert detections.read_text().strip() == ",".join(DETECTION_COLUMNS)
    manifest = tmp_path / "empty.manifest.csv"
    assert (
        cli.main(
            [
                "crop-faces",
                "--frames",
                str(tmp_path / "frames"),
                "--detections",
                str(detections),
                "--outdir",
                str(tmp_path / "crops"),
                "--manifest",
                str(manifest),
            ]
        )
        == 0
    )
    assert manifest.read_text().strip() == ",".join(MANIFEST_COLUMNS)
    assert (tmp_path / "crops").is_dir() and not list((tmp_path / "crops").iterdir())


def test_unknown_cascade_is_named():
    with pytest.raises(UserError, match="no_such_cascade.xml: not a Haar cascade"):
        load_cascade("no_such_cascade.xml")


def test_crops_are_gray_squares_of_the_box_plus_margin(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:60, 30:70] = (0, 0, 255)  # a red 40x40 square: the "face"
    cv2.imwrite(str(frames / "000004.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 100])
    boxes = pd.DataFrame(
        [("ep", 4, 0, 30, 20, 40, 40), ("ep", 4, 1, 180, 80, 20, 20)], columns=DETECTION_COLUMNS
    )
    manifest = crop_faces(frames, boxes, tmp_path / "crops", margin=0.25, image_size=32)
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert list(manifest["frame_path"]) == [str(frames / "000004.jpg")] * 2
    inner = cv2.imread(manifest["crop_path"][0], cv2.IMREAD_UNCHANGED)
    assert inner.shape == (32, 32)  # grayscale, image_size
    # margin 0.25 of 40 px = 10 px of black on each side around the square
    assert inner[16, 16] > 50 and inner[1, 1] < 20 and inner[16, 1] < 20
    # the second box touches the frame's corner: clipped, still a full-size crop
    corner = cv2.imread(manifest["crop_path"][1], cv2.IMREAD_UNCHANGED)
    assert corner.shape == (32, 32)


def test_missing_frame_is_named(tmp_path):
    boxes = pd.DataFrame([("ep", 7, 0, 0, 0, 10, 10)], columns=DETECTION_COLUMNS)
    with pytest.raises(UserError, match=r"000007\.jpg: frame missing"):
        crop_faces(tmp_path, boxes, tmp_path / "crops")


def matched_boxes(found, reference, second):
    """(centre distance / side, larger side / smaller side) of each box of ``found`` at
    ``second`` and the reference box nearest to its centre."""
    theirs = reference[reference["second"] == second]
    matches = []
    for f in found[found["second"] == second].itertuples():
        distance, r = min(
            (np.hypot(f.x + f.w / 2 - r.x - r.w / 2, f.y + f.h / 2 - r.y - r.h / 2), r)
            for r in theirs.itertuples()
        )
        matches.append((distance / f.w, max(f.w, r.w) / min(f.w, r.w), min(f.w, r.w)))
    return matches


def test_derived_scale_keeps_the_smallest_face_of_min_size():
    assert derived_detection_scale(40, (24, 24)) == pytest.approx(0.6)
    assert derived_detection_scale(20, (24, 24)) == 1.0  # never upsampled
    classifier = load_cascade("haarcascade_frontalface_default.xml")
    assert resolve_detection_scale("auto", 40, classifier) == pytest.approx(0.6)
    assert resolve_detection_scale("0.5", 40, classifier) == 0.5
    with pytest.raises(UserError, match="faces.detection_scale: 'fast' is outside"):
        resolve_detection_scale("fast", 40, classifier)


def test_auto_scale_finds_the_full_resolution_faces_box_by_box(demo_episode):
    full = found_faces(demo_episode[0], "demo01", detection_scale=1.0, **HAAR)
    auto = found_faces(demo_episode[0], "demo01", detection_scale="auto", **HAAR)
    assert len(full) > 0
    assert list(full.groupby("second").size().items()) == list(
        auto.groupby("second").size().items()
    )  # same number of faces in each frame
    # Same face: centre within a tenth of the side, and a side within one pyramid step
    # (the two scales' pyramids sample box sizes at different points, scale_factor apart),
    # give or take the pixel that rounding a side to an integer adds
    step = schema_defaults("faces")["scale_factor"]
    for second in full["second"].unique():
        for found, reference in ((full, auto), (auto, full)):
            for offset, ratio, side in matched_boxes(found, reference, second):
                assert offset <= 0.1 and ratio <= step * (1 + 1 / side), (second, offset, ratio)


def test_threads_give_the_same_detections(demo_episode, detector, tmp_path, monkeypatch):
    # still frames across a chunk boundary too: 000002..000004 are copies of one frame
    frames = tmp_path / "frames"
    frames.mkdir()
    sources = sorted(demo_episode[0].glob("*.jpg"))
    for second, source in enumerate(sources[:2] + [sources[2]] * 3 + sources[3:]):
        shutil.copy(source, frames / f"{second:06d}.jpg")
    monkeypatch.setattr(faces_module, "CHUNK_FRAMES", 3)
    one = found_faces(frames, "demo01", threads=1, **detector)
    for threads in (2, 4):
        pd.testing.assert_frame_equal(found_faces(frames, "demo01", threads=threads, **detector), one)
    assert len(one) > 0


def test_crops_of_unchanged_boxes_are_kept_and_the_rest_recut(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    image = np.random.default_rng(0).integers(0, 255, (100, 200, 3), np.uint8)
    for second in (1, 2):
        cv2.imwrite(str(frames / f"{second:06d}.jpg"), image)
    crops = tmp_path / "crops"
    first = crop_faces(
        frames,
        pd.DataFrame(
            [("ep", 1, 0, 10, 10, 40, 40), ("ep", 1, 1, 100, 10, 40, 40), ("ep", 2, 0, 10, 10, 40, 40)],
            columns=DETECTION_COLUMNS,
        ),
        crops,
        image_size=32,
    )
    stamps = {path: Path(path).stat().st_mtime_ns for path in first["crop_path"]}
    # a new face left of the second one (which becomes face 2), one box moved, one gone
    second = crop_faces(
        frames,
        pd.DataFrame(
            [("ep", 1, 0, 10, 10, 40, 40), ("ep", 1, 1, 50, 10, 40, 40), ("ep", 1, 2, 100, 10, 40, 40)],
            columns=DETECTION_COLUMNS,
        ),
        crops,
        image_size=32,
    )
    kept = [first["crop_path"][0], first["crop_path"][1]]
    assert second["crop_path"][0] == kept[0]
    assert Path(kept[0]).stat().st_mtime_ns == stamps[kept[0]]
    renamed = Path(second["crop_path"][2])
    assert renamed.name.startswith("000001_2_") and not Path(kept[1]).exists()
    assert renamed.stat().st_mtime_ns == stamps[kept[1]]  # moved, not recut
    assert sorted(p.name for p in crops.iterdir()) == sorted(
        Path(p).name for p in second["crop_path"]
    )  # second 2's crop is gone
    # another crop setting: every crop is cut again
    third = crop_faces(frames, second[DETECTION_COLUMNS], crops, image_size=32, margin=0.1)
    assert not set(third["crop_path"]) & set(second["crop_path"])
    assert len(list(crops.iterdir())) == 3


def test_demo_faces_show_their_emotion_and_stay_detectable():
    """Each demo caricature keeps a Haar face at the card's box, and a linear model on
    jittered crops tells the seven apart at twice chance (1/7) or more for each portrait: the
    face, not only the description, supports the demo's labels."""
    from sklearn.linear_model import LogisticRegression

    from dramaemo import EMOTIONS
    from dramaemo.dataset.demo import CASCADE, express, load_characters

    classifier = load_cascade(CASCADE)
    rng = np.random.default_rng(0)
    for character in load_characters():
        crops, emotions = [], []
        for emotion in EMOTIONS:
            expressed = express(character, emotion)
            gray = cv2.cvtColor(expressed.card, cv2.COLOR_RGB2GRAY)
            fx, fy, fw, fh = expressed.face
            found = classifier.detectMultiScale(gray, 1.1, 5, minSize=(40, 40))
            assert any(
                abs(x + w / 2 - fx - fw / 2) < fw / 5 and abs(y + h / 2 - fy - fh / 2) < fh / 5
                for x, y, w, h in found
            ), (character.name, emotion, found)
            for _ in range(40):  # the demo's own variations: position, brightness, mirror
                dx, dy = rng.integers(-fw // 12, fw // 12 + 1, 2)
                crop = gray[fy + dy : fy + dy + fh, fx + dx : fx + dx + fw] * rng.uniform(0.8, 1.15)
                crop = cv2.resize(crop[:, ::-1] if rng.random() < 0.5 else crop, (32, 32))
                crops.append(((crop - crop.mean()) / crop.std()).ravel())
                emotions.append(emotion)
        crops, emotions = np.array(crops), np.array(emotions)
        train = np.arange(len(crops)) % 2 == 0
        model = LogisticRegression(max_iter=2000).fit(crops[train], emotions[train])
        accuracy = (model.predict(crops[~train]) == emotions[~train]).mean()
        assert accuracy > 2 / 7, (character.name, accuracy)

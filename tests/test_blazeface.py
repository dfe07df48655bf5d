"""BlazeFace (dramaemo.faces.blazeface): the real model from the mediapipe wheel on real frames
of encoded demo episodes, against the Haar cascade's boxes and the annotated ones."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import blazeface_model, found_faces, local_wheel

from dramaemo.core import options
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.dataset.demo import build_demo
from dramaemo.faces import blazeface
from dramaemo.video.frames import extract_frames


@pytest.fixture(scope="module")
def demo_frames(tmp_path_factory):
    """Frames of one 12-second demo episode at 240x180 (faces of 47-65 px)."""
    root = tmp_path_factory.mktemp("demo")
    build_demo(
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
    return root / "frames"


def centres_and_sides(table):
    return {second: group[["x", "y", "w", "h"]].to_numpy(float) for second, group in table.groupby("second")}


def test_boxes_frame_faces_as_the_haar_cascade_does(demo_frames):
    """Crops cut from either detector's boxes show the same part of the face: the same
    faces, centres within a tenth of the side, sides within 15%."""
    blaze = centres_and_sides(found_faces(demo_frames, "demo01", model=blazeface_model()))
    haar = centres_and_sides(found_faces(demo_frames, "demo01", detector="haar"))
    assert blaze.keys() == haar.keys() and len(blaze) >= 10
    ratios = []
    for second, boxes in blaze.items():
        assert len(boxes) == len(haar[second]), second
        for (x, y, w, h), (hx, hy, hw, hh) in zip(boxes, haar[second]):
            offset = np.hypot(x + w / 2 - hx - hw / 2, y + h / 2 - hy - hh / 2) / hw
            assert offset <= 0.1, (second, offset)
            ratios.append(w / hw)
    assert 0.85 <= np.median(ratios) <= 1.15 and min(ratios) > 0.7 and max(ratios) < 1.4


def test_large_frames_decoded_smaller_find_the_same_faces(demo_frames, tmp_path):
    """A 960x720 frame is decoded at 1/2 (jpeg_reduction): the same boxes as at full size,
    in full-size pixels."""
    source = cv2.imread(str(sorted(demo_frames.glob("*.jpg"))[2]))
    large = cv2.resize(source, (960, 720), interpolation=cv2.INTER_CUBIC)
    data = cv2.imencode(".jpg", large, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    assert blazeface.jpeg_reduction(720, 960) == 2
    settings = {"model": blazeface_model(), "min_score": 0.3, "min_size": 40}
    full = blazeface.BlazeFace(reduction=1, **settings)(data)
    reduced = blazeface.BlazeFace(reduction=2, **settings)(data)
    assert len(full) == len(reduced) >= 1
    for a, b in zip(full, reduced):
        assert np.abs(np.subtract(a, b)).max() <= 0.05 * a[2], (a, b)


def test_min_size_is_in_original_pixels(demo_frames):
    found = found_faces(demo_frames, "demo01", model=blazeface_model(), min_size=40)
    assert len(found) > 0 and (found[["w", "h"]].min(axis=1) >= 40).all()
    smallest = int(found[["w", "h"]].min(axis=1).min())
    fewer = found_faces(demo_frames, "demo01", model=blazeface_model(), min_size=smallest + 1)
    assert len(fewer) < len(found)


@pytest.mark.parametrize(
    ("height", "width", "count", "reduction"),
    [
        (720, 1280, 3, 2),
        (1080, 1920, 3, 4),
        (360, 640, 3, 1),
        (180, 240, 3, 1),
        (1600, 1600, 1, 8),
        (1920, 1080, 3, 4),
    ],
)
def test_views_and_jpeg_reduction(height, width, count, reduction):
    views = blazeface.views(height, width)
    assert len(views) == count and views[0] == (0, 0, width, height)
    for x, y, w, h in views[1:]:  # squares of the short side, inside the frame
        assert w == h == min(height, width) and x + w <= width and y + h <= height
    assert blazeface.jpeg_reduction(height, width) == reduction
    assert min(height, width) // reduction >= blazeface.INPUT_SIDE or reduction == 1


def test_missing_or_wrong_model_is_named(tmp_path):
    with pytest.raises(UserError, match=r"absent\.tflite: no such BlazeFace model; run rule fetch_blazeface"):
        blazeface.BlazeFace(model=tmp_path / "absent.tflite", min_score=0.3, min_size=40)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(UserError, match=r"junk\.tflite: not a TFLite model"):
        blazeface.BlazeFace(model=junk, min_score=0.3, min_size=40)


def test_fetch_model_from_a_local_wheel(tmp_path, monkeypatch):
    """The real pip download path, offline: a wheel folder stands in for PyPI."""
    wheels = tmp_path / "wheels"
    local_wheel(wheels, "mediapipe", "9.9.9", {blazeface.MODEL_MEMBER: blazeface_model().read_bytes()})
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    output = blazeface.fetch_model(tmp_path / "resources" / "model.tflite", "9.9.9")
    assert output.read_bytes() == blazeface_model().read_bytes()
    blazeface.BlazeFace(model=output, min_score=0.3, min_size=40)  # loads
    with pytest.raises(UserError, match=r"pip download mediapipe==1.0.0 failed"):
        blazeface.fetch_model(tmp_path / "x.tflite", "1.0.0")


def test_each_detector_reads_only_its_own_settings():
    faces = schema_defaults("faces")
    assert faces["detector"] == "blazeface"
    assert options.detector_settings(faces) == {
        "detector": "blazeface",
        "min_size": faces["min_size"],
        "model": faces["blazeface"]["model"],
        "min_score": faces["blazeface"]["min_score"],
    }
    haar = options.detector_settings({**faces, "detector": "haar"})
    assert set(haar) == {
        "detector",
        "min_size",
        "cascade",
        "scale_factor",
        "min_neighbors",
        "detection_scale",
    }
    assert options.detector_options({**faces, "detector": "haar", "cascade": "my file.xml"})[:7] == [
        "--detector",
        "haar",
        "--min-size",
        "40",
        "--cascade",
        "my file.xml",
        "--scale-factor",
    ]

"""The front half as a real Snakemake run on the tiny demo (tests/data/tiny.yaml)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_snakemake

from dramaemo.core.config import schema_defaults

pytestmark = pytest.mark.slow


def test_front_outputs(tiny_front):
    dataset = pd.read_csv(tiny_front / "results/dataset/dataset.csv")
    assert len(dataset) > 20
    assert dataset.columns.tolist() == [
        "item_id",
        "episode",
        "second",
        "face_index",
        "x",
        "y",
        "w",
        "h",
        "crop_path",
        "emotion",
        "description",
        "scene_id",
    ]
    assert set(dataset["episode"]) == {"demo01", "demo02"}
    assert dataset["item_id"].is_unique
    # the demo's faces are all found: the join matched every annotated face
    report = (tiny_front / "results/dataset/join_report.md").read_text()
    annotations = pd.read_csv(tiny_front / "resources/demo/annotations.csv")
    assert f"{len(annotations)} of {len(annotations)} valid annotated faces matched" in report
    packed = np.load(tiny_front / "results/dataset/images.npz")
    assert packed["images"].dtype == np.uint8 and packed["images"].shape == (len(dataset), 32, 32)
    assert packed["item_id"].tolist() == dataset["item_id"].tolist()
    split = pd.read_csv(tiny_front / "results/split/scene/draw0.csv")
    assert split.columns.tolist() == ["item_id", "scene_id", "part", "draw"]
    assert set(split["draw"]) == {0}
    assert split["item_id"].tolist() == dataset["item_id"].tolist()
    assert (split.groupby("scene_id")["part"].nunique() == 1).all()
    frames = sorted((tiny_front / "results/frames/demo01").glob("*.jpg"))
    assert [f.name for f in frames] == [f"{s:06d}.jpg" for s in range(20)]
    for rule in ("extract_frames", "detect_faces", "crop_faces", "join_annotations", "split"):
        assert list((tiny_front / "benchmarks" / rule).rglob("*.tsv")), rule
        assert list((tiny_front / "logs" / rule).rglob("*.log")), rule
    assert "frames/s" in (tiny_front / "logs/detect_faces/demo01.log").read_text()


def dry_run_rules(workdir, *targets) -> set[str]:
    result = run_snakemake(workdir, "--dry-run", *targets)
    return set(re.findall(r"^rule (\w+):", result.stdout, flags=re.M))


def test_editing_a_detector_setting_reruns_detection_not_frames(tiny_front_copy):
    """A setting of the chosen detector (BlazeFace's min_score) reruns detection; one of
    the other detector (Haar's min_neighbors) reruns nothing."""
    work = tiny_front_copy
    targets = ("results/dataset/images.npz", "results/split/scene/draw0.csv")
    assert dry_run_rules(work, *targets) == set()  # up to date
    config = yaml.safe_load((work / "config/tiny.yaml").read_text())
    config["faces"] = {"min_neighbors": 4}
    (work / "config/tiny.yaml").write_text(yaml.safe_dump(config))
    assert dry_run_rules(work, *targets) == set()
    config["faces"]["blazeface"] = {**schema_defaults("faces", "blazeface"), "min_score": 0.5}
    (work / "config/tiny.yaml").write_text(yaml.safe_dump(config))
    assert dry_run_rules(work, *targets) == {
        "detect_faces",
        "crop_faces",
        "join_annotations",
        "pack_images",
        "split",
    }
    frame = work / "results/frames/demo01/000003.jpg"
    detections = work / "results/faces/demo01.detections.csv"
    before = frame.stat().st_mtime_ns, detections.stat().st_mtime_ns
    run_snakemake(work, *targets)
    assert frame.stat().st_mtime_ns == before[0]
    assert detections.stat().st_mtime_ns > before[1]


def test_editing_the_split_seed_draws_a_new_split_only(tiny_front_copy):
    """split.seed names the draw: a new seed is a new split file beside the old one, and
    nothing before the split reruns."""
    work = tiny_front_copy
    config = yaml.safe_load((work / "config/tiny.yaml").read_text())
    config["split"]["seed"] = 7
    (work / "config/tiny.yaml").write_text(yaml.safe_dump(config))
    assert dry_run_rules(work, "results/dataset/images.npz", "results/split/scene/draw7.csv") == {"split"}
    run_snakemake(work, "results/split/scene/draw7.csv")
    old, new = (pd.read_csv(work / f"results/split/scene/draw{draw}.csv") for draw in (0, 7))
    assert set(new["draw"]) == {7} and old["item_id"].tolist() == new["item_id"].tolist()
    assert (old["part"] != new["part"]).any()  # another draw: other scenes in test


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("min_neighbors", "five", "'five' is not of type 'integer'"),
        ("scale_factor", 0.5, "0.5 is less than or equal to the minimum of 1"),
    ],
)
def test_config_value_of_wrong_type_or_range_is_a_schema_error(tiny_workdir, key, value, message):
    config = yaml.safe_load((tiny_workdir / "config/tiny.yaml").read_text())
    config["faces"] = {key: value}
    (tiny_workdir / "config/tiny.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tiny_workdir, "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert message in output and key in output


def test_blazeface_model_is_fetched_only_when_absent_and_chosen(tiny_workdir):
    target = "results/faces/demo01.detections.csv"
    assert dry_run_rules(tiny_workdir, target) == {"build_demo", "extract_frames", "detect_faces"}
    (tiny_workdir / schema_defaults("faces", "blazeface")["model"]).unlink()
    assert "fetch_blazeface" in dry_run_rules(tiny_workdir, target)
    config = yaml.safe_load((tiny_workdir / "config/tiny.yaml").read_text())
    config["faces"] = {"detector": "haar"}
    (tiny_workdir / "config/tiny.yaml").write_text(yaml.safe_dump(config))
    assert "fetch_blazeface" not in dry_run_rules(tiny_workdir, target)


def test_zero_byte_episode_fails_naming_the_file(tiny_workdir):
    episodes = tiny_workdir / "episodes"
    episodes.mkdir()
    (episodes / "ep01.mp4").touch()
    (tiny_workdir / "labels.csv").write_text(
        "episode,second,x,y,w,h,emotion,description\nep01,1,,,,,Happy,A.\n"
    )
    config = yaml.safe_load((tiny_workdir / "config/tiny.yaml").read_text())
    config["demo"]["activate"] = False
    config.update(episodes_dir="episodes", annotations="labels.csv")
    (tiny_workdir / "config/tiny.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tiny_workdir, "results/frames/ep01.info.json", check=False)
    assert result.returncode != 0
    # the video check stops the run before any job
    assert "episodes/ep01.mp4: empty (zero-byte) video file" in result.stderr
    assert not (tiny_workdir / "logs").exists()


def test_own_episodes_with_a_faceless_video(tiny_front, tiny_workdir):
    """Non-demo layout: a user's folder of videos (one without faces) and CSV."""
    episodes = tiny_workdir / "episodes"
    episodes.mkdir()
    shutil.copy(tiny_front / "resources/demo/episodes/demo01.mp4", episodes / "ep01.mp4")
    from front_helpers import blank_video

    blank_video(episodes / "ep02.mkv", seconds=4)
    annotations = pd.read_csv(tiny_front / "resources/demo/annotations.csv")
    annotations = annotations[annotations["episode"] == "demo01"].replace("demo01", "ep01")
    annotations.to_csv(tiny_workdir / "labels.csv", index=False)
    config = yaml.safe_load((tiny_workdir / "config/tiny.yaml").read_text())
    config["demo"]["activate"] = False
    config.update(
        episodes_dir="episodes", annotations="labels.csv", label_map={"glad": "Happy"}, frames={"keep": False}
    )
    # one 20-second episode has too few scenes per class for a 5-fold scene split
    config["split"]["strategies"] = ["random"]
    (tiny_workdir / "config/tiny.yaml").write_text(yaml.safe_dump(config))
    run_snakemake(tiny_workdir, "results/split/random/draw0.csv", "results/dataset/images.npz")
    assert (
        tiny_workdir / "results/faces/ep02.detections.csv"
    ).read_text().strip() == "episode,second,face_index,x,y,w,h"
    report = pd.read_csv(tiny_workdir / "results/dataset/join_report.csv")
    assert report.loc[report["category"] == "video_without_annotations", "episode"].tolist() == ["ep02"]
    assert (report["category"] == "matched").sum() == len(annotations)
    # frames.keep false: the frame folders are temporary, gone once cropped
    assert not (tiny_workdir / "results/frames/ep01").exists()
    assert (tiny_workdir / "results/frames/ep01.info.json").exists()

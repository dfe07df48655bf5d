"""Real-world inputs in real Snakemake runs of the tiny workflow (issue 12): episode
names with spaces, Korean letters, dots and apostrophes in a folder with a space; names
that cannot work; misspelt config keys; bad videos listed at once, or skipped."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import make_workdir, run_snakemake

pytestmark = pytest.mark.slow

# The two demo episodes under names a user's files have (Misaeng episodes are often
# named like the first); the folder has a space too.
NAMES = {"demo01": "미생 01", "demo02": "it's ep.2 (final)"}


def own_episodes(workdir: Path, front: Path, names: dict[str, str], **settings) -> Path:
    """Copy the demo episodes of ``front`` into ``workdir/my episodes`` under ``names``,
    rename them in the annotation CSV, and point the tiny config at both."""
    episodes = workdir / "my episodes"
    episodes.mkdir()
    for demo, name in names.items():
        shutil.copy(front / f"resources/demo/episodes/{demo}.mp4", episodes / f"{name}.mp4")
    annotations = pd.read_csv(front / "resources/demo/annotations.csv")
    annotations["episode"] = annotations["episode"].map(names)
    (workdir / "label files").mkdir()
    annotations.to_csv(workdir / "label files/annotations 1.csv", index=False)
    config = yaml.safe_load((workdir / "config/tiny.yaml").read_text())
    config["demo"]["activate"] = False
    config.update(episodes_dir="my episodes", annotations="label files/annotations 1.csv", **settings)
    (workdir / "config/tiny.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    return episodes


def test_episode_names_with_spaces_korean_dots_apostrophes_end_to_end(tiny_front, tmp_path, monkeypatch):
    work = make_workdir(tmp_path / "my work")  # the working folder has a space too
    own_episodes(work, tiny_front, NAMES, models=["baseline"], late_fusion={"activate": False})
    run_snakemake(work, "results/table/scene/f1_table.md")
    for name in NAMES.values():
        assert len(list((work / "results/frames" / name).glob("*.jpg"))) == 20
        assert (work / f"logs/extract_frames/{name}.log").exists()
        manifest = pd.read_csv(work / f"results/crops/{name}.manifest.csv")
        assert len(manifest) > 0 and set(manifest["episode"]) == {name}
    dataset = pd.read_csv(work / "results/dataset/dataset.csv")
    front = pd.read_csv(tiny_front / "results/dataset/dataset.csv")
    assert sorted(dataset["episode"].unique()) == sorted(NAMES.values())
    assert len(dataset) == len(front)  # the same faces as under the demo's own names
    table = (work / "results/table/scene/f1_table.md").read_text()
    assert "Baseline CNN (image)" in table and "Macro-F1" in table

    # the labelling page serves these crops and frames, and its CSV feeds the join
    from dramaemo.dataset.annotations import join
    from dramaemo.labelling.page import create_app
    from dramaemo.labelling.store import LabelStore, read_manifests

    monkeypatch.chdir(work)  # where `snakemake label` runs the page: paths as written
    manifests = sorted((work / "results/crops").glob("*.manifest.csv"))
    crops, dropped = read_manifests(manifests, work / "results/crops")
    assert dropped == []
    store = LabelStore(work / "labels/alice.csv", "alice", crops)
    client = create_app(store, work / "results/crops").test_client()
    item = client.get("/api/state").get_json()["item"]
    assert item["episode"] in NAMES.values()
    for url in (item["crop_url"], item["frame_url"]):
        response = client.get(url)
        assert response.status_code == 200 and len(response.data) > 100, url
    response = client.post(
        "/api/label", json={"item_id": item["item_id"], "emotion": "Happy", "description": "Smiles."}
    )
    assert response.status_code == 200, response.get_json()
    labels = pd.read_csv(work / "labels/alice.csv")
    assert labels["episode"].tolist() == [item["episode"]]
    infos = {
        name: yaml.safe_load((work / f"results/frames/{name}.info.json").read_text())
        for name in NAMES.values()
    }
    faces = {name: pd.read_csv(work / f"results/crops/{name}.manifest.csv") for name in NAMES.values()}
    labelled, _, summary = join(work / "labels/alice.csv", faces, infos)
    assert summary["counts"]["matched"] == 1 and len(labelled) == 1


def test_names_that_cannot_be_episode_ids_stop_naming_each_file(tiny_workdir):
    episodes = tiny_workdir / "episodes"
    episodes.mkdir()
    (episodes / "fine ep.mp4").write_bytes(b"not read: names are checked first")
    bad = {"._ep01": "starts with a dot", "ep\n02": "control character(s) '\\n'", "ep{03}": "braces"}
    for name in bad:
        (episodes / f"{name}.mp4").write_bytes(b"")
    config = yaml.safe_load((tiny_workdir / "config/tiny.yaml").read_text())
    config["demo"]["activate"] = False
    config.update(episodes_dir="episodes", annotations="labels.csv")
    (tiny_workdir / "config/tiny.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tiny_workdir, "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "cannot be episode ids (rename the files)" in output, output[-2000:]
    for name, problem in bad.items():  # all of them at once
        assert f"episodes/{name}.mp4: " in output and problem in output, (name, output)
    assert "fine ep" not in output
    assert "Traceback" not in output


def test_misspelt_config_keys_stop_with_the_nearest_key(tiny_workdir):
    """A top-level, a nested and a resources typo, all named in one message."""
    tiny = tiny_workdir / "config/tiny.yaml"
    config = yaml.safe_load(tiny.read_text())
    config["tarin"] = {"epochs": 2}
    config["train"]["image"]["filtres"] = [4, 8]
    config["resources"] = {"detect_face": {"threads": 1, "mem_mb": 500, "runtime": 5}}
    tiny.write_text(yaml.safe_dump(config))
    result = run_snakemake(tiny_workdir, "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for message in (
        "unknown key 'tarin' (top level); did you mean 'train'?",
        "unknown key 'filtres' (train.image); did you mean 'filters'?",
        "unknown key 'detect_face' (resources); did you mean 'detect_faces'?",
    ):
        assert message in output, output[-2000:]
    assert "Traceback" not in output


def test_bad_videos_are_listed_at_once_then_skipped(tiny_front, tiny_workdir):
    work = tiny_workdir
    episodes = own_episodes(
        work,
        tiny_front,
        {"demo01": "ep01", "demo02": "ep02"},
        split={"strategies": ["random"], "test_fraction": 0.2, "seed": 0, "draw_per_seed": True},
    )
    intact = (episodes / "ep02.mp4").read_bytes()
    (episodes / "ep02.mp4").write_bytes(intact[: len(intact) // 3])  # a cut download
    (episodes / "empty.mp4").touch()
    (episodes / "notes.mkv").write_text("not a video\n")
    targets = ("results/dataset/dataset.csv", "results/split/random/draw0.csv")
    result = run_snakemake(work, "--dry-run", *targets, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "3 of 4 episode videos cannot be used" in output
    for name, reason in (
        ("ep02.mp4", "corrupt or truncated"),
        ("empty.mp4", "empty (zero-byte)"),
        ("notes.mkv", ""),
    ):
        assert f"my episodes/{name}: {reason}" in output, output
    assert "Traceback" not in output

    tiny = work / "config/tiny.yaml"
    tiny.write_text(tiny.read_text() + "on_bad_video: skip\n")
    run_snakemake(work, *targets)
    assert sorted(p.name for p in (work / "results/frames").iterdir()) == [
        "ep01",
        "ep01.info.json",
        "ep01.scenes.csv",
    ]  # nothing is made of the skipped videos
    report = pd.read_csv(work / "results/dataset/join_report.csv")
    skipped = report[report["category"] == "skipped_video"]
    assert sorted(skipped["episode"]) == ["empty", "ep02", "notes"]
    assert "my episodes/empty.mp4: empty (zero-byte)" in " ".join(skipped["detail"])
    rows_of_ep02 = report[(report["episode"] == "ep02") & (report["kind"] == "row")]
    assert set(rows_of_ep02["category"]) == {"episode_without_video"}
    assert "## skipped_video (3)" in (work / "results/dataset/join_report.md").read_text()
    assert set(pd.read_csv(work / "results/dataset/dataset.csv")["episode"]) == {"ep01"}
    # ... and the Snakemake report carries that join report
    run_snakemake(work, *targets, "--report", "report.zip")
    with zipfile.ZipFile(work / "report.zip") as archive:
        shown = [name for name in archive.namelist() if name.endswith("join_report.csv")]
        assert shown and b"skipped_video" in archive.read(shown[0])
    # the repaired episode joins in; the others are not redone
    frames = (work / "results/frames/ep01.info.json").stat().st_mtime_ns
    (episodes / "ep02.mp4").write_bytes(intact)
    run_snakemake(work, *targets)
    assert set(pd.read_csv(work / "results/dataset/dataset.csv")["episode"]) == {"ep01", "ep02"}
    assert (work / "results/frames/ep01.info.json").stat().st_mtime_ns == frames

"""A detection setting changed: Snakemake reruns crop_faces, which recuts only the crops
of boxes that changed (the crop folder is an update() output, kept across the rerun)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import run_snakemake

pytestmark = pytest.mark.slow

BOX = ["second", "x", "y", "w", "h"]


def test_rerun_of_detection_keeps_the_crops_of_unchanged_boxes(tiny_front_copy):
    work = tiny_front_copy
    manifest = work / "results/crops/demo01.manifest.csv"
    frame = work / "results/frames/demo01/000003.jpg"
    before = pd.read_csv(manifest)
    stamps = {path: (work / path).stat().st_mtime_ns for path in before["crop_path"]}
    frame_stamp = frame.stat().st_mtime_ns
    config = yaml.safe_load((work / "config/tiny.yaml").read_text())
    config["faces"]["min_neighbors"] = 1  # more (false) faces; the real ones stay
    (work / "config/tiny.yaml").write_text(yaml.safe_dump(config))
    run_snakemake(work, "results/crops/demo01.manifest.csv")
    after = pd.read_csv(manifest)
    assert len(after) > len(before)
    same = after.merge(before, on=BOX, suffixes=("", "_before"))
    assert len(same) == len(before)  # every earlier box is found again
    for row in same.itertuples():  # ... and its crop file kept (perhaps renamed)
        assert (work / row.crop_path).stat().st_mtime_ns == stamps[row.crop_path_before]
    new = after[~after["crop_path"].isin(same["crop_path"])]
    assert all((work / path).stat().st_mtime_ns > max(stamps.values())
               for path in new["crop_path"])
    crops = {p.relative_to(work).as_posix()
             for p in (work / "results/crops/demo01").glob("*.png")}
    assert crops == set(after["crop_path"])  # nothing stale left behind
    assert frame.stat().st_mtime_ns == frame_stamp  # frames are not extracted again
    log = (work / "logs/crop_faces/demo01.log").read_text()
    assert f"{len(new)} written, {len(before)} kept from an earlier run" in log

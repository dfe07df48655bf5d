"""A detection setting changed: Snakemake reruns crop_faces, which recuts only the crops
of boxes that changed (the crop folder is an update() output, kept across the rerun)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from conftest import run_snakemake

from dramaemo.core.config import schema_defaults

pytestmark = pytest.mark.slow

BOX = ["second", "x", "y", "w", "h"]
MANIFEST = "results/crops/demo01.manifest.csv"


def rerun_with_min_score(work, value: float) -> pd.DataFrame:
    config = yaml.safe_load((work / "config/tiny.yaml").read_text())
    config.setdefault("faces", {})["blazeface"] = {
        **schema_defaults("faces", "blazeface"),
        "min_score": value,
    }
    (work / "config/tiny.yaml").write_text(yaml.safe_dump(config))
    run_snakemake(work, MANIFEST)
    after = pd.read_csv(work / MANIFEST)
    crops = {p.relative_to(work).as_posix() for p in (work / "results/crops/demo01").glob("*.png")}
    assert crops == set(after["crop_path"])  # nothing stale left behind
    return after


def test_rerun_of_detection_keeps_the_crops_of_unchanged_boxes(tiny_front_copy):
    work = tiny_front_copy
    frame = work / "results/frames/demo01/000003.jpg"
    before = pd.read_csv(work / MANIFEST)
    stamps = {path: (work / path).stat().st_mtime_ns for path in before["crop_path"]}
    frame_stamp = frame.stat().st_mtime_ns
    # stricter: a weak face of the demo is dropped, the others keep their boxes ...
    strict = rerun_with_min_score(work, 0.9)  # demo01: 25 faces at 0.3 .. 0.8, 16 at 0.9
    assert 0 < len(strict) < len(before)
    same = strict.merge(before, on=BOX, suffixes=("", "_before"))
    assert len(same) == len(strict)
    for row in same.itertuples():  # ... and their crop files (perhaps renamed)
        assert (work / row.crop_path).stat().st_mtime_ns == stamps[row.crop_path_before]
    log = (work / "logs/crop_faces/demo01.log").read_text()
    assert f"0 written, {len(strict)} kept from an earlier run" in log
    # back to the default: only the dropped face's crop is cut again
    again = rerun_with_min_score(work, schema_defaults("faces", "blazeface")["min_score"])
    assert again[BOX].equals(before[BOX])
    # by box, not path: a kept crop is renamed when a recut face left of it moves its index
    recut = again.merge(strict[BOX], on=BOX, how="left", indicator=True)
    recut = recut[recut["_merge"] == "left_only"]
    assert len(recut) == len(before) - len(strict)
    assert all((work / path).stat().st_mtime_ns > max(stamps.values()) for path in recut["crop_path"])
    log = (work / "logs/crop_faces/demo01.log").read_text()
    assert f"{len(recut)} written, {len(strict)} kept from an earlier run" in log
    assert frame.stat().st_mtime_ns == frame_stamp  # frames are not extracted again

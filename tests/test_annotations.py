"""join_annotations: validation, matching and the join report; pack_images."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dramaemo import cli
from dramaemo.core.errors import UserError
from dramaemo.dataset.annotations import (
    ANNOTATION_COLUMNS,
    CATEGORIES,
    join,
    read_annotations,
    report_markdown,
)
from dramaemo.dataset.packing import pack_images
from dramaemo.faces.detection import MANIFEST_COLUMNS

HEADER = ",".join(ANNOTATION_COLUMNS)
INFOS = {
    "ep01": {"width": 320, "height": 240, "frames": 30},
    "ep02": {"width": 320, "height": 240, "frames": 30},
}


def manifest(*faces):
    """Detections as (episode, second, face_index, x, y, w, h)."""
    rows = [(*f, f"crops/{f[0]}/{f[1]:06d}_{f[2]}.png", f"frames/{f[0]}/{f[1]:06d}.jpg") for f in faces]
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)


def run_join(tmp_path, lines, faces=(), infos=INFOS, label_map=None, raw=None):
    path = tmp_path / "annotations.csv"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    detections = manifest(*faces)
    manifests = {e: detections[detections["episode"] == e] for e in infos}
    return join(path, manifests, infos, label_map)


def categories_of_rows(report):
    rows = report[report["kind"] == "row"]
    return dict(zip(rows["row"], rows["category"]))


def test_box_match_and_scene_ids(tmp_path):
    dataset, report, summary = run_join(
        tmp_path,
        [
            "ep01,3,100,50,60,60,happy,Grace opens a present.",
            "ep01,4,100,50,60,60,HAPPY,Grace opens a present.",
            "ep01,6,100,50,60,60,Sad,Grace opens a present.",
            "ep01,4,200,50,60,60,Neutral,Eileen reads.",
        ],
        faces=[
            ("ep01", 3, 0, 105, 55, 50, 50),
            ("ep01", 4, 0, 102, 52, 58, 58),
            ("ep01", 4, 1, 198, 48, 64, 64),
            ("ep01", 6, 0, 100, 50, 60, 60),
        ],
    )
    assert summary["counts"]["matched"] == 4 and summary["matched_share"] == 1.0
    assert list(dataset["emotion"]) == ["Happy", "Happy", "Neutral", "Sad"]
    assert dataset["item_id"].tolist() == ["ep01_000003_0", "ep01_000004_0", "ep01_000004_1", "ep01_000006_0"]
    # the detection's own box, not the annotated one
    assert dataset.iloc[0][["x", "y", "w", "h"]].tolist() == [105, 55, 50, 50]
    scenes = dict(zip(dataset["item_id"], dataset["scene_id"]))
    assert scenes["ep01_000003_0"] == scenes["ep01_000004_0"]  # consecutive, same text
    assert scenes["ep01_000006_0"] != scenes["ep01_000004_0"]  # a gap of one second
    assert scenes["ep01_000004_1"] != scenes["ep01_000004_0"]  # other text, same second


def test_boxless_row_matches_the_only_face_and_is_ambiguous_with_two(tmp_path):
    dataset, report, summary = run_join(
        tmp_path,
        [
            "ep01,1,,,,,Fear,Alone in the corridor.",
            "ep01,2,,,,,Fear,Alone in the corridor.",
        ],
        faces=[
            ("ep01", 1, 0, 10, 10, 50, 50),
            ("ep01", 2, 0, 10, 10, 50, 50),
            ("ep01", 2, 1, 200, 10, 50, 50),
        ],
    )
    assert categories_of_rows(report) == {2: "matched", 3: "ambiguous"}
    assert summary["matched_share"] == 0.5
    # both faces of second 2 are then listed, none is silently lost
    unannotated = report[report["category"] == "unannotated_detection"]
    assert sorted(unannotated["face_index"]) == [0, 1]


def test_no_detection_and_unannotated_detection_are_listed(tmp_path):
    _, report, summary = run_join(
        tmp_path,
        [
            "ep01,5,100,50,60,60,Angry,Shouts.",
        ],
        faces=[("ep01", 5, 0, 250, 150, 40, 40), ("ep01", 9, 0, 10, 10, 40, 40)],
    )
    assert categories_of_rows(report) == {2: "no_detection"}
    assert summary["counts"]["unannotated_detection"] == 2


def test_ties_go_to_the_larger_overlap(tmp_path):
    dataset, report, summary = run_join(
        tmp_path,
        [
            "ep01,1,0,0,200,200,Happy,Big box.",
            "ep01,1,90,90,60,60,Sad,Small box.",
            "ep01,2,0,0,200,200,Angry,One box.",
        ],
        faces=[
            ("ep01", 1, 0, 95, 95, 55, 55),
            ("ep01", 2, 0, 10, 10, 180, 180),
            ("ep01", 2, 1, 80, 80, 30, 30),
        ],
    )
    by_row = dataset.set_index("description")
    # the face sits inside both boxes of second 1; it overlaps the small one more
    assert by_row.loc["Small box.", "face_index"] == 0
    assert "Big box." not in by_row.index
    # two faces inside one box: the larger overlap is kept, the other listed
    assert by_row.loc["One box.", "face_index"] == 0
    assert summary["counts"]["extra_detection"] == 1
    assert summary["counts"]["tie_resolved"] == 2
    assert categories_of_rows(report)[2] == "no_detection"


@pytest.mark.parametrize(
    ("line", "category", "detail"),
    [
        ("ep01,1,10,10,50,50,Joy,Smiles.", "unknown_label", "'Joy' is not one of"),
        ("ep01,1.5,10,10,50,50,Happy,Smiles.", "non_integer_second", "'1.5'"),
        ("ep01,one,10,10,50,50,Happy,Smiles.", "non_integer_second", "'one'"),
        ("ep01,-1,10,10,50,50,Happy,Smiles.", "non_integer_second", "'-1'"),
        ("ep01,40,10,10,50,50,Happy,Smiles.", "second_beyond_video", "has 30 seconds"),
        ("ep01,1,-5,10,50,50,Happy,Smiles.", "bad_box", "negative"),
        ("ep01,1,10,10,0,50,Happy,Smiles.", "bad_box", "negative or empty"),
        ("ep01,1,300,10,50,50,Happy,Smiles.", "bad_box", "leaves the 320x240 frame"),
        ("ep01,1,10,10,,50,Happy,Smiles.", "bad_box", "partial box"),
        ("ep01,1,ten,10,50,50,Happy,Smiles.", "bad_box", "not numeric"),
        ("ep01,1,10,10,50,50,Happy,", "empty_description", "empty"),
        ('ep01,1,10,10,50,50,Happy,"   "', "empty_description", "empty"),
        ("ep99,1,10,10,50,50,Happy,Smiles.", "episode_without_video", "'ep99'"),
        ("ep01,1,10,10,50,50,Happy,Smiles,laughs.", "malformed_row", "not 8 fields"),
    ],
)
def test_bad_rows_are_counted_and_listed_with_their_row(tmp_path, line, category, detail):
    dataset, report, summary = run_join(
        tmp_path,
        ["ep01,2,10,10,50,50,Sad,Fine.", line],
        faces=[("ep01", 1, 0, 10, 10, 50, 50), ("ep01", 2, 0, 10, 10, 50, 50)],
    )
    assert len(dataset) == 1
    assert summary["counts"][category] == 1
    entry = report[report["row"] == 3]
    assert entry["category"].tolist() == [category]
    assert detail in entry["detail"].iloc[0]
    markdown = report_markdown(report, summary, "annotations.csv")
    assert f"## {category} (1)" in markdown and "row 3" in markdown


def test_label_map_renames_other_vocabularies(tmp_path):
    dataset, _, summary = run_join(
        tmp_path,
        ["ep01,1,10,10,50,50,Joy,Smiles."],
        faces=[("ep01", 1, 0, 10, 10, 50, 50)],
        label_map={"joy": "Happy"},
    )
    assert dataset["emotion"].tolist() == ["Happy"]


def test_exact_duplicates_keep_one_row(tmp_path):
    dataset, report, summary = run_join(
        tmp_path,
        [
            "ep01,1,10,10,50,50,Happy,Smiles.",
            "ep01,1,10,10,50,50,happy,Smiles again.",
            "ep01,1,10,10,50,50,Happy,Smiles.",
        ],
        faces=[("ep01", 1, 0, 10, 10, 50, 50)],
    )
    assert categories_of_rows(report) == {2: "matched", 3: "duplicate", 4: "duplicate"}
    assert dataset["description"].tolist() == ["Smiles."]
    assert "same episode, second and box as row 2" in report[report["row"] == 4]["detail"].iloc[0]


def test_conflicting_labels_are_a_conflict_and_none_is_used(tmp_path):
    """The same face labelled Happy twice and Sad once: no label wins by file order."""
    dataset, report, summary = run_join(
        tmp_path,
        [
            "ep01,1,10,10,50,50,Happy,Smiles.",
            "ep01,1,10,10,50,50,Happy,Smiles.",
            "ep01,1,10,10,50,50,Sad,Cries.",
            "ep01,2,,,,,Angry,Shouts.",
            "ep01,2,,,,,Fear,Shouts.",
            "ep01,3,10,10,50,50,Sad,Fine.",
        ],
        faces=[
            ("ep01", 1, 0, 10, 10, 50, 50),
            ("ep01", 2, 0, 10, 10, 50, 50),
            ("ep01", 3, 0, 10, 10, 50, 50),
        ],
    )
    assert categories_of_rows(report) == {
        2: "conflict",
        3: "conflict",
        4: "conflict",
        5: "conflict",
        6: "conflict",
        7: "matched",
    }
    assert dataset["second"].tolist() == [3]
    assert summary["counts"]["conflict"] == 5 and summary["counts"]["duplicate"] == 0
    detail = report[report["row"] == 3]["detail"].iloc[0]
    assert detail == ("different emotions for one face (row 2: Happy, row 3: Happy, row 4: Sad)")
    # the faces of conflicting rows are listed too, as unannotated
    assert summary["counts"]["unannotated_detection"] == 2
    markdown = report_markdown(report, summary, "annotations.csv")
    assert "## conflict (5)" in markdown and "row 6 ep01 second 2" in markdown


def test_two_annotators_agreeing_and_disagreeing(tmp_path):
    """Several label files (config `annotations` as a list): agreement is a duplicate,
    disagreement a conflict naming both files' rows."""
    alice, bob = tmp_path / "alice.csv", tmp_path / "bob.csv"
    alice.write_text(
        "\n".join([HEADER, "ep01,1,10,10,50,50,Happy,Smiles.", "ep01,2,10,10,50,50,Sad,Cries."]) + "\n"
    )
    bob.write_text(
        "\n".join(
            [
                HEADER,
                "ep01,2,10,10,50,50,Angry,Cries.",
                "ep01,1,10,10,50,50,Happy,Smiles.",
                "ep01,3,10,10,50,50,Fear,Runs.",
            ]
        )
        + "\n"
    )
    faces = manifest(*[("ep01", s, 0, 10, 10, 50, 50) for s in (1, 2, 3)])
    dataset, report, summary = join([alice, bob], {"ep01": faces}, {"ep01": INFOS["ep01"]})
    rows = report[report["kind"] == "row"]
    by_row = {(f.split("/")[-1], r): c for f, r, c in zip(rows["file"], rows["row"], rows["category"])}
    assert by_row == {
        ("alice.csv", 2): "matched",
        ("alice.csv", 3): "conflict",
        ("bob.csv", 2): "conflict",
        ("bob.csv", 3): "duplicate",
        ("bob.csv", 4): "matched",
    }
    assert dataset["second"].tolist() == [1, 3]
    detail = rows.loc[rows["category"] == "conflict", "detail"].iloc[0]
    assert detail == ("different emotions for one face (row 3 of alice.csv: Sad, row 2 of bob.csv: Angry)")
    assert (
        "same episode, second and box as row 2 of alice.csv"
        in rows.loc[rows["category"] == "duplicate", "detail"].iloc[0]
    )
    assert summary["annotation_rows"] == 5
    markdown = report_markdown(report, summary, [str(alice), str(bob)])
    assert "row 2 of bob.csv ep01 second 2" in markdown
    assert f"`{alice}`, `{bob}`" in markdown


def test_skipped_video_is_listed_and_its_rows_counted(tmp_path):
    infos = {
        **INFOS,
        "ep02": {
            "width": 0,
            "height": 0,
            "frames": 0,
            "path": "v/ep02.mp4",
            "skipped": "empty (zero-byte) video file",
        },
    }
    dataset, report, summary = run_join(
        tmp_path,
        ["ep01,1,10,10,50,50,Happy,Smiles.", "ep02,1,10,10,50,50,Sad,Cries."],
        faces=[("ep01", 1, 0, 10, 10, 50, 50)],
        infos=infos,
    )
    assert categories_of_rows(report) == {2: "matched", 3: "episode_without_video"}
    assert "was skipped: empty (zero-byte)" in report[report["row"] == 3]["detail"].iloc[0]
    skipped = report[report["category"] == "skipped_video"]
    assert skipped["episode"].tolist() == ["ep02"]
    assert skipped["detail"].tolist() == ["v/ep02.mp4: empty (zero-byte) video file"]
    assert summary["counts"]["video_without_annotations"] == 0


def test_non_utf8_description_is_counted(tmp_path):
    raw = (HEADER + "\nep01,1,10,10,50,50,Happy,Caf\xe9 au lait\n").encode("latin-1")
    raw += "ep01,2,10,10,50,50,Sad,Café crème\n".encode()
    dataset, report, summary = run_join(
        tmp_path, [], raw=raw, faces=[("ep01", 1, 0, 10, 10, 50, 50), ("ep01", 2, 0, 10, 10, 50, 50)]
    )
    assert categories_of_rows(report) == {2: "non_utf8_description", 3: "matched"}
    assert dataset["description"].tolist() == ["Café crème"]


def test_every_row_lands_in_exactly_one_category(tmp_path):
    lines = [
        "ep01,1,10,10,50,50,Happy,A.",
        "ep01,1,10,10,50,50,Happy,A.",
        "ep01,2,10,10,50,50,Nope,B.",
        "ep01,3,,,,,Sad,C.",
        "ep03,1,,,,,Sad,D.",
        "ep01,x,,,,,Sad,E.",
    ]
    _, report, summary = run_join(tmp_path, lines, faces=[("ep01", 1, 0, 10, 10, 50, 50)])
    rows = report[report["kind"] == "row"]
    assert sorted(rows.loc[rows["category"] != "tie_resolved", "row"]) == list(range(2, 8))
    assert summary["annotation_rows"] == len(lines)


def test_episode_and_video_mismatches_are_reported(tmp_path):
    _, report, summary = run_join(tmp_path, ["ep05,1,10,10,50,50,Happy,A."])
    assert summary["counts"]["episode_without_video"] == 1
    videos_only = report[report["category"] == "video_without_annotations"]
    assert sorted(videos_only["episode"]) == ["ep01", "ep02"]


def test_missing_columns_name_the_file_and_row(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("episode,second,x,y,w,h,label,text\nep01,1,,,,,Happy,A.\n")
    with pytest.raises(
        UserError,
        match=r"labels\.csv: row 1: missing column\(s\) "
        r"emotion, description",
    ):
        read_annotations(path)


def test_unreadable_or_empty_annotation_file_is_named(tmp_path):
    with pytest.raises(UserError, match=r"nothere\.csv: cannot read"):
        read_annotations(tmp_path / "nothere.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(UserError, match=r"empty\.csv: empty annotation CSV"):
        read_annotations(tmp_path / "empty.csv")


def test_quotes_commas_and_bom_are_read(tmp_path):
    text = HEADER + '\nep01,1,10,10,50,50,Happy,"She said, ""yes!"""\n'
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert read_annotations(path)["description"].tolist() == ['She said, "yes!"']


def test_cli_writes_dataset_report_and_plot(tmp_path):
    annotations = tmp_path / "a.csv"
    annotations.write_text(HEADER + "\nep01,1,10,10,50,50,joy,Smiles.\n")
    manifest(("ep01", 1, 0, 12, 12, 46, 46)).to_csv(tmp_path / "ep01.manifest.csv", index=False)
    (tmp_path / "ep01.info.json").write_text(json.dumps(INFOS["ep01"]))
    out = tmp_path / "out"
    code = cli.main(
        [
            "join-annotations",
            "--annotations",
            str(annotations),
            "--manifests",
            str(tmp_path / "ep01.manifest.csv"),
            "--infos",
            str(tmp_path / "ep01.info.json"),
            "--label-map",
            '{"Joy": "Happy"}',
            "--output",
            str(out / "d.csv"),
            "--report-csv",
            str(out / "r.csv"),
            "--report-md",
            str(out / "r.md"),
            "--plot",
            str(out / "r.png"),
        ]
    )
    assert code == 0
    assert pd.read_csv(out / "d.csv")["emotion"].tolist() == ["Happy"]
    assert "1 of 1 valid annotated faces matched (100.0%)" in (out / "r.md").read_text()
    assert (out / "r.png").stat().st_size > 1000
    assert set(pd.read_csv(out / "r.csv")["category"]) <= set(CATEGORIES)


def test_pack_images_keeps_dataset_order(tmp_path):
    import cv2

    paths = []
    for value in (10, 200, 90):
        path = tmp_path / f"{value}.png"
        cv2.imwrite(str(path), np.full((16, 16), value, np.uint8))
        paths.append(str(path))
    dataset = pd.DataFrame({"item_id": ["a", "b", "c"], "crop_path": paths})
    images = pack_images(dataset, 16)
    assert images.dtype == np.uint8 and images.shape == (3, 16, 16)
    assert images[:, 0, 0].tolist() == [10, 200, 90]
    with pytest.raises(UserError, match="expected 8x8"):
        pack_images(dataset, 8)

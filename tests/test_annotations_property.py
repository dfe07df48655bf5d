"""Property-based test of the annotation reader and join (Hypothesis): random CSVs with
random quoting, encodings, BOM, line ends, delimiters, missing and extra fields, huge and
empty texts. Whatever the file, the join either stops with a UserError naming the file,
or puts every input row in exactly one join-report category (the matched ones in the
dataset); never another exception."""

from __future__ import annotations

import csv
import io

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dramaemo import EMOTIONS
from dramaemo.core.errors import UserError
from dramaemo.dataset.annotations import ANNOTATION_COLUMNS, ROW_CATEGORIES, join, read_annotations
from dramaemo.faces.detection import MANIFEST_COLUMNS

# The documented input format (README, "Using your own episodes"): the contract tested.
INFOS = {
    "ep01": {"width": 320, "height": 240, "frames": 30},
    "ep02": {"width": 320, "height": 240, "frames": 30},
}
FACES = [
    ("ep01", 1, 0, 10, 10, 50, 50),
    ("ep01", 2, 0, 10, 10, 50, 50),
    ("ep01", 2, 1, 200, 10, 50, 50),
    ("ep02", 5, 0, 100, 100, 60, 60),
]
MANIFESTS = {
    episode: pd.DataFrame(
        [
            (*f, f"crops/{f[0]}/{f[1]:06d}_{f[2]}.png", f"frames/{f[0]}/{f[1]:06d}.jpg")
            for f in FACES
            if f[0] == episode
        ],
        columns=MANIFEST_COLUMNS,
    )
    for episode in INFOS
}
HUGE = "a very long description " * 8000  # ~190k characters, past csv's 128 KiB default

texts = st.text(max_size=20)
numbers = st.integers(-5, 400).map(str)
episode = st.sampled_from(["ep01", "ep02", "ep99", "", " ep01"]) | texts
second = st.sampled_from(["1", "2", "5", "1.0", "1.5", "-1", "40", "nan", "1e400"]) | texts
box = (
    st.just(["", "", "", ""])
    | st.sampled_from(
        [
            ["10", "10", "50", "50"],
            ["200", "10", "50", "50"],
            ["100", "100", "60", "60"],
            ["10", "", "50", "50"],
            ["nan", "1", "2", "3"],
            ["300", "10", "50", "50"],
        ]
    )
    | st.lists(numbers | texts, min_size=4, max_size=4)
)
emotion = st.sampled_from([*EMOTIONS, "happy", "SAD", "Joy", ""]) | texts
description = st.sampled_from(["", "  ", "Smiles.", 'She said, "yes!"', "line\nbreak", HUGE]) | st.text(
    max_size=200
)


@st.composite
def rows(draw):
    fields = [draw(episode), draw(second), *draw(box), draw(emotion), draw(description)]
    change = draw(st.sampled_from(["none", "none", "none", "missing", "extra"]))
    if change == "missing":
        fields = fields[: draw(st.integers(1, 7))]
    elif change == "extra":
        fields += draw(st.lists(texts, min_size=1, max_size=3))
    return fields


@st.composite
def csv_files(draw):
    """(bytes, expected row count or None when the layout makes it unpredictable)."""
    header = list(draw(st.permutations(ANNOTATION_COLUMNS)))
    header = [draw(st.sampled_from([c, c.upper(), f" {c} "])) for c in header]
    if draw(st.booleans()):
        header.append("notes")  # an extra column: 8-field rows are then malformed
    data = draw(st.lists(rows(), max_size=12))
    delimiter = draw(st.sampled_from([",", ",", ",", ";", "\t"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONE]))
    line_end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    out = io.StringIO()
    writer = csv.writer(
        out,
        delimiter=delimiter,
        quoting=quoting,
        lineterminator=line_end,
        escapechar="\\" if quoting == csv.QUOTE_NONE else None,
    )
    writer.writerow(header)
    writer.writerows(data)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"]))
    raw = out.getvalue().encode(encoding, errors="replace")
    if draw(st.integers(0, 9)) == 0:  # stray bytes somewhere
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
        return raw, None
    # Rows as the writer meant them, where the reader must see them the same way.
    # (csv's writer quotes a line break only when it is part of its line end, so a
    # "\n" in a field of a "\r"-ended file really starts a new line for any reader.)
    breaks = any("\r" in field or "\n" in field for row in data for field in row)
    predictable = (
        delimiter == ","
        and quoting != csv.QUOTE_NONE
        and encoding in ("utf-8", "utf-8-sig", "latin-1", "cp1252")
        and (quoting == csv.QUOTE_ALL or not breaks)
    )
    expected = sum(any(field.strip() for field in row) for row in data)
    return raw, expected if predictable else None


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(csv_files())
def test_any_csv_is_a_named_user_error_or_every_row_is_counted_once(tmp_path, case):
    raw, expected = case
    path = tmp_path / "labels.csv"
    path.write_bytes(raw)
    try:
        dataset, report, summary = join(path, MANIFESTS, INFOS)
    except UserError as error:
        assert str(path) in str(error)
        return
    table = read_annotations(path)
    if expected is not None:
        assert len(table) == expected
    row_entries = report[(report["kind"] == "row") & (report["category"] != "tie_resolved")]
    # every row of the file in exactly one category
    assert sorted(row_entries["row"]) == sorted(table["row"])
    assert row_entries["row"].is_unique
    assert set(row_entries["category"]) <= set(ROW_CATEGORIES)
    assert sum(summary["counts"][c] for c in ROW_CATEGORIES) == len(table)
    # the matched rows, and only they, are in the dataset
    assert len(dataset) == summary["counts"]["matched"]
    assert dataset["item_id"].is_unique
    assert set(dataset["emotion"]) <= set(EMOTIONS)


def test_a_semicolon_csv_says_so(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text(";".join(ANNOTATION_COLUMNS) + "\nep01;1;;;;;Happy;Smiles.\n")
    try:
        read_annotations(path)
    except UserError as error:
        assert "excel.csv: row 1: missing column(s)" in str(error)
        assert "separated by ';': save the file with commas" in str(error)
    else:
        raise AssertionError("a semicolon CSV was read")

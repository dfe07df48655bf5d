"""The shared CSV reader: every failure names the file; ids stay text."""

import pytest

from dramaemo.core.errors import UserError
from dramaemo.dataset.tables import read_csv_checked


def test_missing_file_names_what_and_how_to_make_it(tmp_path):
    with pytest.raises(UserError, match=r"ep01\.manifest\.csv: no such manifest; run the pipeline"):
        read_csv_checked(tmp_path / "ep01.manifest.csv", ("a",), what="manifest", fix="run the pipeline")


def test_empty_file_names_the_header(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("")
    with pytest.raises(UserError, match=r"t\.csv: empty file; expected the header a,b"):
        read_csv_checked(path, ("a", "b"))


def test_non_utf8_names_the_byte(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,caf\xe9\n")
    with pytest.raises(UserError, match=r"t\.csv: not UTF-8 \(.+ at byte \d+\)"):
        read_csv_checked(path, ("a", "b"))


def test_missing_columns_are_listed(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,c\n1,2\n")
    with pytest.raises(UserError, match=r"t\.csv: missing column\(s\) b; expected a,b"):
        read_csv_checked(path, ("a", "b"))


def test_ids_stay_text_and_empty_cells_stay_empty(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("item_id,scene_id,n,text\n0007,0012,3,\n")
    table = read_csv_checked(path, ("item_id",))
    assert table.loc[0, "item_id"] == "0007" and table.loc[0, "scene_id"] == "0012"
    assert table.loc[0, "n"] == 3 and table.loc[0, "text"] == ""

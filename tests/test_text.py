"""Tokeniser, GloVe files (Stanford text format and the offline package), OOV accounting."""

import json

import numpy as np
import pandas as pd
import pytest

from dramaemo.cli import main
from dramaemo.core.errors import UserError
from dramaemo.text import glove as text

GLOVE_LINES = [
    "the 0.1 0.2 0.3",
    "he 1 0 0",
    "is 0 1 0",
    "angry 0 0 1",
    ". 0.5 0.5 0.5",
    "new york 2 2 2",  # GloVe 840B has words with spaces: the vector is the last D fields
]


@pytest.fixture
def glove_file(tmp_path):
    path = tmp_path / "glove.test.3d.txt"
    path.write_text("\n".join(GLOVE_LINES) + "\n")
    return path


def test_tokenize_lowercases_and_splits_punctuation():
    assert text.tokenize("He's ANGRY, isn't he?") == ["he", "'s", "angry", ",", "is", "n't", "he", "?"]
    # curly apostrophes as straight ones; clitics split the way GloVe 6B's tokeniser did
    assert text.tokenize("I\u2019m sure you can\u2019t, y'know") == [
        "i",
        "'m",
        "sure",
        "you",
        "ca",
        "n't",
        ",",
        "y'know",
    ]
    assert text.tokenize("Keeps Case", lowercase=False) == ["Keeps", "Case"]
    assert text.tokenize("") == [] and text.tokenize(None) == [] and text.tokenize(float("nan")) == []


def test_read_glove_text_parses_and_restricts(glove_file):
    vectors = text.read_glove_text(glove_file)
    assert set(vectors) == {"the", "he", "is", "angry", ".", "new york"}
    np.testing.assert_array_equal(vectors["angry"], np.array([0, 0, 1], np.float32))
    assert vectors["new york"].dtype == np.float32
    assert set(text.read_glove_text(glove_file, words={"he", "unknown"})) == {"he"}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["a 1 2 3", "b 1 2", "c 1 2 3"], r"glove\.bad\.txt: line 2: 2 values where line 1 has 3"),
        (
            ["a 1 2 3", "b 1 2 3", "c 1 x 3"],
            r"glove\.bad\.txt: line 3: non-numeric value in the vector of 'c'",
        ),
        (["justaword"], r"glove\.bad\.txt: line 1: expected 'word v1 \.\.\. vD'"),
        ([], r"glove\.bad\.txt: empty GloVe file"),
    ],
)
def test_malformed_glove_file_names_file_and_line(tmp_path, lines, message):
    path = tmp_path / "glove.bad.txt"
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    with pytest.raises(UserError, match=message):
        text.read_glove_text(path)


def test_glove_file_not_utf8_or_missing(tmp_path):
    path = tmp_path / "glove.bin.txt"
    path.write_bytes(b"a 1 2\n\xff\xfe 1 2\n")
    with pytest.raises(UserError, match=r"glove\.bin\.txt: line 2: not UTF-8"):
        text.read_glove_text(path)
    with pytest.raises(UserError, match="GloVe file not found"):
        text.load_glove(str(tmp_path / "missing.txt"))


def test_offline_package_is_real_glove_50d():
    vectors = text.load_glove(text.KUMO_SOURCE, {"the", "happy", "notawordxyzzy"})
    assert set(vectors) == {"the", "happy"}
    assert vectors["the"].shape == (50,)
    # GloVe 6B 50d's first vector ("the") begins 0.418 0.24968 -0.41242
    np.testing.assert_allclose(vectors["the"][:3], [0.418, 0.24968, -0.41242], rtol=1e-5)


def test_prepare_glove_counts_oov_empty_and_truncated(tmp_path, glove_file):
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d", "e"],
            "description": ["He is angry.", "", "Zorblax quux", "the the the the the the the", "he is xylo"],
        }
    ).to_csv(dataset, index=False)
    out, oov = tmp_path / "glove.npz", tmp_path / "oov.json"
    assert (
        main(
            [
                "prepare-glove",
                "--dataset",
                str(dataset),
                "--glove-source",
                str(glove_file),
                "--max-tokens",
                "5",
                "--out",
                str(out),
                "--oov-report",
                str(oov),
            ]
        )
        == 0
    )
    report = json.loads(oov.read_text())
    # tokens: 4 + 0 + 2 + 7 + 3 = 16; OOV: zorblax, quux, xylo
    assert report["tokens"] == 16 and report["oov_tokens"] == 3
    assert report["token_oov_rate"] == pytest.approx(3 / 16)
    assert report["word_types"] == 8 and report["oov_word_types"] == 3
    assert report["descriptions_with_oov"] == 2 and report["description_oov_rate"] == pytest.approx(2 / 5)
    assert report["empty_descriptions"] == 1 and report["all_oov_descriptions"] == 1
    assert report["truncated_descriptions"] == 1 and report["glove_dimension"] == 3
    data = np.load(out)
    vocabulary = list(data["vocabulary"])
    assert vocabulary[:2] == ["<pad>", "<oov>"] and vocabulary[2] == "the"  # most frequent first
    matrix, ids = data["embedding_matrix"], data["token_ids"]
    assert matrix.shape == (len(vocabulary), 3) and not matrix[:2].any()
    np.testing.assert_array_equal(matrix[vocabulary.index("angry")], [0, 0, 1])
    assert list(data["item_id"]) == ["a", "b", "c", "d", "e"]
    assert [vocabulary[i] for i in ids[0][:4]] == ["he", "is", "angry", "."] and ids[0][4] == text.PAD_ID
    assert not ids[1].any()  # empty: all padding
    assert list(ids[2][:2]) == [text.OOV_ID, text.OOV_ID]  # all-OOV: kept, zero vectors
    assert ids.shape == (5, 5) and (ids[3] == vocabulary.index("the")).all()  # truncated to 5


def test_prepare_glove_reports_bad_dataset(tmp_path, capsys):
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame({"item_id": ["a", "a"], "description": ["x", "y"]}).to_csv(dataset, index=False)
    code = main(
        [
            "prepare-glove",
            "--dataset",
            str(dataset),
            "--out",
            str(tmp_path / "g.npz"),
            "--oov-report",
            str(tmp_path / "g.json"),
        ]
    )
    assert code == 2
    assert "dataset.csv: row 3: duplicate item_id 'a'" in capsys.readouterr().err


def test_load_glove_inputs_orders_by_item_and_names_missing(tmp_path, glove_file):
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame({"item_id": ["a", "b"], "description": ["he", "is"]}).to_csv(dataset, index=False)
    text.prepare_glove(dataset, str(glove_file), 5, tmp_path / "g.npz", tmp_path / "g.json")
    matrix, ids = text.load_glove_inputs(tmp_path / "g.npz", ["b", "a"])
    assert ids[0][0] != ids[1][0] and matrix.shape[1] == 3
    with pytest.raises(UserError, match="g.npz: no token ids for item 'zz'"):
        text.load_glove_inputs(tmp_path / "g.npz", ["zz"])

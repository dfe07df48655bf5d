"""The TF-IDF text branch (dramaemo.text.tfidf): a real scikit-learn fit on descriptions,
new text encoded with the training vocabulary and IDF, and clear errors."""

import numpy as np
import pandas as pd
import pytest

from dramaemo.core.errors import UserError
from dramaemo.text import tfidf

DESCRIPTIONS = [
    "He shouts at his boss in the office",
    "He shouts at his boss again",
    "She laughs with her friends at dinner",
    "She laughs with her friends at the party",
    "",
    "A stranger follows him home at night",
    "A stranger follows her in the dark",
]


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "dataset.csv"
    items = [f"ep01_{i:06d}_0" for i in range(len(DESCRIPTIONS) + 1)]
    pd.DataFrame({"item_id": items, "description": DESCRIPTIONS + [DESCRIPTIONS[0]]}).to_csv(
        path, index=False
    )
    return path, items


def test_fit_caches_one_row_per_unique_description(tmp_path, dataset):
    path, items = dataset
    meta = tfidf.embed_tfidf(path, tmp_path / "tfidf.npz", tmp_path / "tfidf.json")
    assert meta["unique_descriptions"] == len(DESCRIPTIONS) and meta["empty_descriptions"] == 1
    inputs = tfidf.tfidf_inputs(tmp_path / "tfidf.npz", items)
    rows = inputs.arrays[tfidf.ROW]
    vectors = inputs.lookup[tfidf.ROW][tfidf.INPUT]
    assert rows[0] == rows[-1]  # the repeated description shares its row
    assert inputs.builder_args == {"vocabulary_size": vectors.shape[1]} == {"vocabulary_size": meta["terms"]}
    norms = np.linalg.norm(vectors[rows], axis=1)
    assert norms[4] == 0 and np.allclose(np.delete(norms, 4), 1.0, atol=1e-6)
    # terms seen in only one description are dropped (min_df 2); pairs are kept
    with np.load(tmp_path / "tfidf.npz") as data:
        vocabulary = set(data["vocabulary"].astype(str))
    assert {"shouts", "laughs with", "stranger follows"} <= vocabulary and "dinner" not in vocabulary


def test_new_text_is_encoded_with_the_training_statistics(tmp_path, dataset):
    path, items = dataset
    tfidf.embed_tfidf(path, tmp_path / "tfidf.npz", tmp_path / "tfidf.json")
    inputs = tfidf.tfidf_inputs(tmp_path / "tfidf.npz", items)
    vectors = inputs.lookup[tfidf.ROW][tfidf.INPUT]
    encode = tfidf.tfidf_new_text(tmp_path / "tfidf.npz")
    shapes = {tfidf.INPUT: (vectors.shape[1],)}
    new = encode(DESCRIPTIONS[:3] + ["words nobody wrote"], shapes)[tfidf.INPUT]
    np.testing.assert_allclose(new[:3], vectors[inputs.arrays[tfidf.ROW][:3]], atol=1e-6)
    assert not new[3].any()
    with pytest.raises(UserError, match="no 'tfidf' input"):
        encode(["x"], {"minilm": (384,)})


def test_bad_inputs_name_the_file(tmp_path, dataset):
    path, items = dataset
    empty = tmp_path / "empty.csv"
    pd.DataFrame({"item_id": ["a", "b"], "description": ["", ""]}).to_csv(empty, index=False)
    with pytest.raises(UserError, match="every description is empty"):
        tfidf.embed_tfidf(empty, tmp_path / "x.npz", tmp_path / "x.json")
    tfidf.embed_tfidf(path, tmp_path / "tfidf.npz", tmp_path / "tfidf.json")
    with pytest.raises(UserError, match=r"tfidf.npz: no TF-IDF row for item 'unknown'"):
        tfidf.tfidf_inputs(tmp_path / "tfidf.npz", ["unknown"])
    with pytest.raises(UserError, match="run the embed_tfidf rule"):
        tfidf.tfidf_inputs(tmp_path / "absent.npz", items)

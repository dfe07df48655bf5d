"""TF-IDF text branch: a classical bag of words and word pairs beside GloVe and MiniLM.

``embed-tfidf`` fits scikit-learn's TfidfVectorizer on the unique descriptions of
dataset.csv (no labels are read, as GloVe's vocabulary is built from every description)
and caches one L2-normalised row per unique description with the vocabulary and the IDF
weights, so new text (the footage index) is encoded with the training statistics. The
Keras branch is dropout and one Dense layer over that row: a linear model of the words,
the strongest classical baseline for short texts. Its settings are design constants
here, not config: the column is a yardstick, not a model to tune.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from dramaemo.core.errors import UserError
from dramaemo.text.glove import read_descriptions
from dramaemo.text.vectors import read_vectors, write_vectors

log = logging.getLogger(__name__)

INPUT = "tfidf"  # the model input (one row per item)
ROW = "tfidf_row"  # per item: its row into the cached vectors
# scikit-learn's TfidfVectorizer: words and word pairs seen in at least two distinct
# descriptions, the most frequent MAX_FEATURES of them, sublinear term frequency.
NGRAM_RANGE = (1, 2)
MIN_DF = 2
MAX_FEATURES = 2000
INPUT_DROPOUT = 0.5  # as the paper's Kim CNN branch


def vectorizer(vocabulary=None):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        lowercase=True,
        ngram_range=NGRAM_RANGE,
        min_df=1 if vocabulary is not None else MIN_DF,
        max_features=None if vocabulary is not None else MAX_FEATURES,
        sublinear_tf=True,
        vocabulary=vocabulary,
        dtype=np.float32,
    )


def embed_tfidf(dataset_csv, out_npz, out_json) -> dict:
    """Fit TF-IDF on the unique descriptions and cache their rows (module doc)."""
    frame = read_descriptions(dataset_csv)
    unique, item_row = np.unique(frame["description"].to_numpy(dtype=str), return_inverse=True)
    texts = [text for text in unique if text.strip()]
    if not texts:
        raise UserError(
            f"{dataset_csv}: every description is empty; TF-IDF has nothing to fit "
            "(remove the TF-IDF models from config models)"
        )
    fitted = vectorizer()
    try:
        fitted.fit(texts)
    except ValueError as error:  # no term in two descriptions
        raise UserError(f"{dataset_csv}: TF-IDF found no usable term ({error})") from None
    vectors = fitted.transform(list(unique)).toarray().astype(np.float32)
    vocabulary = np.array(fitted.get_feature_names_out(), dtype=str)
    meta = {
        "descriptions": int(len(item_row)),
        "unique_descriptions": int(len(unique)),
        "terms": int(len(vocabulary)),
        "empty_descriptions": int((unique == "")[item_row].sum()),
        "without_a_known_term": int((vectors.sum(axis=1) == 0)[item_row].sum()),
        "vectorizer": {
            "ngram_range": list(NGRAM_RANGE),
            "min_df": MIN_DF,
            "max_features": MAX_FEATURES,
            "sublinear_tf": True,
        },
    }
    write_vectors(
        out_npz,
        out_json,
        meta,
        vectors=vectors,
        item_id=frame["item_id"].to_numpy(dtype=str),
        item_row=item_row,
        vocabulary=vocabulary,
        idf=fitted.idf_.astype(np.float32),
    )
    log.info(
        "TF-IDF: %d terms over %d unique descriptions (%d items without a known term) to %s",
        meta["terms"],
        meta["unique_descriptions"],
        meta["without_a_known_term"],
        out_npz,
    )
    return meta


def _load(npz_path, *names):
    try:
        with np.load(npz_path) as data:
            return [data[name] for name in names]
    except FileNotFoundError:
        raise UserError(f"{npz_path}: no such file; run the embed_tfidf rule") from None
    except KeyError as error:
        raise UserError(f"{npz_path}: no array {error}; rerun embed-tfidf") from None


def tfidf_inputs(npz_path, item_ids):
    """The TF-IDF branch's inputs of ``item_ids`` (registry TextEncoder ``inputs``): a row
    per item into the vectors cached once per unique description."""
    from dramaemo.core.registry import TextInputs

    vectors, rows = read_vectors(npz_path, item_ids, command="embed-tfidf", what="TF-IDF row")
    return TextInputs(
        arrays={ROW: rows},
        lookup={ROW: {INPUT: vectors}},
        builder_args={"vocabulary_size": int(vectors.shape[1])},
    )


def tfidf_new_text(npz_path):
    """Encoder of new text (registry TextEncoder ``new_text``): the vocabulary and IDF
    weights the model was trained with, from its cache."""
    vocabulary, idf = _load(npz_path, "vocabulary", "idf")
    fitted = vectorizer(vocabulary={term: i for i, term in enumerate(vocabulary.astype(str))})
    fitted.fit([""])  # sets up the fixed vocabulary; the training IDF replaces its weights
    fitted.idf_ = idf

    def encode(descriptions, shapes: dict) -> dict[str, np.ndarray]:
        if shapes.get(INPUT) != (len(vocabulary),):
            raise UserError(
                f"model file takes inputs {sorted(shapes)}: no {INPUT!r} input of {len(vocabulary)} terms"
            )
        return {INPUT: fitted.transform([str(text) for text in descriptions]).toarray().astype(np.float32)}

    return encode


def build_tfidf_text_encoder(*, vocabulary_size: int, feature_units: int, name: str = "tfidf_encoder"):
    """Text branch over the cached TF-IDF row (input ``tfidf``): dropout, Dense(``feature_units``)."""
    import keras
    from keras import layers

    row = keras.Input(shape=(vocabulary_size,), name=INPUT)
    x = layers.Dropout(INPUT_DROPOUT, name="tfidf_dropout")(row)
    features = layers.Dense(feature_units, activation="relu", name="text_features")(x)
    return keras.Model(row, features, name=name)


def add_parser(subparsers) -> None:
    embed = subparsers.add_parser(
        "embed-tfidf",
        help="fit TF-IDF on the descriptions and cache each unique description's row",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    embed.add_argument("--dataset", required=True, help="results/dataset/dataset.csv")
    embed.add_argument("--out", required=True, help="output .npz")
    embed.add_argument("--meta", required=True, help="output JSON (counts, vectorizer)")
    embed.set_defaults(func=lambda a: embed_tfidf(a.dataset, a.out, a.meta))

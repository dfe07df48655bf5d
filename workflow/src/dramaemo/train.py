"""``train``: fit one model on the train part of a split, predict the test part.

Models: ``baseline`` (image CNN), ``glove`` and ``elmo`` (image + text), ``text``
(GloVe branch alone); see dramaemo.models. Inputs are the dataset (labels), the face
crops (images.npz) and, per model, the prepare-glove or embed-elmo cache; all are held
in memory and fed through ``tf.data`` (cached, prefetched), so no epoch decodes files.

Writes the model (``model.keras``), its per-epoch history (``history.csv``, with the
seconds each epoch took), a ``training.json`` summary and the test part's
``predictions.csv`` (item_id, true, pred, prob_<emotion> in dramaemo.EMOTIONS order),
predicted by the model reloaded from ``model.keras``, so the file evaluated is the file
written. A class absent from the train part stops training with an error unless
``--allow-absent-classes`` (then it is reported, and the model can never predict it
correctly).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.errors import UserError
from dramaemo.models import MODEL_NAMES

log = logging.getLogger(__name__)

TEXT_INPUTS = {"baseline": None, "glove": "glove", "elmo": "elmo", "text": "glove"}
USES_FACE = {"baseline": True, "glove": True, "elmo": True, "text": False}


# --------------------------------------------------------------------------- data
def read_labelled_split(dataset_csv, split_csv) -> pd.DataFrame:
    """Items of the split with their emotion index, in dataset.csv order.

    Columns: item_id, scene_id, part, emotion, label (index into EMOTIONS).
    """
    dataset = _read_csv(dataset_csv, ["item_id", "emotion"])
    split = _read_csv(split_csv, ["item_id", "part"])
    bad_emotion = ~dataset["emotion"].isin(EMOTIONS)
    if bad_emotion.any():
        row = int(np.flatnonzero(bad_emotion)[0])
        raise UserError(f"{dataset_csv}: row {row + 2}: emotion {dataset['emotion'].iloc[row]!r} is not one of "
                        f"{', '.join(EMOTIONS)}; map it with config label_map")
    bad_part = ~split["part"].isin(["train", "test"])
    if bad_part.any():
        row = int(np.flatnonzero(bad_part)[0])
        raise UserError(f"{split_csv}: row {row + 2}: part {split['part'].iloc[row]!r} is neither train nor test")
    unknown = ~split["item_id"].isin(dataset["item_id"])
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise UserError(f"{split_csv}: row {row + 2}: item {split['item_id'].iloc[row]!r} is not in {dataset_csv}; "
                        "rerun the split")
    # dataset.csv's scene_id is the contract; a split CSV's is only a fallback.
    scene_source = dataset if "scene_id" in dataset.columns else split if "scene_id" in split.columns else None
    merged = dataset[["item_id", "emotion"]].merge(split[["item_id", "part"]], on="item_id", how="inner")
    scenes = scene_source.set_index("item_id")["scene_id"] if scene_source is not None else None
    merged["scene_id"] = merged["item_id"].map(scenes) if scenes is not None else merged["item_id"]
    merged["label"] = merged["emotion"].map({e: i for i, e in enumerate(EMOTIONS)}).astype(np.int32)
    return merged


def _read_csv(path, columns) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    missing = set(columns) - set(frame.columns)
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return frame


def load_faces(images_npz, item_ids, image_size: int | None) -> np.ndarray:
    """Preprocessed faces (dramaemo.models.preprocess_faces) of ``item_ids``, in order."""
    from dramaemo.models import preprocess_faces

    try:
        with np.load(images_npz) as data:
            images, known = data["images"], data["item_id"].astype(str)
    except FileNotFoundError:
        raise UserError(f"{images_npz}: no such file") from None
    except KeyError as error:
        raise UserError(f"{images_npz}: no array {error}; expected 'images' and 'item_id'") from None
    row_of = pd.Series(np.arange(len(known)), index=known)
    missing = pd.Index(item_ids).difference(row_of.index)
    if len(missing):
        raise UserError(f"{images_npz}: no crop for item {missing[0]!r} (and {len(missing) - 1} more); rebuild images.npz")
    try:
        return preprocess_faces(images[row_of.loc[list(item_ids)].to_numpy()], image_size)
    except ValueError as error:
        raise UserError(f"{images_npz}: {error}") from None


def model_inputs(model_name: str, items: pd.DataFrame, args) -> tuple[dict, dict]:
    """(per-item input arrays, shared arrays and sizes for building the model)."""
    from dramaemo import elmo, text

    arrays, shared = {}, {}
    item_ids = items["item_id"].tolist()
    if USES_FACE[model_name]:
        arrays["face"] = load_faces(args.images, item_ids, args.image_size)
        shared["image_size"] = arrays["face"].shape[1]
    source = TEXT_INPUTS[model_name]
    if source == "glove":
        if not args.glove:
            raise UserError(f"model {model_name} needs --glove (the prepare-glove .npz)")
        shared["embedding_matrix"], arrays["tokens"] = text.load_glove_inputs(args.glove, item_ids)
    elif source == "elmo":
        if not args.elmo:
            raise UserError(f"model {model_name} needs --elmo (the embed-elmo .npz)")
        layers, mask, arrays["elmo_row"] = elmo.load_elmo_inputs(args.elmo, item_ids)
        shared["elmo_layers"], shared["elmo_mask"] = layers.astype(np.float32), mask.astype(np.float32)
    return arrays, shared


def make_dataset(arrays: dict, labels, *, batch_size: int, shared: dict, shuffle_seed: int | None = None):
    """tf.data pipeline over in-memory arrays: cache, (shuffle), batch, ELMo gather, prefetch.

    ELMo layers are stored once per unique description and gathered per batch, so
    repeated descriptions cost no memory.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((arrays, labels)).cache()
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if "elmo_row" in arrays:
        elmo_layers = tf.constant(shared["elmo_layers"])
        elmo_mask = tf.constant(shared["elmo_mask"])

        def gather(inputs, label):
            inputs = dict(inputs)
            row = inputs.pop("elmo_row")
            inputs["elmo_layers"] = tf.gather(elmo_layers, row)
            inputs["elmo_mask"] = tf.gather(elmo_mask, row)
            return inputs, label

        dataset = dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _subset(arrays: dict, index) -> dict:
    return {name: values[index] for name, values in arrays.items()}


# --------------------------------------------------------------------------- model
def build_model(model_name: str, shared: dict, args):
    """The compiled model ``model_name`` with the hyper-parameters of ``args``."""
    from dramaemo import models

    image_options = dict(
        filters=tuple(args.filters), kernel_sizes=tuple(args.kernel_sizes),
        dropout=args.image_dropout, top_filters=args.top_filters,
    )
    head = dict(hidden_units=tuple(args.fusion_units), dropout=args.fusion_dropout)
    if model_name == "baseline":
        model = models.build_baseline_model(image_size=shared["image_size"], **image_options)
    else:
        if TEXT_INPUTS[model_name] == "glove":
            text_encoder = models.build_glove_text_encoder(
                embedding_matrix=shared["embedding_matrix"], max_tokens=shared["max_tokens"],
                filter_sizes=tuple(args.text_filter_sizes), num_filters=args.text_filters,
                dropout=args.text_dropout, feature_units=args.feature_units,
                trainable_embedding=args.trainable_embedding,
            )
        else:
            _, num_layers, max_tokens, layer_dim = shared["elmo_layers"].shape
            text_encoder = models.build_elmo_text_encoder(
                num_layers=num_layers, max_tokens=max_tokens, layer_dim=layer_dim,
                dropout=args.text_dropout, feature_units=args.feature_units,
            )
        if model_name == "text":
            model = models.build_text_model(text_encoder, **head)
        else:
            image_encoder = models.build_image_encoder(
                image_size=shared["image_size"], feature_units=args.feature_units, **image_options)
            model = models.build_multimodal_model(image_encoder, text_encoder, name=model_name, **head)
    return models.compile_model(model, learning_rate=args.learning_rate)


def class_weights(labels: np.ndarray, mode: str) -> dict[int, float] | None:
    """None, or 'balanced' weights n / (k * n_c) for the classes present (absent: 0)."""
    if mode == "none":
        return None
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    by_class = {int(c): float(w) for c, w in zip(present, weights)}
    return {index: by_class.get(index, 0.0) for index in range(len(EMOTIONS))}


def _epoch_logger(epochs: int, timings: list):
    import keras

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            timings.append(time.perf_counter() - self.started)
            shown = " ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items() if k != "learning_rate")
            log.info("epoch %d/%d: %s (%.2f s)", epoch + 1, epochs, shown, timings[-1])

    return EpochLog()


# --------------------------------------------------------------------------- run
def train(args) -> dict:
    """Train ``args.model`` on the split's train part; write model, history, predictions."""
    import keras
    import tensorflow as tf

    if args.early_stopping_patience > 0 and args.validation_fraction <= 0:
        raise UserError("--early-stopping-patience needs a validation part: set --validation-fraction > 0 "
                        "(config train.validation_fraction)")
    if args.threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(2, args.threads))
        except RuntimeError:  # TensorFlow already running in this process (tests): keep its threads
            log.info("TensorFlow already initialised; --threads %d not applied", args.threads)
    keras.utils.set_random_seed(args.seed)  # the one place seeds are set (python, numpy, TF)
    tf.config.experimental.enable_op_determinism()
    devices = [d.name for d in tf.config.list_logical_devices()]
    log.info("model %s, seed %d, devices: %s", args.model, args.seed, ", ".join(devices))

    items = read_labelled_split(args.dataset, args.split_csv)
    train_items = items[items["part"] == "train"].reset_index(drop=True)
    test_items = items[items["part"] == "test"].reset_index(drop=True)
    if train_items.empty:
        raise UserError(f"{args.split_csv}: no item in the train part")
    absent = [EMOTIONS[i] for i in range(len(EMOTIONS)) if i not in set(train_items["label"])]
    if absent:
        message = (f"{args.split_csv}: class(es) {', '.join(absent)} have no item in the train part, so the model "
                   "cannot learn them")
        if not args.allow_absent_classes:
            raise UserError(message + "; add labelled data, merge the class with config label_map, or set "
                            "train.allow_absent_classes: true")
        log.warning("%s (allowed by --allow-absent-classes)", message)
    log.info("%d train items, %d test items (%s)", len(train_items), len(test_items), args.split_csv)

    arrays, shared = model_inputs(args.model, items, args)
    if "tokens" in arrays:
        shared["max_tokens"] = arrays["tokens"].shape[1]
    train_index = np.flatnonzero(items["part"].to_numpy() == "train")
    test_index = np.flatnonzero(items["part"].to_numpy() == "test")
    fit_index, validation_index = _validation_split(train_items, train_index, args)
    labels = items["label"].to_numpy()

    model = build_model(args.model, shared, args)
    model.summary(print_fn=lambda line, *a, **k: log.info("%s", line))
    weights = class_weights(labels[fit_index], args.class_weight)
    fit_data = make_dataset(_subset(arrays, fit_index), labels[fit_index], batch_size=args.batch_size,
                            shared=shared, shuffle_seed=args.seed)
    validation_data = None
    if len(validation_index):
        validation_data = make_dataset(_subset(arrays, validation_index), labels[validation_index],
                                       batch_size=args.batch_size, shared=shared)
    timings: list[float] = []
    callbacks = [_epoch_logger(args.epochs, timings)]
    if args.early_stopping_patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=args.early_stopping_patience, restore_best_weights=True))
    started = time.perf_counter()
    history = model.fit(fit_data, validation_data=validation_data, epochs=args.epochs,
                        class_weight=weights, callbacks=callbacks, shuffle=False, verbose=0)
    train_seconds = time.perf_counter() - started

    model_path = Path(args.model_out)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model.save(model_path)
    history_frame = pd.DataFrame(history.history)
    history_frame.insert(0, "epoch", np.arange(1, len(history_frame) + 1))
    history_frame["seconds"] = timings[: len(history_frame)]
    history_frame.to_csv(args.history_out, index=False)

    predictions = predict_items(model_path, _subset(arrays, test_index), test_items, shared, args.batch_size)
    Path(args.predictions_out).parent.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(args.predictions_out, index=False)
    summary = {
        "model": args.model, "seed": args.seed, "split_csv": str(args.split_csv),
        "train_items": int(len(fit_index)), "validation_items": int(len(validation_index)),
        "test_items": int(len(test_index)), "absent_classes": absent,
        "class_weight": weights, "epochs_run": int(len(history_frame)),
        "train_seconds": round(train_seconds, 3),
        "seconds_per_epoch": round(float(np.mean(timings)), 3) if timings else None,
        # first epoch includes tracing/compilation; the rest is the steady cost
        "seconds_per_epoch_after_first": round(float(np.mean(timings[1:])), 3) if len(timings) > 1 else None,
        "parameters": int(model.count_params()), "devices": devices,
        "test_accuracy": float((predictions["true"] == predictions["pred"]).mean()) if len(predictions) else None,
    }
    if args.summary_out:
        Path(args.summary_out).write_text(json.dumps(summary, indent=2) + "\n")
    log.info("trained %s in %.1f s (%d epochs); model %s, predictions %s", args.model, train_seconds,
             len(history_frame), model_path, args.predictions_out)
    return summary


def _validation_split(train_items: pd.DataFrame, train_index: np.ndarray, args):
    """(fit rows, validation rows): whole scenes held out, so near-duplicate adjacent
    seconds never sit on both sides."""
    if args.validation_fraction <= 0:
        return train_index, np.array([], dtype=int)
    from sklearn.model_selection import GroupShuffleSplit

    groups = train_items["scene_id"].to_numpy()
    if len(np.unique(groups)) < 2:
        raise UserError(f"{args.split_csv}: the train part has fewer than 2 scenes; cannot hold out a validation part "
                        "(set train.validation_fraction: 0)")
    splitter = GroupShuffleSplit(n_splits=1, test_size=args.validation_fraction, random_state=args.seed)
    fit, validation = next(splitter.split(train_index, groups=groups))
    log.info("validation: %d items from %d scenes held out of train", len(validation), len(np.unique(groups[validation])))
    return train_index[fit], train_index[validation]


def predict_items(model_path, arrays: dict, items: pd.DataFrame, shared: dict, batch_size: int) -> pd.DataFrame:
    """Predictions of the saved model for ``items``: item_id, true, pred, prob_<emotion>."""
    from dramaemo.models import load_model

    columns = ["item_id", "true", "pred", *(f"prob_{e}" for e in EMOTIONS)]
    if items.empty:
        log.warning("empty test part: predictions.csv has a header only")
        return pd.DataFrame(columns=columns)
    model = load_model(model_path)
    dataset = make_dataset(arrays, items["label"].to_numpy(), batch_size=batch_size, shared=shared)
    probabilities = model.predict(dataset.map(lambda inputs, label: inputs), verbose=0)
    frame = pd.DataFrame(probabilities, columns=columns[3:])
    frame.insert(0, "item_id", items["item_id"].to_numpy())
    frame.insert(1, "true", items["emotion"].to_numpy())
    frame.insert(2, "pred", np.asarray(EMOTIONS)[probabilities.argmax(axis=1)])
    return frame


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train one model and predict the test part",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    io = parser.add_argument_group("inputs and outputs")
    io.add_argument("--model", required=True, choices=MODEL_NAMES)
    io.add_argument("--dataset", required=True, help="results/dataset/dataset.csv")
    io.add_argument("--split-csv", required=True, help="results/split/{split}.csv")
    io.add_argument("--images", help="results/dataset/images.npz (image models)")
    io.add_argument("--glove", help="prepare-glove .npz (glove, text)")
    io.add_argument("--elmo", help="embed-elmo .npz (elmo)")
    io.add_argument("--model-out", required=True, help="model.keras")
    io.add_argument("--history-out", required=True, help="history.csv")
    io.add_argument("--predictions-out", required=True, help="predictions.csv of the test part")
    io.add_argument("--summary-out", help="training.json")
    fit = parser.add_argument_group("training")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--epochs", type=int, default=10)
    fit.add_argument("--batch-size", type=int, default=32)
    fit.add_argument("--learning-rate", type=float, default=1e-3)
    fit.add_argument("--class-weight", choices=["none", "balanced"], default="none")
    fit.add_argument("--validation-fraction", type=float, default=0.0,
                     help="share of train scenes held out for validation (0: none)")
    fit.add_argument("--early-stopping-patience", type=int, default=0,
                     help="epochs without val_loss improvement before stopping (0: off)")
    fit.add_argument("--allow-absent-classes", action="store_true",
                     help="train even when a class has no train item (default: error)")
    fit.add_argument("--threads", type=int, default=0, help="TensorFlow CPU threads (0: TensorFlow's choice)")
    arch = parser.add_argument_group("architecture")
    arch.add_argument("--image-size", type=int, help="resize crops to this side (default: as stored)")
    arch.add_argument("--filters", type=int, nargs="+", default=[16, 32, 64, 128])
    arch.add_argument("--kernel-sizes", type=int, nargs="+", default=[7, 5, 3, 3])
    arch.add_argument("--top-filters", type=int, default=256)
    arch.add_argument("--image-dropout", type=float, default=0.5)
    arch.add_argument("--feature-units", type=int, default=64, help="width of each branch's features")
    arch.add_argument("--text-filter-sizes", type=int, nargs="+", default=[3, 4, 5])
    arch.add_argument("--text-filters", type=int, default=100, help="Kim CNN filters per size")
    arch.add_argument("--text-dropout", type=float, default=0.5)
    arch.add_argument("--trainable-embedding", action="store_true", help="fine-tune the GloVe vectors")
    arch.add_argument("--fusion-units", type=int, nargs="*", default=[64], help="dense layers after fusion")
    arch.add_argument("--fusion-dropout", type=float, default=0.5)
    parser.set_defaults(func=train)

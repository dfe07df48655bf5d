"""Training epoch time of the pipeline's input path against the same model on tensors.

For each model, trains twice from the same seed on the same train part of a workflow run:
once through `dramaemo.models.train.make_dataset` (the tf.data pipeline the rule uses) and once
with `model.fit` on tensors already in memory (the limit: no input pipeline at all).
Prints seconds per epoch after the first (which includes tracing) and the ratio.
Goal: <= 1.10x.

    python bench/train_vs_memory.py --workdir /work/bench-quality [--split scene] \
        [--models baseline glove] [--epochs 4] [--repeats 2] [--image-size 48]
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo.core import registry
from dramaemo.core.config import schema_defaults
from dramaemo.core.options import TrainOptions
from dramaemo.models.train import build_model, make_dataset, model_inputs, read_labelled_split


def epoch_seconds(model, fit_kwargs: dict, epochs: int) -> list[float]:
    import keras

    timings: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            timings.append(time.perf_counter() - self.started)

    model.fit(epochs=epochs, callbacks=[EpochTimer()], verbose=0, **fit_kwargs)
    return timings


def compare(args, model_name: str) -> dict:
    import keras
    import tensorflow as tf

    results = args.workdir / "results"
    spec = registry.spec(model_name)
    # The schema's train defaults (what the workflow uses unless config says otherwise), with
    # the paper's multimodal models (image branch from scratch, one output): the feed's cost
    # is the question here, not the training aids (dramaemo.models.train handles those).
    train = {**schema_defaults("train"), "image_size": args.image_size}
    train["joint"] = {**train["joint"], "image_branch": registry.SCRATCH, "auxiliary_weight": 0.0}
    options = TrainOptions.for_model(model_name, train)
    encoder = registry.TEXT_ENCODERS.get(spec.text)  # bound as `dramaemo train` binds it
    text_encoder = (
        functools.partial(
            registry.resolve(encoder.builder), **(train[encoder.section] if encoder.section else {})
        )
        if encoder
        else None
    )
    items = read_labelled_split(results / "dataset" / "dataset.csv", results / "split" / f"{args.split}.csv")
    train_items = items[items["part"] == "train"].reset_index(drop=True)
    text_cache = args.workdir / registry.TEXT_ENCODERS[spec.text].cache if spec.text else None
    arrays, shared = model_inputs(
        spec,
        train_items,
        images=results / "dataset" / "images.npz",
        text_cache=text_cache,
        image_size=options.image_size,
    )
    labels = train_items["label"].to_numpy()

    tensors = {name: tf.constant(values) for name, values in arrays.items()}
    feeds = {
        "pipeline": {
            "x": make_dataset(arrays, labels, batch_size=options.batch_size, shared=shared, shuffle_seed=0),
            "shuffle": False,
        },
        "memory": {"x": tensors, "y": tf.constant(labels), "batch_size": options.batch_size, "shuffle": True},
    }
    # Alternate the two feeds and keep each one's best steady epoch time (median after the
    # first, tracing epoch): one pass each was swayed by warm-up order and other load.
    steady = {name: [] for name in feeds}
    for _ in range(args.repeats):
        for name, feed in feeds.items():
            keras.utils.set_random_seed(0)
            model = build_model(spec, shared, options, text_encoder)
            steady[name].append(float(np.median(epoch_seconds(model, feed, args.epochs)[1:])))
    steady_pipeline, steady_memory = min(steady["pipeline"]), min(steady["memory"])
    return {
        "model": model_name,
        "train items": len(labels),
        "image size": shared.get("image_size", "-"),
        "tf.data pipeline s/epoch": round(steady_pipeline, 2),
        "in-memory tensors s/epoch": round(steady_memory, 2),
        "ratio": round(steady_pipeline / steady_memory, 3),
        "goal": "<= 1.10",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--split", default="scene")
    parser.add_argument("--models", nargs="+", default=["baseline", "glove"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each feed")
    args = parser.parse_args()
    rows = [compare(args, name) for name in args.models]
    table = pd.DataFrame(rows).to_markdown(index=False)
    out = Path(__file__).resolve().parents[1] / "results" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_vs_memory.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()

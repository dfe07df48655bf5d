"""Late fusion: an image model and a text model, trained apart, fused by the geometric
mean of their class probabilities (no weight tuned, so nothing is fitted on the test part).

``dramaemo late-fusion`` reads the two runs' predictions (each with its run.json) and
writes the fused predictions with a run.json of their own (model ``late``, same split
and seed).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.core import runs
from dramaemo.core.errors import UserError
from dramaemo.core.registry import LATE
from dramaemo.evaluation.evaluate import macro_f1
from dramaemo.models.predictions import PREDICTION_COLUMNS, PROB_COLUMNS, read_predictions, write_predictions

log = logging.getLogger(__name__)


def late_fusion(
    image: pd.DataFrame, text: pd.DataFrame, image_path="image", text_path="text"
) -> pd.DataFrame:
    """Predictions of the product of two models' class probabilities (late fusion).

    The image and the text model are trained apart and fused by the geometric mean of
    their probabilities: no weight is tuned, so nothing is fitted on the test part. Both
    runs must cover the same test items.
    """
    for table, path in ((image, image_path), (text, text_path)):
        missing = [c for c in PREDICTION_COLUMNS if c not in table.columns]
        if missing:
            raise UserError(
                f"{path}: no column {', '.join(missing)}; expected {','.join(PREDICTION_COLUMNS)}"
            )
    merged = image.merge(text, on="item_id", how="outer", suffixes=("_image", "_text"), indicator=True)
    unpaired = merged[merged["_merge"] != "both"]
    if len(unpaired):
        side = image_path if unpaired["_merge"].iloc[0] == "left_only" else text_path
        raise UserError(
            f"{side}: item {unpaired['item_id'].iloc[0]!r} (and {len(unpaired) - 1} "
            f"more) has no prediction in the other run; rerun both on one split"
        )
    disagree = merged["true_image"] != merged["true_text"]
    if disagree.any():
        row = int(np.flatnonzero(disagree.to_numpy())[0])
        raise UserError(
            f"{text_path}: item {merged['item_id'].iloc[row]!r} has true label "
            f"{merged['true_text'].iloc[row]} but {image_path} says "
            f"{merged['true_image'].iloc[row]}"
        )
    tiny = np.finfo(np.float32).tiny  # a zero probability must not veto a class outright
    log_probs = sum(
        np.log(np.clip(merged[[f"{c}_{side}" for c in PROB_COLUMNS]].to_numpy(float), tiny, 1))
        for side in ("image", "text")
    )
    fused = np.exp(log_probs / 2)
    fused /= fused.sum(axis=1, keepdims=True)
    result = pd.DataFrame(fused, columns=list(PROB_COLUMNS))
    result.insert(0, "item_id", merged["item_id"].to_numpy())
    result.insert(1, "true", merged["true_image"].to_numpy())
    result.insert(2, "pred", np.asarray(EMOTIONS)[fused.argmax(axis=1)])
    return result


def _run_late_fusion(args: argparse.Namespace) -> None:
    image_run, text_run = runs.run_beside(args.image), runs.run_beside(args.text)
    same = ("split", "split_draw", "seed")
    if [image_run[key] for key in same] != [text_run[key] for key in same]:
        raise UserError(
            f"{args.text}: run of split {text_run['split']} draw {text_run['split_draw']} seed "
            f"{text_run['seed']}, but {args.image} is of split {image_run['split']} draw "
            f"{image_run['split_draw']} seed {image_run['seed']}; fuse runs of one split, draw and seed"
        )
    fused = late_fusion(read_predictions(args.image), read_predictions(args.text), args.image, args.text)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    write_predictions(fused, args.output)
    runs.write_run(
        Path(args.output).with_name(runs.RUN_FILE),
        split=image_run["split"],
        split_draw=image_run["split_draw"],
        model=LATE,
        seed=image_run["seed"],
        settings={"image": image_run, "text": text_run},
    )
    log.info(
        "late fusion of %s and %s: %d items, accuracy %.3f, macro-F1 %.3f -> %s",
        args.image,
        args.text,
        len(fused),
        (fused["true"] == fused["pred"]).mean(),
        macro_f1(fused["true"], fused["pred"]),
        args.output,
    )


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "late-fusion",
        help="fuse an image and a text model's predictions (geometric mean of probabilities)",
    )
    parser.add_argument("--image", required=True, help="predictions.csv of the image model")
    parser.add_argument("--text", required=True, help="predictions.csv of the text model")
    parser.add_argument("--output", required=True, help="fused predictions.csv to write")
    parser.set_defaults(func=_run_late_fusion)

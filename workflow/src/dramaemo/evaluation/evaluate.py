"""Evaluation of one model run, and paired scene-bootstrap comparisons to the baseline.

``dramaemo evaluate`` turns one ``predictions.csv`` (item_id,true,pred,prob_*) into a
``metrics.json``: per-class precision, recall and F1, macro and weighted F1, accuracy,
the confusion matrix (scikit-learn), and macro-F1 on the *unseen-description* subset,
the test items whose description text never occurs in the train part. Descriptions recur
across scenes, so a text model can score on the test part by remembering sentences; the
subset shows what it learned beyond that.

``dramaemo compare-models`` computes, for every model, the paired bootstrap CI of its
macro-F1 difference to the baseline on the same test items, and the same for the best
multimodal model against the best single-modality one (image or text, any encoder, by
seed-averaged macro-F1): the claim that text helps. Whole scenes are resampled,
not items: adjacent seconds of one scene are near-duplicates, so resampling items would
treat them as independent evidence and overstate certainty. With several seeds, each
resample compares the seed-averaged macro-F1 of the model to that of the baseline; when
each seed tests on its own split draw (dramaemo.dataset.split), every draw's scenes are resampled,
so the CI carries which scenes the draws put in test.

Macro-F1 averages the F1 of the classes that occur in the true labels of the items
evaluated (a class absent from the test part has no recall and is left out, not scored 0).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from dramaemo import EMOTIONS
from dramaemo.core import registry, runs
from dramaemo.core.config import schema_defaults, schema_node
from dramaemo.core.errors import UserError
from dramaemo.core.registry import BASELINE
from dramaemo.dataset.split import read_split
from dramaemo.dataset.tables import read_csv_checked
from dramaemo.models.predictions import read_predictions

log = logging.getLogger(__name__)

# Kinds of comparison in bootstrap.csv (column `comparison`).
VS_BASELINE = "vs_baseline"
BEST_MULTIMODAL = "best_multimodal_vs_best_single"


def normalise_description(text: str) -> str:
    """Casefolded, whitespace-collapsed description: the form compared for 'unseen'."""
    return " ".join(str(text).split()).casefold()


def unseen_description_mask(
    test_item_ids: pd.Series, dataset: pd.DataFrame, split: pd.DataFrame
) -> np.ndarray:
    """True for test items whose (normalised) description never occurs in the train part."""
    descriptions = dataset.set_index("item_id")["description"].map(normalise_description)
    train_ids = split.loc[split["part"] == "train", "item_id"]
    seen = set(descriptions.reindex(train_ids).dropna())
    test_descriptions = descriptions.reindex(test_item_ids)
    return ~test_descriptions.isin(seen).to_numpy()


def check_draw(run: dict, split: pd.DataFrame, predictions_path, split_path) -> None:
    """The run was trained and tested on the draw that ``split`` holds."""
    draw = int(split["draw"].iloc[0])
    if run["split_draw"] != draw:
        raise UserError(
            f"{predictions_path}: a run of split draw {run['split_draw']}, but {split_path} is draw "
            f"{draw}; evaluate a run on its own draw (rerun the workflow after editing split.seed)"
        )


def align_to_test_part(
    predictions: pd.DataFrame, split: pd.DataFrame, predictions_path: Path, split_path: Path
) -> pd.DataFrame:
    """Predictions joined to scene ids, checked to cover exactly the split's test part."""
    test = split.loc[split["part"] == "test", ["item_id", "scene_id"]]
    merged = predictions.merge(test, on="item_id", how="outer", indicator=True)
    extra = merged.loc[merged["_merge"] == "left_only", "item_id"]
    if len(extra):
        raise UserError(
            f"{predictions_path}: {len(extra)} item(s) not in the test part of {split_path} "
            f"(first: {extra.iloc[0]!r}); were the predictions made on another split?"
        )
    lacking = merged.loc[merged["_merge"] == "right_only", "item_id"]
    if len(lacking):
        raise UserError(
            f"{predictions_path}: lacks {len(lacking)} test item(s) of {split_path} "
            f"(first: {lacking.iloc[0]!r}); rerun the model's predictions"
        )
    return merged.drop(columns="_merge")


# --------------------------------------------------------------------------- metrics


def _number(value: float) -> float | None:
    """A float for JSON, None where undefined (NaN)."""
    return None if value is None or math.isnan(value) else float(value)


def macro_f1(true, pred) -> float:
    """Macro-F1 over the classes present in `true` (NaN for no items)."""
    # scikit-learn imported here, not at the top: the workflow imports this module when it
    # parses the Snakefile, and sklearn alone costs it ~0.8 s
    from sklearn.metrics import f1_score

    present = [emotion for emotion in EMOTIONS if emotion in set(true)]
    if not present:
        return float("nan")
    return float(f1_score(true, pred, labels=present, average="macro", zero_division=0))


def compute_metrics(true, pred) -> dict:
    """Per-class precision/recall/F1/support, macro/weighted F1, accuracy, confusion matrix.

    Precision is null for a class never predicted; recall and F1 are null for a class
    absent from `true`. Confusion-matrix rows are true classes, columns predictions, both
    in EMOTIONS order.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    true = np.asarray(true, dtype=object)
    pred = np.asarray(pred, dtype=object)
    precision, recall, f1, support = precision_recall_fscore_support(
        true, pred, labels=list(EMOTIONS), zero_division=np.nan
    )
    present = [emotion for emotion, count in zip(EMOTIONS, support) if count > 0]
    per_class = {
        emotion: {
            "precision": _number(precision[index]),
            "recall": _number(recall[index]) if support[index] else None,
            "f1": _number(f1[index]) if support[index] else None,
            "support": int(support[index]),
        }
        for index, emotion in enumerate(EMOTIONS)
    }
    if len(true) == 0:
        weighted, accuracy = float("nan"), float("nan")
    else:
        weighted = f1_score(true, pred, labels=present, average="weighted", zero_division=0)
        accuracy = accuracy_score(true, pred)
    return {
        "n_items": int(len(true)),
        "labels": list(EMOTIONS),
        "classes_in_macro": present,
        "per_class": per_class,
        "macro_f1": _number(macro_f1(true, pred)),
        "weighted_f1": _number(weighted),
        "accuracy": _number(accuracy),
        "confusion_matrix": confusion_matrix(true, pred, labels=list(EMOTIONS)).tolist()
        if len(true)
        else [[0] * len(EMOTIONS) for _ in EMOTIONS],
    }


def evaluate_run(predictions_path: str | Path, split_path: str | Path, dataset_path: str | Path) -> dict:
    """metrics.json content of one run: its identity (the run.json beside the predictions),
    test-part metrics and the unseen-description subset."""
    from sklearn.metrics import accuracy_score

    predictions_path, split_path = Path(predictions_path), Path(split_path)
    predictions = read_predictions(predictions_path)
    split = read_split(split_path)
    run = runs.run_beside(predictions_path)
    check_draw(run, split, predictions_path, split_path)
    dataset = read_csv_checked(dataset_path, ("item_id", "description"))
    merged = align_to_test_part(predictions, split, predictions_path, split_path)
    metrics = compute_metrics(merged["true"], merged["pred"])
    unseen = unseen_description_mask(merged["item_id"], dataset, split)
    subset = merged.loc[unseen]
    metrics["n_scenes"] = int(merged["scene_id"].nunique())
    metrics["unseen_description"] = {
        "n_items": int(len(subset)),
        "n_scenes": int(subset["scene_id"].nunique()),
        "macro_f1": _number(macro_f1(subset["true"], subset["pred"])),
        "accuracy": _number(accuracy_score(subset["true"], subset["pred"])) if len(subset) else None,
    }
    return {**{key: run[key] for key in runs.IDENTITY}, **metrics}


# --------------------------------------------------------------------------- bootstrap


def macro_f1_from_confusions(confusions: np.ndarray) -> np.ndarray:
    """Macro-F1 of each confusion matrix in a stack (..., K, K), over classes with support.

    The same quantity as ``macro_f1`` (tested against scikit-learn), computed on counts so
    that thousands of resamples cost one matrix product.
    """
    true_positives = np.diagonal(confusions, axis1=-2, axis2=-1)
    support = confusions.sum(axis=-1)
    predicted = confusions.sum(axis=-2)
    denominator = support + predicted
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denominator > 0, 2 * true_positives / denominator, 0.0)
    present = support > 0
    return np.where(
        present.any(axis=-1),
        (f1 * present).sum(axis=-1) / np.maximum(present.sum(axis=-1), 1),
        np.nan,
    )


def confusions_per_group(true, pred, groups, group_order) -> np.ndarray:
    """One confusion matrix per group (scene): shape (n_groups, K, K)."""
    index = {emotion: position for position, emotion in enumerate(EMOTIONS)}
    group_index = pd.Index(group_order).get_indexer(groups)
    stack = np.zeros((len(group_order), len(EMOTIONS), len(EMOTIONS)), dtype=np.int64)
    np.add.at(
        stack,
        (group_index, [index[t] for t in true], [index[p] for p in pred]),
        1,
    )
    return stack


@dataclass
class Difference:
    model: str
    reference: str  # the model subtracted
    comparison: str  # VS_BASELINE or BEST_MULTIMODAL (dramaemo.evaluation.evaluate.comparison_pairs)
    n_seeds: int
    macro_f1: float
    reference_macro_f1: float
    difference: float
    ci_low: float
    ci_high: float
    share_above_zero: float


def paired_bootstrap(
    runs: dict[str, list[pd.DataFrame]],
    groups_column: str = "scene_id",
    baseline: str = BASELINE,
    resamples: int = 2000,
    seed: int = 0,
    ci_level: float = 0.95,
    chunk: int = 500,
    pairs=None,
) -> tuple[list[Difference], dict]:
    """Paired bootstrap CI of seed-averaged macro-F1 differences: each (model, reference)
    of ``pairs`` (default: every model against the baseline).

    `runs` maps a model to its runs, one table per seed in the same seed order for every
    model, with columns item_id, true, pred and `groups_column`. The runs of one seed
    cover the same items (one split draw); seeds may test on different draws. Each
    resample draws whole groups of every draw with replacement, the same draw for every
    model (paired), and averages each model's macro-F1 over its seeds.
    """
    if pairs is None:
        if baseline not in runs:
            raise UserError(f"no {baseline} predictions to compare against")
        pairs = [(model, baseline, VS_BASELINE) for model in runs if model != baseline]
    first = next(iter(runs))
    n_seeds = len(runs[first])
    for model, tables in runs.items():
        if len(tables) != n_seeds:
            raise UserError(
                f"{model}: {len(tables)} run(s), but {first} has {n_seeds}; compare models "
                "run with the same seeds"
            )
    # Runs of one seed share a test part; seeds on the same draw share its resamples.
    tests = []  # (group order, item -> group, items) of each distinct test part
    test_index = {}  # items -> position in tests
    test_of_seed = []
    for reference in runs[first]:
        key = frozenset(reference["item_id"])
        if key not in test_index:
            test_index[key] = len(tests)
            tests.append(
                (
                    pd.unique(reference[groups_column]),
                    pd.Series(reference[groups_column].to_numpy(), index=reference["item_id"]),
                    key,
                )
            )
        test_of_seed.append(test_index[key])
    flat = {}  # model -> per seed (G, K*K) confusions per group
    for model, tables in runs.items():
        flat[model] = []
        for position, table in enumerate(tables):
            group_order, item_groups, items = tests[test_of_seed[position]]
            if set(table["item_id"]) != items:
                raise UserError(
                    f"{model}: the run of seed position {position} covers other test items than {first}'s; "
                    "the runs of one seed must be evaluated on the same split draw"
                )
            groups = item_groups.reindex(table["item_id"]).to_numpy()
            flat[model].append(
                confusions_per_group(table["true"], table["pred"], groups, group_order).reshape(
                    len(group_order), -1
                )
            )
    rng = np.random.default_rng(seed)
    sampled = {model: [] for model in flat}
    n_classes = len(EMOTIONS)
    for start in tqdm(range(0, resamples, chunk), desc="bootstrap", unit="chunk", mininterval=5):
        size = min(chunk, resamples - start)
        # drawing G groups with replacement = multinomial counts of each group
        counts = [
            rng.multinomial(len(order), np.full(len(order), 1 / len(order)), size=size)
            for order, _, _ in tests
        ]
        for model, per_seed in flat.items():
            scores = [
                macro_f1_from_confusions(
                    (counts[test_of_seed[position]] @ per_group).reshape(size, n_classes, n_classes)
                )
                for position, per_group in enumerate(per_seed)
            ]
            sampled[model].append(np.mean(scores, axis=0))
    sampled = {model: np.concatenate(values) for model, values in sampled.items()}
    point = {
        model: float(
            np.mean(
                [
                    macro_f1_from_confusions(per_group.sum(axis=0).reshape(n_classes, n_classes))
                    for per_group in per_seed
                ]
            )
        )
        for model, per_seed in flat.items()
    }
    tail = (1 - ci_level) / 2 * 100
    differences = []
    for model, other, comparison in pairs:
        delta = sampled[model] - sampled[other]
        delta = delta[~np.isnan(delta)]
        low, high = np.percentile(delta, [tail, 100 - tail])
        differences.append(
            Difference(
                model=model,
                reference=other,
                comparison=comparison,
                n_seeds=len(runs[model]),
                macro_f1=point[model],
                reference_macro_f1=point[other],
                difference=point[model] - point[other],
                ci_low=float(low),
                ci_high=float(high),
                share_above_zero=float((delta > 0).mean()),
            )
        )
    info = {
        "n_draws": len(tests),
        "n_items": int(sum(len(item_groups) for _, item_groups, _ in tests)),
        "n_groups": int(sum(len(order) for order, _, _ in tests)),
        "resamples": resamples,
        "ci_level": ci_level,
        "seed": seed,
    }
    return differences, info


def comparison_pairs(by_model: dict[str, list[pd.DataFrame]]) -> list[tuple[str, str, str]]:
    """(model, reference, comparison) to compare: every model against the baseline (when it
    ran), then the best multimodal model against the best single-modality model, each the
    best by seed-averaged macro-F1 (registry ``ModelSpec.multimodal``)."""
    pairs = (
        [(model, BASELINE, VS_BASELINE) for model in by_model if model != BASELINE]
        if BASELINE in by_model
        else []
    )
    mean_f1 = {
        model: float(np.nanmean([macro_f1(t["true"], t["pred"]) for t in tables]))
        for model, tables in by_model.items()
    }
    multimodal = [m for m in mean_f1 if registry.spec(m).multimodal]
    single = [m for m in mean_f1 if not registry.spec(m).multimodal]
    if multimodal and single:
        pairs.append((max(multimodal, key=mean_f1.get), max(single, key=mean_f1.get), BEST_MULTIMODAL))
    return pairs


def read_splits(split_paths) -> dict[int, tuple[pd.DataFrame, Path]]:
    """Split files by the draw they hold; two files of one draw are an error."""
    splits = {}
    for path in map(Path, split_paths):
        table = read_split(path)
        draw = int(table["draw"].iloc[0])
        if draw in splits:
            raise UserError(
                f"{path}: draw {draw} again (also {splits[draw][1]}); give each draw's split once"
            )
        if not (table["part"] == "test").any():
            raise UserError(
                f"{path}: the test part is empty, nothing to compare; raise "
                "split.test_fraction or add episodes"
            )
        splits[draw] = (table, path)
    return splits


def read_test_run(
    path, splits: dict[int, tuple[pd.DataFrame, Path]], run: dict | None = None
) -> pd.DataFrame:
    """One predictions.csv aligned to the test part of its run's draw (``splits``: from
    read_splits; ``run``: its run.json, read when not given): item_id, true, pred, scene_id."""
    path = Path(path)
    run = run or runs.run_beside(path)
    if run["split_draw"] not in splits:
        raise UserError(
            f"{path}: a run of split draw {run['split_draw']}, but no split file of that draw "
            f"was given ({', '.join(str(p) for _, p in splits.values())})"
        )
    split, split_path = splits[run["split_draw"]]
    return align_to_test_part(read_predictions(path), split, path, split_path)


def read_test_runs(prediction_paths, split_paths) -> tuple[str, dict[str, list[pd.DataFrame]]]:
    """(the runs' split name, each predictions.csv aligned to its draw's test part
    (read_test_run), grouped by model in seed order, as paired_bootstrap takes them)."""
    splits = read_splits(split_paths)
    identities = {Path(path): runs.run_beside(path) for path in prediction_paths}
    names = sorted({run["split"] for run in identities.values()})
    if len(names) > 1:
        raise UserError(
            f"predictions of several splits given ({', '.join(names)}); compare one split at a time"
        )
    by_model: dict[str, list[pd.DataFrame]] = {}
    for path, run in sorted(identities.items(), key=lambda item: (item[1]["model"], item[1]["seed"])):
        by_model.setdefault(run["model"], []).append(read_test_run(path, splits, run))
    return (names[0] if names else ""), by_model


def groups_column_of(resample_by: str) -> str:
    """The column paired_bootstrap resamples for config evaluation.bootstrap.resample_by."""
    return "scene_id" if resample_by == "scene" else "item_id"


def compare_models(
    prediction_paths: list[str | Path],
    split_paths: list[str | Path],
    resamples: int,
    seed: int,
    ci_level: float,
    resample_by: str = "scene",
) -> pd.DataFrame:
    """Bootstrap table (one row per pair of ``comparison_pairs``) from the runs' predictions
    files and the split files of their draws."""
    split, by_model = read_test_runs(prediction_paths, split_paths)
    differences, info = paired_bootstrap(
        by_model,
        groups_column=groups_column_of(resample_by),
        resamples=resamples,
        seed=seed,
        ci_level=ci_level,
        pairs=comparison_pairs(by_model),
    )
    table = pd.DataFrame([vars(d) for d in differences])
    if table.empty:
        table = pd.DataFrame(columns=list(Difference.__dataclass_fields__))
    for key, value in info.items():
        table[key] = value
    table["resample_by"] = resample_by
    table.insert(0, "split", split)
    return table


# --------------------------------------------------------------------------- CLI


def _run_evaluate(args: argparse.Namespace) -> None:
    metrics = evaluate_run(args.predictions, args.split, args.dataset)
    log.info(
        "%s: macro-F1 %.3f, accuracy %.3f on %d test items (%d with unseen descriptions)",
        args.predictions,
        metrics["macro_f1"] if metrics["macro_f1"] is not None else float("nan"),
        metrics["accuracy"] if metrics["accuracy"] is not None else float("nan"),
        metrics["n_items"],
        metrics["unseen_description"]["n_items"],
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(metrics, indent=2) + "\n")


def _run_compare(args: argparse.Namespace) -> None:
    table = compare_models(
        args.predictions,
        args.split,
        resamples=args.resamples,
        seed=args.seed,
        ci_level=args.ci_level,
        resample_by=args.resample_by,
    )
    for row in table.itertuples():
        log.info(
            "%s - %s: %+.3f [%.3f, %.3f]", row.model, row.reference, row.difference, row.ci_low, row.ci_high
        )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output, index=False)


def add_bootstrap_arguments(parser: argparse.ArgumentParser) -> None:
    """--resamples, --seed, --ci-level, --resample-by (config evaluation.bootstrap)."""
    bootstrap = schema_defaults("evaluation", "bootstrap")
    parser.add_argument("--resamples", type=int, default=bootstrap["resamples"])
    parser.add_argument("--seed", type=int, default=bootstrap["seed"])
    parser.add_argument("--ci-level", type=float, default=bootstrap["ci_level"])
    parser.add_argument(
        "--resample-by",
        choices=schema_node("evaluation", "bootstrap", "resample_by")["enum"],
        default=bootstrap["resample_by"],
        help="resample whole scenes (default) or single items",
    )


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="metrics.json of one run's predictions on the test part",
    )
    parser.add_argument("--predictions", required=True, help="predictions.csv of one run")
    parser.add_argument("--split", required=True, help="results/split/{split}/draw{draw}.csv: the run's draw")
    parser.add_argument("--dataset", required=True, help="results/dataset/dataset.csv")
    parser.add_argument("--output", required=True, help="metrics.json to write")
    parser.set_defaults(func=_run_evaluate)

    parser = subparsers.add_parser(
        "compare-models",
        help="paired scene-bootstrap CI of each model's macro-F1 difference to the baseline, and of the "
        "best multimodal model's to the best single-modality model's",
    )
    parser.add_argument(
        "--predictions",
        nargs="+",
        required=True,
        help="predictions.csv files, each with the run.json of its run beside it",
    )
    parser.add_argument(
        "--split",
        nargs="+",
        required=True,
        help="results/split/{split}/draw{draw}.csv of every draw the runs were tested on",
    )
    add_bootstrap_arguments(parser)
    parser.add_argument("--output", required=True, help="CSV to write")
    parser.set_defaults(func=_run_compare)

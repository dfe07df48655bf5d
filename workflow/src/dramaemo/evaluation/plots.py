"""The report's plots: confusion matrices, per-class F1 bars, training curves, the
bootstrap differences to the baseline, and a contact sheet of sample crops per class.

Runs are named by the identity their files carry (metrics.json, the run.json beside a
history.csv, the split column of bootstrap.csv; dramaemo.core.runs), never by their paths.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS, RANDOM_SPLIT
from dramaemo.core import runs
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.core.registry import ordered_models
from dramaemo.dataset.tables import read_csv_checked
from dramaemo.evaluation.evaluate import VS_BASELINE
from dramaemo.evaluation.f1tables import (
    ROW_MACRO,
    add_label_options,
    headline_split,
    label_option,
    model_labels,
    read_metrics,
    summarise_runs,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(count: int, columns: int = 3):
    columns = max(1, min(columns, count))
    rows = int(np.ceil(count / columns))
    return rows, columns


def plot_confusion(metric_paths, output, elmo_standin=False, labels=None):
    """Row-normalised confusion matrices (counts summed over seeds), one per model."""
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = _pyplot()
    by_model: dict[str, list[np.ndarray]] = {}
    for path in metric_paths:
        metrics = json.loads(Path(path).read_text())
        model = metrics["model"]
        matrix = np.array(metrics["confusion_matrix"], float)
        by_model.setdefault(model, []).append(matrix)
    models = ordered_models(by_model)
    labels = model_labels(models, elmo_standin, labels)
    rows, columns = _grid(len(models))
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.8 * rows), squeeze=False)
    for axis, model in zip(axes.flat, models):
        counts = np.sum(by_model[model], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
        ConfusionMatrixDisplay(share, display_labels=list(EMOTIONS)).plot(
            ax=axis, values_format=".2f", colorbar=False, cmap="Blues", xticks_rotation=45
        )
        axis.set_title(f"{labels[model]}\n({len(by_model[model])} run(s), rows sum to 1)", fontsize=10)
    for axis in list(axes.flat)[len(models) :]:
        axis.axis("off")
    figure.tight_layout()
    _save(figure, output)


def plot_f1_bars(metric_paths, output, elmo_standin=False, labels=None):
    """Per-class F1 (and macro-F1) of each model, mean with std over seeds as error bars."""
    plt = _pyplot()
    stats = summarise_runs(read_metrics(metric_paths))
    models = ordered_models(stats["model"].unique())
    labels = model_labels(models, elmo_standin, labels)
    rows = [*EMOTIONS, ROW_MACRO]
    width = 0.8 / len(models)
    figure, axis = plt.subplots(figsize=(max(8, 1.4 * len(rows)), 4.5))
    for index, model in enumerate(models):
        values = stats[stats["model"] == model].set_index("row").reindex(rows)
        axis.bar(
            np.arange(len(rows)) + (index - (len(models) - 1) / 2) * width,
            values["mean"].fillna(0),
            width,
            yerr=values["std"].fillna(0),
            capsize=2,
            label=labels[model],
        )
    absent = stats.groupby("row")["mean"].apply(lambda m: m.isna().all())
    for position, row in enumerate(rows):
        if absent.get(row, True):
            axis.text(
                position,
                0.02,
                "not in test part",
                rotation=90,
                ha="center",
                va="bottom",
                fontsize=8,
                color="grey",
            )
    axis.set_xticks(np.arange(len(rows)), rows)
    axis.set_ylim(0, 1)
    axis.set_ylabel("F1 (mean ± std over seeds)")
    axis.axvline(len(EMOTIONS) - 0.5, color="grey", linewidth=0.8)
    axis.legend(fontsize=8, ncols=min(len(models), 3), loc="upper left")
    figure.tight_layout()
    _save(figure, output)


def read_history(path) -> pd.DataFrame:
    table = read_csv_checked(path, ())
    if "loss" not in table.columns:
        raise UserError(f"{path}: no 'loss' column; is it a Keras history CSV?")
    if "epoch" not in table.columns:
        table.insert(0, "epoch", np.arange(1, len(table) + 1))
    return table


def plot_training_curves(history_paths, output, elmo_standin=False, labels=None):
    """Loss and accuracy per epoch (train solid, validation dashed), one column per model."""
    plt = _pyplot()
    histories: dict[str, list[tuple[int, pd.DataFrame]]] = {}
    for path in history_paths:
        run = runs.run_beside(path)
        histories.setdefault(run["model"], []).append((run["seed"], read_history(path)))
    models = ordered_models(histories)
    labels = model_labels(models, elmo_standin, labels)
    quantities = [
        q
        for q in ("loss", "accuracy")
        if any(q in table.columns for runs in histories.values() for _, table in runs)
    ]
    figure, axes = plt.subplots(
        len(quantities),
        len(models),
        figsize=(4 * len(models), 3.2 * len(quantities)),
        squeeze=False,
        sharex="col",
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for column, model in enumerate(models):
        for row, quantity in enumerate(quantities):
            axis = axes[row, column]
            for index, (seed, table) in enumerate(sorted(histories[model], key=lambda r: r[0])):
                colour = colours[index % len(colours)]
                if quantity in table:
                    axis.plot(table["epoch"], table[quantity], color=colour, label=f"seed {seed}")
                if f"val_{quantity}" in table:
                    axis.plot(table["epoch"], table[f"val_{quantity}"], color=colour, linestyle="--")
            axis.set_ylabel(quantity)
            if row == 0:
                axis.set_title(labels[model], fontsize=10)
            if row == len(quantities) - 1:
                axis.set_xlabel("epoch")
        axes[0, column].legend(fontsize=7, title="solid train, dashed val", title_fontsize=7)
    figure.tight_layout()
    _save(figure, output)


def plot_differences(bootstrap_paths, strategies, output, elmo_standin=False, labels=None):
    """Each model's macro-F1 difference to the baseline with its bootstrap CI, per split."""
    plt = _pyplot()
    tables = []
    for path in bootstrap_paths:
        table = read_csv_checked(path, ("split", "model", "comparison", "difference", "ci_low", "ci_high"))
        tables.append(table[table["comparison"] == VS_BASELINE])
    data = pd.concat(tables, ignore_index=True)
    headline = headline_split(list(strategies))
    splits = [headline] + [s for s in strategies if s != headline and s in set(data["split"])]
    models = ordered_models(data["model"].unique())
    labels = model_labels(models, elmo_standin, labels)
    figure, axis = plt.subplots(figsize=(7, 0.6 + 0.5 * max(1, len(models)) * len(splits)))
    offsets = np.linspace(-0.25, 0.25, len(splits)) if len(splits) > 1 else [0.0]
    for offset, split in zip(offsets, splits):
        part = data[data["split"] == split].set_index("model").reindex(models)
        y = np.arange(len(models)) + offset
        axis.errorbar(
            part["difference"],
            y,
            xerr=[part["difference"] - part["ci_low"], part["ci_high"] - part["difference"]],
            fmt="o",
            capsize=3,
            label=f"{split} (headline)" if split == headline != RANDOM_SPLIT else split,
        )
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.set_yticks(np.arange(len(models)), [labels[m] for m in models])
    axis.invert_yaxis()
    axis.set_xlabel("macro-F1 difference to the baseline (paired bootstrap CI)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, output)


def contact_sheet(dataset_path, output, per_class: int = 6, seed: int = 0):
    """A grid of sample crops: one row per class, up to `per_class` random crops each."""
    import cv2

    plt = _pyplot()
    dataset_path = Path(dataset_path)
    dataset = read_csv_checked(dataset_path, ("item_id", "crop_path", "emotion"))
    figure, axes = plt.subplots(
        len(EMOTIONS), per_class, figsize=(1.3 * per_class + 1, 1.4 * len(EMOTIONS)), squeeze=False
    )
    for row, emotion in enumerate(EMOTIONS):
        items = dataset[dataset["emotion"] == emotion]
        sample = items.sample(n=min(per_class, len(items)), random_state=seed)
        for column in range(per_class):
            axis = axes[row, column]
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if column < len(sample):
                record = sample.iloc[column]
                image = cv2.imread(str(record["crop_path"]), cv2.IMREAD_GRAYSCALE)
                if image is None:
                    line = int(dataset.index.get_loc(sample.index[column])) + 2
                    raise UserError(
                        f"{dataset_path}: row {line}: crop_path {record['crop_path']} "
                        "is missing or not an image; rerun the crop rules"
                    )
                axis.imshow(image, cmap="gray", vmin=0, vmax=255)
            elif column == 0:
                axis.text(0.5, 0.5, "no items", ha="center", va="center", fontsize=8)
        axes[row, 0].set_ylabel(f"{emotion}\n({len(items)})", rotation=0, ha="right", va="center")
    figure.suptitle("Sample crops per class (count in brackets)", fontsize=10)
    figure.tight_layout()
    _save(figure, output)


def _save(figure, output):
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    _pyplot().close(figure)
    log.info("wrote %s", output)


# --------------------------------------------------------------------------- CLI


def _plot_metrics_command(args) -> None:
    plot = plot_confusion if args.command == "plot-confusion" else plot_f1_bars
    plot(args.metrics, args.output, args.elmo_standin, label_option(args))


def _plot_training_command(args) -> None:
    plot_training_curves(args.history, args.output, args.elmo_standin, label_option(args))


def _plot_differences_command(args) -> None:
    plot_differences(args.bootstrap, args.strategies, args.output, args.elmo_standin, label_option(args))


def _contact_sheet_command(args) -> None:
    contact_sheet(args.dataset, args.output, args.per_class, args.seed)


def add_parser(subparsers) -> None:
    for name, what in (("plot-confusion", "confusion matrices"), ("plot-f1", "per-class F1 bar chart")):
        parser = subparsers.add_parser(name, help=f"{what} of one split")
        parser.add_argument(
            "--metrics", nargs="+", required=True, help="metrics.json of every run of one split"
        )
        parser.add_argument("--output", required=True)
        add_label_options(parser)
        parser.set_defaults(func=_plot_metrics_command)

    parser = subparsers.add_parser("plot-training", help="training curves of one split")
    parser.add_argument(
        "--history",
        nargs="+",
        required=True,
        help="history.csv files of one split, each with its run.json beside it",
    )
    parser.add_argument("--output", required=True)
    add_label_options(parser)
    parser.set_defaults(func=_plot_training_command)

    parser = subparsers.add_parser("plot-differences", help="bootstrap CIs of differences to the baseline")
    parser.add_argument("--bootstrap", nargs="+", required=True, help="bootstrap.csv of each split")
    parser.add_argument("--strategies", nargs="+", required=True)
    parser.add_argument("--output", required=True)
    add_label_options(parser)
    parser.set_defaults(func=_plot_differences_command)

    parser = subparsers.add_parser("contact-sheet", help="sample crops per class")
    parser.add_argument("--dataset", required=True, help="results/dataset/dataset.csv")
    defaults = schema_defaults("evaluation", "contact_sheet")
    parser.add_argument("--per-class", type=int, default=defaults["per_class"])
    parser.add_argument("--seed", type=int, default=defaults["seed"])
    parser.add_argument("--output", required=True)
    parser.set_defaults(func=_contact_sheet_command)

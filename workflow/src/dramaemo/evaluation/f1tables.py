"""The F1 comparison table, laid out like the paper's Table II, and the cross-split summary.

Per split (``results/table/{split}/``), ``f1-table``: rows are the 7 emotions (per-class
F1), then macro-F1, accuracy and macro-F1 on the unseen-description subset; columns are
the models in registry order (dramaemo.core.registry). Cells are mean ± std over seeds.
Markdown, CSV (numbers), LaTeX and HTML (for the Snakemake report).

Across splits (``results/table/``), ``summary-table`` puts the headline split (the first
non-random strategy) beside the others, with each model's bootstrap CI of its macro-F1
difference to the baseline. Runs are named by the identity their metrics.json carries
(dramaemo.core.runs), never by their paths.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS, RANDOM_SPLIT
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.core.registry import BASELINE, FER, model_label, ordered_models
from dramaemo.dataset.tables import read_csv_checked
from dramaemo.evaluation.evaluate import BEST_MULTIMODAL, VS_BASELINE

log = logging.getLogger(__name__)

ROW_MACRO = "Macro-F1"
ROW_ACCURACY = "Accuracy"
ROW_UNSEEN = "Macro-F1 (unseen descriptions)"
TABLE_ROWS = (*EMOTIONS, ROW_MACRO, ROW_ACCURACY, ROW_UNSEEN)
MISSING = "–"  # a class absent from the test part, or an empty subset


def model_labels(models, elmo_standin: bool, given: dict | None = None) -> dict[str, str]:
    """Display names: `given` ones first (the workflow passes its own), else
    dramaemo.core.registry.model_label."""
    given = given or {}
    return {model: given.get(model) or model_label(model, elmo_standin=elmo_standin) for model in models}


def headline_split(strategies: list[str]) -> str:
    """The first strategy that is not the random split (random only if it is alone).

    A random split puts seconds of one scene in both parts, so its numbers overstate
    what a model does on unseen scenes: it is shown beside the headline, never as it.
    """
    for strategy in strategies:
        if strategy != RANDOM_SPLIT:
            return strategy
    return strategies[0]


# --------------------------------------------------------------------------- table


def read_metrics(paths) -> pd.DataFrame:
    """Long table: split, model, seed, split_draw, row (TABLE_ROWS), value, test-part sizes;
    NaN where undefined."""
    records = []
    for path in paths:
        path = Path(path)
        try:
            metrics = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UserError(f"{path}: not a readable metrics.json ({error})") from error
        try:
            split, model, seed = metrics["split"], metrics["model"], int(metrics["seed"])
            draw = int(metrics["split_draw"])
            values = {emotion: metrics["per_class"][emotion]["f1"] for emotion in EMOTIONS}
            values[ROW_MACRO] = metrics["macro_f1"]
            values[ROW_ACCURACY] = metrics["accuracy"]
            values[ROW_UNSEEN] = metrics["unseen_description"]["macro_f1"]
        except (KeyError, TypeError) as error:
            raise UserError(f"{path}: lacks {error}; rerun the evaluate rule") from error
        for row, value in values.items():
            records.append(
                {
                    "split": split,
                    "model": model,
                    "seed": seed,
                    "split_draw": draw,
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


def test_part_note(long: pd.DataFrame) -> str:
    """What the runs were tested on: one test part, or one per split draw (dramaemo.dataset.split)."""
    parts = long.drop_duplicates("split_draw").sort_values("split_draw")
    if len(parts) == 1:
        first = parts.iloc[0]
        return (
            f"Test part: {first['n_items']} items in {first['n_scenes']} scenes; {first['n_unseen']} of "
            "them have a description that never occurs in the train part (last row)."
        )

    def span(column):
        low, high = int(parts[column].min()), int(parts[column].max())
        return f"{low}" if low == high else f"{low}-{high}"

    return (
        f"Each seed trains and tests on its own split draw ({len(parts)} draws: "
        f"{', '.join(map(str, parts['split_draw']))}), so the ± includes which scenes land in test. "
        f"Test parts: {span('n_items')} items in {span('n_scenes')} scenes; {span('n_unseen')} of them have "
        "a description that never occurs in their train part (last row)."
    )


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
            f"metrics of several splits given ({', '.join(long['split'].unique())}); one table is one split"
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
    seeds = sorted(long.loc[long["model"] != FER, "seed"].unique())
    notes = [
        f"Split: {long['split'].iloc[0]}. " + test_part_note(long),
        f"Cells: per-class F1, mean ± std over seeds {', '.join(map(str, seeds))} "
        f"({len(seeds)} runs per model); macro-F1 averages the classes present "
        f"in the test part; {MISSING}: class absent from the test part or empty subset.",
    ]
    if FER in models:
        notes.append(
            f"{model_label(FER)}: the FER2013 model of `fer`, deterministic: one run per split draw."
        )
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


LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "`": "",
}
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


def summary_table(metric_paths, bootstrap_paths, strategies, elmo_standin=False, decimals=3, labels=None):
    """Cross-split table: rows models; per split macro-F1, its difference to the baseline
    with the bootstrap CI, and macro-F1 on unseen descriptions. Headline split first."""
    long = read_metrics(metric_paths)
    headline = headline_split(list(strategies))
    splits = [headline] + [s for s in strategies if s != headline]
    unknown = set(long["split"]) - set(splits)
    if unknown:
        raise UserError(f"metrics of split(s) {', '.join(sorted(unknown))} not in {strategies}")
    bootstrap, best_pairs = {}, {}
    for path in bootstrap_paths:
        table = read_csv_checked(
            path, ("split", "model", "reference", "comparison", "difference", "ci_low", "ci_high", "ci_level")
        )
        if len(table):
            split = table["split"].iloc[0]
            bootstrap[split] = table[table["comparison"] == VS_BASELINE].set_index("model")
            best = table[table["comparison"] == BEST_MULTIMODAL]
            if len(best):
                best_pairs[split] = best.iloc[0]
    models = ordered_models(long["model"].unique())
    labels = model_labels(models, elmo_standin, labels)
    display = pd.DataFrame(index=pd.Index([labels[m] for m in models], name="Model"))
    numeric = pd.DataFrame(index=pd.Index(models, name="model"))
    numeric.insert(0, "label", [labels[m] for m in models])
    notes = []
    for split in splits:
        stats = summarise_runs(long[long["split"] == split]).set_index(["model", "row"])
        name = f"{split} (headline)" if split == headline != RANDOM_SPLIT else split
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
                f"({int(b['n_items'])} items) of {int(b['n_draws'])} split draw(s), {int(b['resamples'])} resamples."
            )
        if split in best_pairs:
            b = best_pairs[split]
            notes.append(
                f"{split}: the best multimodal model ({labels.get(b['model'], b['model'])}) minus the best "
                f"single-modality model ({labels.get(b['reference'], b['reference'])}): "
                f"{b['difference']:+.{decimals}f} [{b['ci_low']:+.{decimals}f}, {b['ci_high']:+.{decimals}f}] "
                f"({float(b['ci_level']):.0%} CI, the same resampled scenes)."
            )
            for key in ("difference", "ci_low", "ci_high"):
                numeric.loc[b["model"], f"{split} best multimodal vs best single {key}"] = b[key]
    if headline == RANDOM_SPLIT:
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


# --------------------------------------------------------------------------- CLI


def _f1_table_command(args):
    display, numeric, notes = f1_table(args.metrics, args.elmo_standin, args.decimals, label_option(args))
    split = read_metrics(args.metrics[:1])["split"].iloc[0]
    write_table(
        display,
        numeric,
        notes,
        {"md": args.md, "csv": args.csv, "tex": args.tex, "html": args.html},
        title=f"F1 per class, split {split}",
        label=f"tab:f1-{split}",
    )
    log.info("F1 table of split %s:\n%s", split, to_markdown(display))


def _summary_command(args):
    display, numeric, notes = summary_table(
        args.metrics,
        args.bootstrap,
        args.strategies,
        args.elmo_standin,
        args.decimals,
        label_option(args),
    )
    write_table(
        display,
        numeric,
        notes,
        {"md": args.md, "csv": args.csv, "tex": args.tex, "html": args.html},
        title="Macro-F1 across splits",
        label="tab:f1-summary",
    )
    log.info("summary:\n%s", to_markdown(display))


def label_option(args) -> dict | None:
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


def add_label_options(parser, outputs=False):
    """--elmo-standin, --labels, --decimals (and the table outputs) of the table and plot commands."""
    parser.add_argument(
        "--elmo-standin", action="store_true", help='label the ELMo model "(stand-in weights)"'
    )
    parser.add_argument("--labels", help='JSON {model: display name}, e.g. {"fer": "FER"}')
    parser.add_argument("--decimals", type=int, default=schema_defaults("evaluation", "decimals"))
    if outputs:
        for kind in ("md", "csv", "tex", "html"):
            parser.add_argument(f"--{kind}", help=f"{kind} file to write")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("f1-table", help="one split's F1 table (Markdown, CSV, LaTeX, HTML)")
    parser.add_argument(
        "--metrics",
        nargs="+",
        required=True,
        help="metrics.json of every run of one split (dramaemo evaluate)",
    )
    add_label_options(parser, outputs=True)
    parser.set_defaults(func=_f1_table_command)

    parser = subparsers.add_parser("summary-table", help="macro-F1 and bootstrap CIs across splits")
    parser.add_argument("--metrics", nargs="+", required=True, help="metrics.json of every split")
    parser.add_argument(
        "--bootstrap", nargs="*", default=[], help="results/table/{split}/bootstrap.csv files"
    )
    parser.add_argument(
        "--strategies",
        nargs="+",
        required=True,
        help="config split.strategies, in order (the headline is the first non-random)",
    )
    add_label_options(parser, outputs=True)
    parser.set_defaults(func=_summary_command)

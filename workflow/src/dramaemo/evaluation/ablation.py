"""Ablation of the training defaults: the chosen configuration, then one ingredient changed
at a time (config ``ablation``).

A variant is a model (``model``; default: ``ablation.model``) and overrides of config
``train`` (``train``: nested sections merged key by key, applied after ``train.per_model``).
The workflow trains each variant with every seed of ``train.seeds`` on ``ablation.split``
(workflow/rules/ablation.smk); a variant whose settings equal a run of the main table
(e.g. ``{model: glove}`` with the default settings) reuses that run instead of training
it again. ``dramaemo ablation-table`` then lists macro-F1 (mean ± std over seeds), its
change against the chosen configuration with the paired scene-bootstrap CI of that change
(the same resampling as the main table's, dramaemo.evaluation.evaluate.paired_bootstrap), macro-F1
on unseen descriptions and accuracy, and plots the changes.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import pandas as pd

from dramaemo.core import registry
from dramaemo.core.ablation import CHOSEN
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.evaluation.evaluate import add_bootstrap_arguments
from dramaemo.evaluation.f1tables import (
    MISSING,
    ROW_ACCURACY,
    ROW_MACRO,
    ROW_UNSEEN,
    format_cell,
    read_metrics,
    write_table,
)

log = logging.getLogger(__name__)

VS_CHOSEN = "vs_chosen"  # the bootstrap comparison of a variant with the chosen row
# Columns of the numeric table: the bootstrap CI of Δ macro-F1 and the share of resamples above 0
CI_LOW, CI_HIGH, SHARE_ABOVE_ZERO = (
    f"Δ {ROW_MACRO} CI low",
    f"Δ {ROW_MACRO} CI high",
    "share of resamples above 0",
)


# --------------------------------------------------------------------------- table
def bootstrap_against_chosen(runs: dict, names: list[str], split_paths, bootstrap: dict):
    """(paired scene-bootstrap Difference of each variant against the chosen row, info)
    from the rows' predictions (``runs[name]["predictions"]``, in seed order) and the split
    files of their draws; ``bootstrap``: config evaluation.bootstrap (resamples, seed,
    ci_level, resample_by)."""
    from dramaemo.evaluation.evaluate import groups_column_of, paired_bootstrap, read_splits, read_test_run

    splits = read_splits(split_paths)
    by_row = {}
    for name in names:
        paths = runs[name].get("predictions") or []
        if len(paths) != len(runs[name]["metrics"]):
            raise UserError(
                f"--runs: row {name!r} has {len(paths)} predictions files for "
                f"{len(runs[name]['metrics'])} metrics files; give one per run"
            )
        by_row[name] = [read_test_run(path, splits) for path in paths]
    return paired_bootstrap(
        by_row,
        groups_column=groups_column_of(bootstrap["resample_by"]),
        resamples=bootstrap["resamples"],
        seed=bootstrap["seed"],
        ci_level=bootstrap["ci_level"],
        pairs=[(name, CHOSEN, VS_CHOSEN) for name in names if name != CHOSEN],
    )


def ablation_table(runs: dict, decimals: int = 3, split_paths=None, bootstrap: dict | None = None):
    """(display table, numeric table, notes) from ``runs``: {row name: {"change": text,
    "metrics": [metrics.json paths], "predictions": [predictions.csv paths]}}, the chosen
    configuration first. With ``split_paths`` (results/split/{split}/draw{draw}.csv of the
    runs' draws) and ``bootstrap``
    each change gets its paired bootstrap CI (bootstrap_against_chosen)."""
    if CHOSEN not in runs:
        raise UserError(f"no {CHOSEN!r} runs to compare the variants with")
    names = [CHOSEN] + [name for name in runs if name != CHOSEN]
    records, splits = [], set()
    for name in names:
        long = read_metrics(runs[name]["metrics"])
        splits |= set(long["split"])
        stats = long.groupby("row")["value"].agg(["mean", "std"])
        records.append(
            {
                "variant": name,
                "change": runs[name]["change"],
                "model": ", ".join(sorted(long["model"].unique())),
                "runs": int(long["seed"].nunique()),
                **{
                    f"{row} {kind}": stats.loc[row, kind]
                    for row in (ROW_MACRO, ROW_UNSEEN, ROW_ACCURACY)
                    for kind in ("mean", "std")
                },
            }
        )
    if len(splits) > 1:
        raise UserError(f"ablation runs of several splits given ({', '.join(sorted(splits))}); use one split")
    numeric = pd.DataFrame(records).set_index("variant")
    chosen = numeric.loc[CHOSEN, f"{ROW_MACRO} mean"]
    numeric[f"Δ {ROW_MACRO}"] = numeric[f"{ROW_MACRO} mean"] - chosen
    interval = None
    if split_paths:
        differences, info = bootstrap_against_chosen(runs, names, split_paths, bootstrap)
        for column in (CI_LOW, CI_HIGH, SHARE_ABOVE_ZERO):
            numeric[column] = np.nan
        for difference in differences:
            numeric.loc[difference.model, [CI_LOW, CI_HIGH, SHARE_ABOVE_ZERO]] = (
                difference.ci_low,
                difference.ci_high,
                difference.share_above_zero,
            )
        interval = (
            f"{info['ci_level']:.0%} CI: paired bootstrap over the {info['n_groups']} test "
            f"{'scenes' if bootstrap['resample_by'] == 'scene' else 'items'} of {info['n_draws']} split "
            f"draw(s) ({info['resamples']} "
            "resamples, the same resampled scenes for every row, seed-averaged macro-F1); a change whose CI "
            "excludes 0 is distinguishable from the seed and scene noise."
        )
    display = pd.DataFrame(index=pd.Index(names, name="Configuration"))
    display["Change"] = numeric["change"]
    display["Model"] = [registry.model_label(m) if m in registry.MODELS else m for m in numeric["model"]]
    for row in (ROW_MACRO, ROW_UNSEEN, ROW_ACCURACY):
        display[row] = [
            format_cell(r[f"{row} mean"], r[f"{row} std"], r["runs"], decimals) for _, r in numeric.iterrows()
        ]
        if row == ROW_MACRO:
            display[f"Δ {ROW_MACRO} vs chosen"] = [
                MISSING if name == CHOSEN or np.isnan(d) else f"{d:+.{decimals}f}"
                for name, d in zip(names, numeric[f"Δ {ROW_MACRO}"])
            ]
            if interval:
                display[f"Δ {ROW_MACRO} CI"] = [
                    MISSING if name == CHOSEN else f"[{low:+.{decimals}f}, {high:+.{decimals}f}]"
                    for name, low, high in zip(names, numeric[CI_LOW], numeric[CI_HIGH])
                ]
    notes = [
        f"Split: {splits.pop()}. Each row changes one ingredient of the chosen configuration "
        "(config train); cells: mean ± std over seeds; Δ: difference of the seed means to the chosen row."
    ] + ([interval] if interval else [])
    return display, numeric, notes


def plot_ablation(numeric: pd.DataFrame, output) -> None:
    """Macro-F1 change of each variant against the chosen configuration (mean ± std)."""
    from dramaemo.evaluation.plots import _pyplot, _save

    plt = _pyplot()
    variants = numeric.drop(index=CHOSEN)
    figure, axis = plt.subplots(figsize=(7, 1.0 + 0.45 * max(1, len(variants))))
    y = np.arange(len(variants))
    delta = variants[f"Δ {ROW_MACRO}"]
    if CI_LOW in variants:  # the bootstrap CI, else the variant's std over seeds
        error = np.vstack(
            [(delta - variants[CI_LOW]).clip(lower=0), (variants[CI_HIGH] - delta).clip(lower=0)]
        )
        what = "bars: the paired scene-bootstrap CI"
    else:
        error, what = variants[f"{ROW_MACRO} std"].fillna(0), "bars: the variant's std over seeds"
    axis.barh(y, delta, xerr=error, capsize=3, color=["tab:red" if d < 0 else "tab:green" for d in delta])
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.set_yticks(
        y, [f"{name}\n({change})" for name, change in zip(variants.index, variants["change"])], fontsize=7
    )
    axis.invert_yaxis()
    axis.set_xlabel(
        f"macro-F1 change against the chosen configuration "
        f"({numeric.loc[CHOSEN, f'{ROW_MACRO} mean']:.3f})\n{what}",
        fontsize=9,
    )
    figure.tight_layout()
    _save(figure, output)


def _run_table(args: argparse.Namespace) -> None:
    try:
        runs = json.loads(args.runs)
    except json.JSONDecodeError as error:
        raise UserError(f"--runs: not a JSON object ({error})") from None
    bootstrap = {key: getattr(args, key) for key in ("resamples", "seed", "ci_level", "resample_by")}
    display, numeric, notes = ablation_table(runs, args.decimals, split_paths=args.split, bootstrap=bootstrap)
    write_table(
        display,
        numeric,
        notes,
        {"md": args.md, "csv": args.csv, "html": args.html},
        title="Ablation of the training defaults",
        label="tab:ablation",
    )
    if args.plot:
        plot_ablation(numeric, args.plot)
    for name, row in numeric.iterrows():
        log.info(
            "%s (%s): macro-F1 %.3f, change %+.3f [%.3f, %.3f]",
            name,
            row["change"],
            row[f"{ROW_MACRO} mean"],
            row[f"Δ {ROW_MACRO}"],
            row.get(CI_LOW, np.nan),
            row.get(CI_HIGH, np.nan),
        )


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "ablation-table",
        help="the ablation table and its plot (config ablation)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--runs",
        required=True,
        help='JSON: {"chosen": {"change": "...", "metrics": [metrics.json, ...], '
        '"predictions": [predictions.csv, ...]}, variant: {...}}',
    )
    parser.add_argument("--decimals", type=int, default=schema_defaults("evaluation")["decimals"])
    parser.add_argument(
        "--split",
        nargs="+",
        help="results/split/{split}/draw{draw}.csv of the runs' draws: adds each change's paired "
        "bootstrap CI",
    )
    add_bootstrap_arguments(parser)
    parser.add_argument("--md", help="Markdown table")
    parser.add_argument("--csv", help="numeric table")
    parser.add_argument("--html", help="HTML table (the report)")
    parser.add_argument("--plot", help="PNG of each variant's macro-F1 change")
    parser.set_defaults(func=_run_table)

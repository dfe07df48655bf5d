"""Agreement between annotators: Cohen's kappa over the faces two label files share.

``dramaemo label-agreement a.csv b.csv`` reads annotation CSVs with the pipeline's one
reader (dramaemo.dataset.annotations: same row numbers, same ``label_map``); an item is the same
episode, second and face box.
"""

from __future__ import annotations

import argparse
import itertools
import json
import warnings
from pathlib import Path

import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.core.errors import UserError
from dramaemo.dataset.annotations import ITEM_KEY, read_labels


def agreement(first: pd.DataFrame, second: pd.DataFrame) -> dict:
    """Cohen's kappa and raw agreement over the items both tables label."""
    # Imported here: scikit-learn takes seconds to load and only agreement needs it.
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import cohen_kappa_score

    shared = first.merge(second, on=list(ITEM_KEY), suffixes=("_a", "_b"))
    result = {"shared": len(shared), "observed": None, "kappa": None, "shared_table": shared}
    if len(shared):
        result["observed"] = float((shared["emotion_a"] == shared["emotion_b"]).mean())
        with warnings.catch_warnings():
            # One emotion in every shared item makes kappa 0/0: reported as undefined.
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            kappa = cohen_kappa_score(shared["emotion_a"], shared["emotion_b"], labels=list(EMOTIONS))
        result["kappa"] = None if pd.isna(kappa) else float(kappa)
    return result


def _format_kappa(value: float | None) -> str:
    return "undefined (a single emotion in all shared items)" if value is None else f"{value:.3f}"


def run_agreement(args: argparse.Namespace) -> None:
    if len(args.annotations) < 2:
        raise UserError("label-agreement needs at least two annotation CSVs")
    label_map = json.loads(args.label_map)
    tables = {path: read_labels(path, label_map) for path in args.annotations}
    report = []
    for (name_a, table_a), (name_b, table_b) in itertools.combinations(tables.items(), 2):
        result = agreement(table_a, table_b)
        shared = result.pop("shared_table")
        print(
            f"{name_a} ({len(table_a)} labels) vs {name_b} ({len(table_b)} labels): "
            f"{result['shared']} shared items"
        )
        if result["shared"] == 0:
            print("  no crop labelled by both: nothing to compare (do the files cover the same manifests?)")
        else:
            print(
                f"  observed agreement {result['observed']:.3f}, Cohen's kappa {_format_kappa(result['kappa'])}"
            )
            confusion = pd.crosstab(
                pd.Categorical(shared["emotion_a"], categories=EMOTIONS),
                pd.Categorical(shared["emotion_b"], categories=EMOTIONS),
                rownames=[f"rows: {Path(name_a).name}"],
                colnames=[f"columns: {Path(name_b).name}"],
                dropna=False,
            )
            print("  " + confusion.to_string().replace("\n", "\n  "))
        report.append({"a": name_a, "b": name_b, **result})
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def add_parser(subparsers) -> None:
    agreement_parser = subparsers.add_parser(
        "label-agreement",
        help="Cohen's kappa between annotators over the crops they share",
        description="Pairwise agreement of annotation CSVs: an item is the same episode, second and box.",
    )
    agreement_parser.add_argument("annotations", nargs="+", help="two or more annotation CSVs")
    agreement_parser.add_argument("--json", help="also write the figures to this JSON file")
    agreement_parser.add_argument(
        "--label-map",
        default="{}",
        help="JSON {label: class}: other vocabularies renamed, as config label_map",
    )
    agreement_parser.set_defaults(func=run_agreement)

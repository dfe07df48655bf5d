"""The quality run's figures and the models issue's checks, from a work folder where
config/bench.yaml ran (BENCHMARKS.md "Quality on real material"):

    PATH=$PWD/.venv/bin:$PATH snakemake -d ../bench-quality --configfile config/config.yaml config/bench.yaml --cores 2
    .venv/bin/python bench/quality.py --workdir ../bench-quality [--config config/bench.yaml]

Reads every run's metrics.json (results/eval), the bootstrap CIs (results/table/{split}/
bootstrap.csv), the ablation table and the training jobs' benchmark files, and prints
Markdown: macro-F1 per model and split, per-class F1 and recall of the best model, how
often each model predicts each class, each check of the issue with its figures, and the
training time per model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import yaml

from dramaemo import EMOTIONS, RANDOM_SPLIT
from dramaemo.core import registry
from dramaemo.core.ablation import merge
from dramaemo.evaluation.ablation import CI_HIGH, CI_LOW
from dramaemo.evaluation.evaluate import BEST_MULTIMODAL
from dramaemo.evaluation.f1tables import headline_split

REPO = Path(__file__).resolve().parents[1]


def read_runs(workdir: Path) -> pd.DataFrame:
    """One row per evaluated run: split, model, seed, macro_f1, unseen, accuracy, and the
    per-class f1 / recall / predicted counts."""
    rows = []
    for path in sorted((workdir / "results" / "eval").glob("*/*/seed*/metrics.json")):
        metrics = json.loads(path.read_text())
        row = {key: metrics[key] for key in ("split", "split_draw", "model", "seed", "macro_f1", "accuracy")}
        row["unseen"] = metrics["unseen_description"]["macro_f1"]
        # rows: true class, columns: predicted class, in metrics["labels"] order
        confusion = pd.DataFrame(
            metrics["confusion_matrix"], index=metrics["labels"], columns=metrics["labels"]
        )
        for emotion in EMOTIONS:
            row[f"f1 {emotion}"] = metrics["per_class"][emotion]["f1"]
            row[f"recall {emotion}"] = metrics["per_class"][emotion]["recall"]
            row[f"predicted {emotion}"] = int(confusion[emotion].sum()) if emotion in confusion else 0
        rows.append(row)
    if not rows:
        raise SystemExit(f"{workdir}: no results/eval/*/*/seed*/metrics.json; run the bench config first")
    return pd.DataFrame(rows)


def mean_std(values: pd.Series) -> str:
    return f"{values.mean():.3f} ± {values.std():.3f}" if len(values) > 1 else f"{values.mean():.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "bench.yaml")
    args = parser.parse_args()
    config = merge(
        yaml.safe_load((REPO / "config" / "config.yaml").read_text()), yaml.safe_load(args.config.read_text())
    )
    runs = read_runs(args.workdir)
    strategies = [s for s in config["split"]["strategies"] if s in set(runs["split"])]
    headline = headline_split(strategies)
    models = registry.ordered_models(runs["model"].unique())

    draws = runs.groupby("seed")["split_draw"].unique().to_dict()
    print("## Macro-F1 per model (mean ± std over seeds)\n")
    print(
        "Split draw of each seed: "
        + ", ".join(f"seed {seed}: draw {', '.join(map(str, d))}" for seed, d in sorted(draws.items()))
        + "\n"
    )
    header = (
        ["model"]
        + [f"{split}{' (headline)' if split == headline else ''}" for split in strategies]
        + [f"{headline}, unseen descriptions"]
    )
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for model in models:
        cells = [
            mean_std(runs.loc[(runs["split"] == s) & (runs["model"] == model), "macro_f1"])
            for s in strategies
        ]
        cells.append(mean_std(runs.loc[(runs["split"] == headline) & (runs["model"] == model), "unseen"]))
        print(f"| {registry.model_label(model)} | " + " | ".join(cells) + " |")

    head = runs[runs["split"] == headline]
    means = head.groupby("model")[["macro_f1", "unseen"]].mean()
    multimodal = [m for m in means.index if registry.spec(m).multimodal]
    single = [m for m in means.index if not registry.spec(m).multimodal]
    best = means.loc[multimodal, "macro_f1"].idxmax()
    best_single = means.loc[single, "macro_f1"].idxmax()
    per_model = head.groupby("model")
    print(f"\n## {registry.model_label(best)}, {headline} split: per class (mean over seeds)\n")
    print("| class | F1 | recall | predicted (items, mean) | true items |\n|---|---|---|---|---|")
    first_seed = head[(head["model"] == best)].iloc[0]
    true_counts = json.loads(
        (
            args.workdir
            / "results"
            / "eval"
            / headline
            / best
            / f"seed{int(first_seed['seed'])}"
            / "metrics.json"
        ).read_text()
    )["per_class"]
    for emotion in EMOTIONS:
        runs_of_best = per_model.get_group(best)
        print(
            f"| {emotion} | {runs_of_best[f'f1 {emotion}'].mean():.3f} | {runs_of_best[f'recall {emotion}'].mean():.3f}"
            f" | {runs_of_best[f'predicted {emotion}'].mean():.1f} | {true_counts[emotion]['support']} |"
        )

    print(f"\n## How often each model predicts each class ({headline} split, items, mean over seeds)\n")
    print("| model | " + " | ".join(EMOTIONS) + " |\n|---|" + "---|" * len(EMOTIONS))
    for model in models:
        group = per_model.get_group(model)
        print(
            f"| {registry.model_label(model)} | "
            + " | ".join(f"{group[f'predicted {e}'].mean():.1f}" for e in EMOTIONS)
            + " |"
        )

    print("\n## Checks (issue 10, done-when)\n")
    checks = []
    bootstrap_path = args.workdir / "results" / "table" / headline / "bootstrap.csv"
    best_row = None
    if bootstrap_path.exists():
        table = pd.read_csv(bootstrap_path)
        rows = table[table.get("comparison", pd.Series(dtype=str)) == BEST_MULTIMODAL]
        best_row = rows.iloc[0] if len(rows) else None
    f1_best = means.loc[best, "macro_f1"]
    checks.append((f"best multimodal ({best}) >= 0.55 macro-F1", f"{f1_best:.3f}", f1_best >= 0.55))
    if best_row is not None:
        checks.append(
            (
                f"{best_row['model']} minus best single-modality ({best_row['reference']}), "
                f"{float(best_row['ci_level']):.0%} scene-bootstrap CI above 0",
                f"{best_row['difference']:+.3f} [{best_row['ci_low']:+.3f}, {best_row['ci_high']:+.3f}]",
                best_row["ci_low"] > 0,
            )
        )
    else:
        checks.append(("best multimodal minus best single-modality CI", "no bootstrap row", False))
    branch = config["train"]["joint"]["image_branch"]
    image_model = next(m for m in registry.IMAGE_ONLY_MODELS if registry.spec(m).image_branch == branch)
    for joint in (m for m in ("glove", "minilm") if m in means.index):
        text_model = next(
            m for m in registry.TEXT_ONLY_MODELS if registry.spec(m).text == registry.spec(joint).text
        )
        others = [m for m in (image_model, text_model) if m in means.index]
        ok = all(means.loc[joint, "macro_f1"] > means.loc[m, "macro_f1"] for m in others)
        checks.append(
            (
                f"{joint} above its image branch ({image_model}) and text model ({text_model})",
                ", ".join(f"{means.loc[m, 'macro_f1']:.3f}" for m in [joint, *others]),
                ok,
            )
        )
    if registry.FER in means.index:
        fer = means.loc[registry.FER, "macro_f1"]
        for model in (m for m in registry.IMAGE_ONLY_MODELS if m in means.index):
            checks.append(
                (
                    f"{model} at or above FER2013 zero-shot",
                    f"{means.loc[model, 'macro_f1']:.3f} vs {fer:.3f}",
                    means.loc[model, "macro_f1"] >= fer,
                )
            )
    image_models = [m for m in means.index if m in registry.IMAGE_ONLY_MODELS or m == registry.FER]
    best_image = means.loc[image_models, "unseen"].idxmax()
    checks.append(
        (
            f"unseen descriptions: {best} at or above the best image model ({best_image})",
            f"{means.loc[best, 'unseen']:.3f} vs {means.loc[best_image, 'unseen']:.3f}",
            means.loc[best, "unseen"] >= means.loc[best_image, "unseen"],
        )
    )
    f1_per_class = per_model.get_group(best)[[f"f1 {e}" for e in EMOTIONS]].mean()
    zero = [e for e in EMOTIONS if not f1_per_class[f"f1 {e}"] > 0]
    checks.append(
        (f"every class F1 > 0 for {best}", "all > 0" if not zero else f"F1 0: {', '.join(zero)}", not zero)
    )
    ablation_csv = args.workdir / "results" / "table" / "ablation" / "ablation.csv"
    checks.append(
        (
            "ablation table (3 seeds, one ingredient removed at a time)",
            str(ablation_csv.relative_to(args.workdir)) if ablation_csv.exists() else "missing",
            ablation_csv.exists(),
        )
    )
    print("| check | figures | met |\n|---|---|---|")
    for name, figures, ok in checks:
        print(f"| {name} | {figures} | {'yes' if ok else 'no'} |")
    print(
        f"\nBest single-modality model on {headline}: {best_single} ({means.loc[best_single, 'macro_f1']:.3f})."
    )

    if ablation_csv.exists():
        ablation = pd.read_csv(ablation_csv)
        print("\n## Ablation\n")
        print(
            "| variant | change | macro-F1 | Δ vs chosen [CI] | unseen | accuracy |\n|---|---|---|---|---|---|"
        )
        for _, row in ablation.iterrows():
            interval = (
                f" [{row[CI_LOW]:+.3f}, {row[CI_HIGH]:+.3f}]"
                if CI_LOW in row and not pd.isna(row[CI_LOW])
                else ""
            )
            print(
                f"| {row['variant']} | {row['change']} | {row['Macro-F1 mean']:.3f} ± {row['Macro-F1 std']:.3f} | "
                f"{row['Δ Macro-F1']:+.3f}{interval} | {row['Macro-F1 (unseen descriptions) mean']:.3f} | "
                f"{row['Accuracy mean']:.3f} |"
            )

    print("\n## Training time per run (Snakemake benchmark files, s)\n")
    print("| rule / model | runs | mean s | total s |\n|---|---|---|---|")
    total = 0.0
    for rule in ("train_model", "train_ablation"):
        seconds = {}
        for path in (args.workdir / "benchmarks" / rule).rglob("seed*.tsv"):
            # train_model/{split}/{model}/, train_ablation/{split}/{variant}/{model}/
            key = (
                f"{path.parents[1].name} {path.parent.name}"
                if rule == "train_model"
                else path.parents[1].name
            )
            seconds.setdefault(key, []).append(float(pd.read_csv(path, sep="\t")["s"].iloc[-1]))
        for key, values in sorted(seconds.items()):
            total += sum(values)
            print(f"| {rule} {key} | {len(values)} | {sum(values) / len(values):.0f} | {sum(values):.0f} |")
    print(
        f"\nAll training jobs: {total:.0f} s of job time ({total / 60:.0f} min); with 2 jobs at a time on 2 cores "
        f"about {total / 120:.0f} min of wall time."
    )
    if RANDOM_SPLIT in strategies:
        print(
            f"\nThe {RANDOM_SPLIT} split leaks (seconds of one scene on both sides): beside the headline, never it."
        )


if __name__ == "__main__":
    main()

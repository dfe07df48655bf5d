"""The ablation of the training defaults (config ablation, dramaemo.evaluation.ablation): variant
settings, the config check, and a real Snakemake run that trains the variants, reuses a
main-table run where a variant equals it, and writes the table and its plot."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, planned_jobs, run_snakemake

from dramaemo.core import ablation as ablation_config
from dramaemo.core import registry, runs
from dramaemo.core.config import check, schema_defaults
from dramaemo.evaluation import ablation


def default_config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_a_variant_gets_what_it_names_over_per_model_overrides():
    config = default_config()
    train = {**config["train"], "per_model": {"minilm": {"augment": True, "epochs": 7}}}
    settings = ablation_config.variant_settings(config["ablation"], "no_augment", train)
    assert settings["augment"] is False  # the variant's override beats per_model
    assert settings["epochs"] == 7  # per_model still applies to what the variant leaves
    nested = ablation_config.variant_settings(config["ablation"], "scratch_image_branch", train)
    assert nested["joint"] == {**config["train"]["joint"], "image_branch": "scratch"}
    assert nested["image_branch"] == "scratch" and "image" in nested  # the scratch CNN's section
    assert ablation_config.variant_model(config["ablation"], "glove_not_minilm") == "glove"


def test_a_variant_equal_to_a_main_table_run_reuses_it():
    config = default_config()
    assert "glove" in config["models"]
    assert ablation_config.reused_model(config["ablation"], "glove_not_minilm", config) == "glove"
    assert ablation_config.reused_model(config["ablation"], "no_augment", config) is None
    # once glove's settings differ from the variant's, the variant trains its own runs
    config["train"]["per_model"] = {"glove": {"epochs": 9}}
    config["ablation"]["variants"]["glove_not_minilm"] = {"model": "glove", "train": {"epochs": 5}}
    assert ablation_config.reused_model(config["ablation"], "glove_not_minilm", config) is None


def test_describe_names_each_change():
    assert ablation_config.describe({"model": "glove"}) == "model glove"
    assert (
        ablation_config.describe({"train": {"joint": {"auxiliary_weight": 0.0}, "augment": False}})
        == "joint.auxiliary_weight 0.0; augment false"
    )


def test_the_config_check_names_the_variant_and_the_key():
    config = default_config()
    config["ablation"] = {
        **config["ablation"],
        "activate": True,
        "variants": {
            "typo": {"train": {"augment": "yes"}},
            "bad_branch": {"train": {"joint": {"image_branch": "imagenet"}}},
        },
    }
    problems = check(config)
    assert any(
        p.startswith("ablation.variants.typo.train: augment: 'yes' is not of type 'boolean'")
        for p in problems
    ), problems
    assert any(p.startswith("ablation.variants.bad_branch.train: joint.image_branch:") for p in problems), (
        problems
    )
    config["ablation"]["variants"] = {"other": {"model": "resnet"}}
    assert check(config) == [
        "ablation.variants.other.model: unknown model 'resnet'; use one of "
        + ", ".join(registry.TRAINED_MODELS)
    ]
    config["ablation"] = {**schema_defaults("ablation"), "activate": True, "split": "episode"}
    assert check(config) == ["ablation.split: 'episode' is not in split.strategies"]


def test_the_table_needs_the_chosen_runs(tmp_path):
    with pytest.raises(Exception, match="no 'chosen' runs"):
        ablation.ablation_table({"no_augment": {"change": "augment false", "metrics": []}})


def _write_run(folder, truth, pred):
    """metrics.json (macro-F1 only, what the table reads) and predictions.csv of one run."""
    from dramaemo.evaluation.evaluate import compute_metrics

    folder.mkdir(parents=True)
    pd.DataFrame({"item_id": [f"i{n}" for n in range(len(truth))], "true": truth, "pred": pred}).to_csv(
        folder / "predictions.csv", index=False
    )
    identity = runs.write_run(
        folder / "run.json", split="scene", split_draw=0, model="minilm", seed=int(folder.name[-1])
    )
    metrics = {**identity, **compute_metrics(truth, pred), "unseen_description": {"macro_f1": None}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return {"metrics": str(folder / "metrics.json"), "predictions": str(folder / "predictions.csv")}


def test_each_change_gets_its_paired_scene_bootstrap_interval(tmp_path):
    """A variant equal to the chosen runs changes nothing, CI [0, 0]; one that is wrong on
    every scene's Happy items is below 0 with its CI; rows must give a predictions file per run."""
    from dramaemo import EMOTIONS

    rng = np.random.default_rng(0)
    truth = list(rng.choice(EMOTIONS, 120))
    scenes = [f"s{n // 3}" for n in range(120)]  # 40 test scenes of 3 items
    pd.DataFrame(
        {"item_id": [f"i{n}" for n in range(120)], "scene_id": scenes, "part": "test", "draw": 0}
    ).to_csv(tmp_path / "split.csv", index=False)
    worse = ["Neutral" if t == "Happy" else t for t in truth]
    runs = {}
    for name, pred in (("chosen", truth), ("same", truth), ("worse", worse)):
        files = [_write_run(tmp_path / name / f"seed{seed}", truth, pred) for seed in (0, 1)]
        runs[name] = {
            "change": name,
            **{kind: [f[kind] for f in files] for kind in ("metrics", "predictions")},
        }
    bootstrap = {**schema_defaults("evaluation", "bootstrap"), "resamples": 300}
    display, numeric, notes = ablation.ablation_table(
        runs, split_paths=[tmp_path / "split.csv"], bootstrap=bootstrap
    )
    assert (numeric.loc["same", [ablation.CI_LOW, ablation.CI_HIGH]] == 0).all()
    low, high = numeric.loc["worse", [ablation.CI_LOW, ablation.CI_HIGH]]
    assert low <= numeric.loc["worse", "Δ Macro-F1"] <= high < 0
    assert display.loc["worse", "Δ Macro-F1 CI"] == f"[{low:+.3f}, {high:+.3f}]"
    assert "paired bootstrap over the 40 test scenes of 1 split draw(s) (300 resamples" in notes[-1]
    runs["worse"]["predictions"] = runs["worse"]["predictions"][:1]
    with pytest.raises(Exception, match="row 'worse' has 1 predictions files for 2 metrics files"):
        ablation.ablation_table(runs, split_paths=[tmp_path / "split.csv"], bootstrap=bootstrap)


@pytest.mark.slow
def test_ablation_trains_each_variant_and_reuses_equal_runs(tiny_front_copy):
    workdir = tiny_front_copy
    tiny = workdir / "config" / "tiny.yaml"
    tiny.write_text(
        tiny.read_text()
        + (
            "\nmodels: [baseline, glove, text]\n"
            "late_fusion: {activate: false}\nfer: {activate: false}\n"
            "ablation:\n  activate: true\n  model: glove\n  split: scene\n  variants:\n"
            "    no_augment: {train: {augment: false}}\n"
            "    image_only: {model: baseline}\n"  # the main table's baseline run, reused
            # config files merge key by key: null drops config.yaml's variants
            + "".join(
                f"    {name}: null\n"
                for name in default_config()["ablation"]["variants"]
                if name != "no_augment"
            )
        )
    )
    table = "results/table/ablation/ablation.md"
    jobs = planned_jobs(workdir, table)
    assert sorted(model for rule, model in jobs if rule == "train_ablation") == ["glove"]
    assert sorted(model for rule, model in jobs if rule == "train_model") == ["baseline", "glove"]
    run_snakemake(workdir, table, "results/table/ablation/ablation.png")

    assert not (workdir / "results/ablation/scene/image_only").exists()
    variant_run = workdir / "results/ablation/scene/no_augment/glove/seed0"
    chosen_run = workdir / "results/models/scene/glove/seed0"
    assert (
        json.loads((variant_run / "run.json").read_text())["config_digest"]
        != json.loads((chosen_run / "run.json").read_text())["config_digest"]
    )
    numeric = pd.read_csv(workdir / "results/table/ablation/ablation.csv", index_col="variant")
    assert list(numeric.index) == ["chosen", "no_augment", "image_only"]
    assert numeric.loc["no_augment", "change"] == "augment false"
    assert numeric.loc["image_only", "model"] == "baseline"
    metrics = json.loads((workdir / "results/eval/scene/glove/seed0/metrics.json").read_text())
    assert numeric.loc["chosen", "Macro-F1 mean"] == pytest.approx(metrics["macro_f1"])
    assert numeric.loc["chosen", "Δ Macro-F1"] == 0
    # each change with its paired scene-bootstrap CI, read from the runs' predictions
    low, high = numeric.loc["image_only", [ablation.CI_LOW, ablation.CI_HIGH]]
    assert low <= numeric.loc["image_only", "Δ Macro-F1"] <= high
    markdown = (workdir / table).read_text()
    assert "| no_augment | augment false | Multimodal GloVe |" in markdown
    assert (workdir / "results/table/ablation/ablation.png").stat().st_size > 0

    # editing one variant reruns only that variant's runs and the table
    tiny.write_text(
        tiny.read_text().replace(
            "no_augment: {train: {augment: false}}",
            "no_augment: {train: {augment: false, learning_rate: 0.01}}",
        )
    )
    assert sorted(rule for rule, _ in planned_jobs(workdir, table)) == [
        "ablation_table",
        "evaluate_ablation",
        "train_ablation",
    ]

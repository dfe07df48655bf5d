"""The F1 table's layout and cells, the cross-split summary, and the report's plots, from
small generated runs evaluated by the real evaluation code; and the tiny workflow run to
the table and the Snakemake report (slow)."""

import json

import numpy as np
import pandas as pd
import pytest

from dramaemo import EMOTIONS
from dramaemo.core import runs
from dramaemo.core.errors import UserError
from dramaemo.evaluation.evaluate import compare_models, evaluate_run
from dramaemo.evaluation.f1tables import (
    TABLE_ROWS,
    f1_table,
    headline_split,
    summary_table,
    to_latex,
    to_markdown,
)
from dramaemo.evaluation.plots import (
    contact_sheet,
    plot_confusion,
    plot_differences,
    plot_f1_bars,
    plot_training_curves,
)

EXPECTED_COLUMNS = [
    "Baseline CNN (image)",
    "Multimodal GloVe",
    "Multimodal ELMo (stand-in weights)",
    "Text only (GloVe)",
    "FER2013 zero-shot",
]
EXPECTED_ROWS = [
    "Angry",
    "Disgust",
    "Fear",
    "Happy",
    "Neutral",
    "Sad",
    "Surprise",
    "Macro-F1",
    "Accuracy",
    "Macro-F1 (unseen descriptions)",
]
TEST_CLASSES = ["Angry", "Happy", "Neutral", "Sad"]  # Disgust, Fear, Surprise absent


def make_runs(
    root,
    split="scene",
    n_scenes=6,
    per_scene=4,
    seed=0,
    models=("baseline", "glove", "elmo", "text"),
    seeds=(0, 1, 2),
):
    """Split, dataset and predictions of 4 trained models x 3 seeds + FER, evaluated.

    The baseline is perfect on seeds 0 and 1 and always wrong on seed 2, so its macro-F1
    cells are hand-checkable: mean 2/3, std sqrt(1/3).
    """
    rng = np.random.default_rng(seed)
    n_test = n_scenes * per_scene
    test_ids = [f"{split}_t{i:03d}" for i in range(n_test)]
    train_ids = [f"{split}_r{i:03d}" for i in range(8)]
    true = np.array([TEST_CLASSES[i % 4] for i in range(n_test)])
    descriptions = [f"sentence {i % 12}" for i in range(n_test)]  # 0..7 also in train
    dataset = pd.DataFrame(
        {
            "item_id": train_ids + test_ids,
            "emotion": [TEST_CLASSES[i % 4] for i in range(8)] + list(true),
            "description": [f"sentence {i}" for i in range(8)] + descriptions,
            "scene_id": [f"r{i // 4}" for i in range(8)] + [f"s{i // per_scene}" for i in range(n_test)],
        }
    )
    dataset["part"] = ["train"] * 8 + ["test"] * n_test
    (root / "split").mkdir(parents=True, exist_ok=True)
    split_path = root / "split" / f"{split}.csv"
    dataset[["item_id", "scene_id", "part"]].assign(draw=0).to_csv(split_path, index=False)
    dataset_path = root / "dataset" / "dataset.csv"
    dataset_path.parent.mkdir(exist_ok=True)
    dataset.to_csv(dataset_path, index=False)
    wrong = {"Angry": "Happy", "Happy": "Neutral", "Neutral": "Sad", "Sad": "Angry"}
    all_runs = [(m, s) for m in [*models, "fer"] for s in seeds]
    metrics, predictions, histories = [], [], []
    for model, run_seed in all_runs:
        if model == "baseline":
            right = np.full(n_test, run_seed != 2)
        elif model == "fer":  # deterministic: the same predictions on the one draw
            right = np.random.default_rng(seed).random(n_test) < 0.6
        else:
            right = rng.random(n_test) < 0.6
        pred = np.where(right, true, [wrong[t] for t in true])
        folder = root / "eval" / split / model / f"seed{run_seed}"
        folder.mkdir(parents=True)
        table = pd.DataFrame({"item_id": test_ids, "true": true, "pred": pred})
        for emotion in EMOTIONS:
            table[f"prob_{emotion}"] = (pred == emotion).astype(float)
        table.to_csv(folder / "predictions.csv", index=False)
        runs.write_run(folder / "run.json", split=split, split_draw=0, model=model, seed=run_seed)
        predictions.append(folder / "predictions.csv")
        (folder / "metrics.json").write_text(
            json.dumps(evaluate_run(folder / "predictions.csv", split_path, dataset_path))
        )
        metrics.append(folder / "metrics.json")
        if model != "fer":
            history = root / "models" / split / model / f"seed{run_seed}" / "history.csv"
            history.parent.mkdir(parents=True)
            runs.write_run(
                history.with_name("run.json"), split=split, split_draw=0, model=model, seed=run_seed
            )
            epochs = np.arange(5)
            pd.DataFrame(
                {
                    "epoch": epochs,
                    "loss": 2 / (epochs + 1),
                    "accuracy": epochs / 5,
                    "val_loss": 2.5 / (epochs + 1),
                    "val_accuracy": epochs / 6,
                }
            ).to_csv(history, index=False)
            histories.append(history)
    return metrics, predictions, histories, split_path


def test_f1_table_layout_and_cells(tmp_path):
    metrics, *_ = make_runs(tmp_path)
    display, numeric, notes = f1_table(metrics, elmo_standin=True, decimals=3)
    assert list(display.index) == EXPECTED_ROWS == list(TABLE_ROWS)
    assert list(display.columns) == EXPECTED_COLUMNS
    baseline = display["Baseline CNN (image)"]
    # seeds: 1, 1, 0 -> mean 0.667, sample std 0.577
    assert baseline["Macro-F1"] == "0.667 ± 0.577"
    assert baseline["Accuracy"] == "0.667 ± 0.577"
    assert baseline["Angry"] == "0.667 ± 0.577"
    # classes absent from the test part have no F1
    for emotion in ("Disgust", "Fear", "Surprise"):
        assert set(display.loc[emotion]) == {"–"}
    # FER: deterministic, one run per seed's draw; here every seed is on one draw
    assert display.loc["Macro-F1", "FER2013 zero-shot"].endswith(" ± 0.000")
    assert numeric.loc["Macro-F1", "Baseline CNN (image) mean"] == pytest.approx(2 / 3)
    assert numeric.loc["Macro-F1", "Baseline CNN (image) std"] == pytest.approx(np.sqrt(1 / 3))
    assert numeric.loc["Macro-F1", "FER2013 zero-shot runs"] == 3
    assert any("stand-in" in note for note in notes)
    # without the stand-in flag the ELMo column has its plain name
    plain, _, _ = f1_table(metrics, elmo_standin=False)
    assert list(plain.columns)[2] == "Multimodal ELMo"


def test_f1_table_formats(tmp_path):
    metrics, *_ = make_runs(tmp_path)
    display, _, notes = f1_table(metrics, elmo_standin=True)
    markdown = to_markdown(display, notes).splitlines()
    assert markdown[0] == "| F1 | " + " | ".join(EXPECTED_COLUMNS) + " |"
    assert [line.split(" | ")[0][2:] for line in markdown[2:12]] == EXPECTED_ROWS
    latex = to_latex(display, caption="F1", label="tab:f1")
    assert r"0.667 $\pm$ 0.577" in latex and r"\label{tab:f1}" in latex
    assert "\nF1 &" not in latex  # no separate row for the index name
    assert "Macro-F1 (unseen descriptions)" in latex


def test_one_table_is_one_split(tmp_path):
    scene, *_ = make_runs(tmp_path / "a", split="scene")
    episode, *_ = make_runs(tmp_path / "b", split="episode")
    with pytest.raises(UserError, match="several splits"):
        f1_table(scene + episode)


def test_headline_is_never_random():
    assert headline_split(["scene", "random"]) == "scene"
    assert headline_split(["random", "episode", "scene"]) == "episode"
    assert headline_split(["random"]) == "random"


def test_summary_table_and_difference_plot(tmp_path):
    metrics, bootstraps = [], []
    for split in ("random", "scene"):
        split_metrics, predictions, _, split_path = make_runs(tmp_path, split=split)
        metrics += split_metrics
        table = compare_models(predictions, [split_path], resamples=200, seed=0, ci_level=0.95)
        path = tmp_path / "table" / split / "bootstrap.csv"
        path.parent.mkdir(parents=True)
        table.to_csv(path, index=False)
        bootstraps.append(path)
    display, numeric, notes = summary_table(metrics, bootstraps, ["random", "scene"], elmo_standin=True)
    assert list(display.index) == EXPECTED_COLUMNS
    assert list(display.columns) == [
        "scene (headline): Macro-F1",
        "scene (headline): Δ Macro-F1 vs baseline [95% CI]",
        "scene (headline): Macro-F1 (unseen descriptions)",
        "random: Macro-F1",
        "random: Δ Macro-F1 vs baseline [95% CI]",
        "random: Macro-F1 (unseen descriptions)",
    ]
    assert display.iloc[0, 1] == "(reference)"
    assert display.iloc[1, 1].count("[") == 1  # "+0.123 [-0.2, +0.4]"
    assert "random split is never the headline" in notes[0]
    # a random split alone is shown, with a warning instead of a headline claim
    random_only = [path for path in metrics if "/eval/random/" in str(path)]
    shown, _, random_notes = summary_table(random_only, bootstraps[:1], ["random"])
    assert list(shown.columns)[0] == "random: Macro-F1"
    assert random_notes[0].startswith("Only the random split was evaluated")
    assert "6 test scenes" in " ".join(notes)
    latex = to_latex(display, caption="50% of `fer`; " + notes[0], label="tab:s")
    assert r"$\Delta$ Macro-F1 vs baseline [95\% CI]" in latex and "Δ" not in latex
    assert r"\caption{50\% of fer; " in latex and "\nModel &" not in latex
    glove = numeric.loc["glove"]
    assert glove["scene ci_low"] <= glove["scene difference"] <= glove["scene ci_high"]
    output = tmp_path / "differences.png"
    plot_differences(bootstraps, ["random", "scene"], output, elmo_standin=True)
    assert output.read_bytes()[:4] == b"\x89PNG"


def test_plots_are_written(tmp_path):
    metrics, _, histories, _ = make_runs(tmp_path)
    for function, inputs, name in (
        (plot_confusion, metrics, "confusion.png"),
        (plot_f1_bars, metrics, "f1.png"),
        (plot_training_curves, histories, "training.png"),
    ):
        function(inputs, tmp_path / name, elmo_standin=True)
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
        assert (tmp_path / name).stat().st_size > 10_000


def test_contact_sheet(tmp_path):
    import cv2

    rows = []
    for index, emotion in enumerate(["Happy", "Happy", "Sad", "Angry"] * 3):
        crop = tmp_path / "crops" / f"{index}.jpg"
        crop.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(crop), np.full((32, 32), 20 * index, np.uint8))
        rows.append({"item_id": f"i{index}", "crop_path": str(crop), "emotion": emotion})
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame(rows).to_csv(dataset, index=False)
    contact_sheet(dataset, tmp_path / "sheet.png", per_class=4)
    assert (tmp_path / "sheet.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "crops" / "5.jpg").unlink()
    with pytest.raises(UserError, match=r"dataset.csv: row 7: crop_path .*5.jpg is missing"):
        contact_sheet(dataset, tmp_path / "sheet.png", per_class=4)


def jobs_to_run(workdir):
    """(rule, model wildcard or None) of every job a dry run of rule all would run."""
    from conftest import planned_jobs

    return set(planned_jobs(workdir))


@pytest.mark.slow
def test_tiny_workflow_table_and_what_a_glove_setting_reruns(tiny_front_copy):
    """The whole tiny DAG ends with the table (FER on, a tiny .hdf5 model, late fusion of
    the baseline and the text model); editing a GloVe-model setting then reruns that
    model, its evaluation and the tables/plots only (not the late fusion)."""
    from conftest import planned_job_wildcards, run_snakemake
    from test_fer import brightness_model

    workdir = tiny_front_copy
    brightness_model(workdir / "fer_model.hdf5")
    tiny = workdir / "config" / "tiny.yaml"
    tiny.write_text(
        tiny.read_text()
        + (
            "\nmodels: [baseline, glove, text]\n"
            f"fer: {{activate: true, weights: {workdir / 'fer_model.hdf5'}}}\n"
            "evaluation: {bootstrap: {resamples: 200}}\n"
        )
    )
    run_snakemake(workdir)
    table = (workdir / "results/table/scene/f1_table.md").read_text().splitlines()
    assert table[2] == (
        "| F1 | Baseline CNN (image) | Multimodal GloVe | Text only (GloVe) "
        "| Late fusion (image x text) | FER2013 zero-shot |"
    )
    assert [line.split(" | ")[0][2:] for line in table[4:14]] == EXPECTED_ROWS
    assert (
        "scene (headline): Δ Macro-F1 vs baseline [95% CI]"
        in (workdir / "results/table/summary.md").read_text()
    )
    bootstrap = pd.read_csv(workdir / "results/table/scene/bootstrap.csv")
    versus_baseline = bootstrap[bootstrap["comparison"] == "vs_baseline"]
    assert sorted(versus_baseline["model"]) == ["fer", "glove", "late", "text"]
    # one more row: the best multimodal model minus the best single-modality model
    best = bootstrap[bootstrap["comparison"] == "best_multimodal_vs_best_single"]
    assert len(best) == 1 and best["model"].iloc[0] in {"glove", "late"}
    assert best["reference"].iloc[0] in {"baseline", "text", "fer"}
    assert "the best multimodal model (" in (workdir / "results/table/summary.md").read_text()
    assert set(bootstrap["resamples"]) == {200}
    late = pd.read_csv(workdir / "results/late/scene/seed0/predictions.csv")
    image = pd.read_csv(workdir / "results/models/scene/baseline/seed0/predictions.csv")
    assert sorted(late["item_id"]) == sorted(image["item_id"])
    fer = pd.read_csv(workdir / "results/fer/scene/seed0/predictions.csv")
    split = pd.read_csv(workdir / "results/split/scene/draw0.csv")
    assert sorted(fer["item_id"]) == sorted(split.loc[split["part"] == "test", "item_id"])
    run_snakemake(workdir, "--report", "report.html")
    assert (workdir / "report.html").stat().st_size > 100_000
    assert jobs_to_run(workdir) == set()

    settings = tiny.read_text()
    tiny.write_text(settings.replace("train:\n", "train:\n  per_model: {glove: {learning_rate: 0.01}}\n", 1))
    assert jobs_to_run(workdir) == {
        ("train_model", "glove"),
        ("evaluate", "glove"),
        ("compare_models", None),
        ("f1_table", None),
        ("summary_table", None),
        ("plot_differences", None),
        ("plot_confusion", None),
        ("plot_f1", None),
        ("plot_training", None),
        ("all", None),
    }

    # A second seed trains and tests on its own split draw: only its runs are new, and
    # every model (FER too) is scored on both draws.
    tiny.write_text(settings.replace("seeds: [0]", "seeds: [0, 1]", 1))
    planned = planned_job_wildcards(workdir)
    per_run = {rule for rule, _ in planned} & {"train_model", "predict_fer", "late_fusion", "evaluate"}
    assert per_run == {"train_model", "predict_fer", "late_fusion", "evaluate"}
    assert {wildcards.get("seed") for rule, wildcards in planned if rule in per_run} == {"1"}
    assert [wildcards for rule, wildcards in planned if rule == "split"] == [{"split": "scene", "draw": "1"}]
    run_snakemake(workdir)
    draws = {draw: pd.read_csv(workdir / f"results/split/scene/draw{draw}.csv") for draw in (0, 1)}
    for seed, split in draws.items():
        test_items = sorted(split.loc[split["part"] == "test", "item_id"])
        for folder in (f"fer/scene/seed{seed}", f"models/scene/glove/seed{seed}"):
            assert (
                sorted(pd.read_csv(workdir / "results" / folder / "predictions.csv")["item_id"]) == test_items
            )
        assert (
            json.loads((workdir / f"results/models/scene/glove/seed{seed}/run.json").read_text())[
                "split_draw"
            ]
            == seed
        )
    assert sorted(draws[0].loc[draws[0]["part"] == "test", "item_id"]) != sorted(
        draws[1].loc[draws[1]["part"] == "test", "item_id"]
    )
    bootstrap = pd.read_csv(workdir / "results/table/scene/bootstrap.csv")
    assert set(bootstrap["n_draws"]) == {2} and set(bootstrap["n_seeds"]) == {2}
    assert "own split draw (2 draws: 0, 1)" in (workdir / "results/table/scene/f1_table.md").read_text()

"""The F1 table's layout and cells, the cross-split summary, and the report's plots, from
small generated runs evaluated by the real evaluation code."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dramaemo import EMOTIONS
from dramaemo.errors import UserError
from dramaemo.evaluate import compare_models, evaluate_run
from dramaemo.report import (
    TABLE_ROWS,
    contact_sheet,
    f1_table,
    headline_split,
    plot_confusion,
    plot_differences,
    plot_f1_bars,
    plot_training_curves,
    summary_table,
    to_latex,
    to_markdown,
)

pytest.importorskip("keras")  # model labels come from dramaemo.models

EXPECTED_COLUMNS = [
    "Baseline CNN (image)",
    "Multimodal GloVe",
    "Multimodal ELMo (stand-in weights)",
    "Text only (GloVe)",
    "FER2013 zero-shot",
]
EXPECTED_ROWS = [
    "Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise",
    "Macro-F1", "Accuracy", "Macro-F1 (unseen descriptions)",
]
TEST_CLASSES = ["Angry", "Happy", "Neutral", "Sad"]  # Disgust, Fear, Surprise absent


def make_runs(root, split="scene", n_scenes=6, per_scene=4, seed=0,
              models=("baseline", "glove", "elmo", "text"), seeds=(0, 1, 2)):
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
    dataset = pd.DataFrame({
        "item_id": train_ids + test_ids,
        "emotion": [TEST_CLASSES[i % 4] for i in range(8)] + list(true),
        "description": [f"sentence {i}" for i in range(8)] + descriptions,
        "scene_id": [f"r{i // 4}" for i in range(8)] + [f"s{i // per_scene}" for i in range(n_test)],
    })
    dataset["part"] = ["train"] * 8 + ["test"] * n_test
    (root / "split").mkdir(parents=True, exist_ok=True)
    split_path = root / "split" / f"{split}.csv"
    dataset[["item_id", "scene_id", "part"]].to_csv(split_path, index=False)
    dataset_path = root / "dataset" / "dataset.csv"
    dataset_path.parent.mkdir(exist_ok=True)
    dataset.to_csv(dataset_path, index=False)
    wrong = {"Angry": "Happy", "Happy": "Neutral", "Neutral": "Sad", "Sad": "Angry"}
    runs = [(m, s) for m in models for s in seeds] + [("fer", 0)]
    metrics, predictions, histories = [], [], []
    for model, run_seed in runs:
        if model == "baseline":
            right = np.full(n_test, run_seed != 2)
        else:
            right = rng.random(n_test) < 0.6
        pred = np.where(right, true, [wrong[t] for t in true])
        folder = root / "eval" / split / model / f"seed{run_seed}"
        folder.mkdir(parents=True)
        table = pd.DataFrame({"item_id": test_ids, "true": true, "pred": pred})
        for emotion in EMOTIONS:
            table[f"prob_{emotion}"] = (pred == emotion).astype(float)
        table.to_csv(folder / "predictions.csv", index=False)
        predictions.append(folder / "predictions.csv")
        (folder / "metrics.json").write_text(
            json.dumps(evaluate_run(folder / "predictions.csv", split_path, dataset_path))
        )
        metrics.append(folder / "metrics.json")
        if model != "fer":
            history = root / "models" / split / model / f"seed{run_seed}" / "history.csv"
            history.parent.mkdir(parents=True)
            epochs = np.arange(5)
            pd.DataFrame({"epoch": epochs, "loss": 2 / (epochs + 1), "accuracy": epochs / 5,
                          "val_loss": 2.5 / (epochs + 1), "val_accuracy": epochs / 6}).to_csv(
                history, index=False)
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
    # FER: a single run, no std
    assert "±" not in display.loc["Macro-F1", "FER2013 zero-shot"]
    assert numeric.loc["Macro-F1", "Baseline CNN (image) mean"] == pytest.approx(2 / 3)
    assert numeric.loc["Macro-F1", "Baseline CNN (image) std"] == pytest.approx(np.sqrt(1 / 3))
    assert numeric.loc["Macro-F1", "FER2013 zero-shot runs"] == 1
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
        table = compare_models(predictions, split_path, resamples=200, seed=0, ci_level=0.95)
        path = tmp_path / "table" / split / "bootstrap.csv"
        path.parent.mkdir(parents=True)
        table.to_csv(path, index=False)
        bootstraps.append(path)
    display, numeric, notes = summary_table(
        metrics, bootstraps, ["random", "scene"], elmo_standin=True
    )
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


REPO = Path(__file__).resolve().parents[1]
REPORT_RULES = [
    "predict_fer", "evaluate", "compare_models", "f1_table", "summary_table",
    "plot_differences", "plot_confusion", "plot_f1", "plot_training", "contact_sheet",
]


def add_crops_and_images(results, size=48):
    """Crop files (named in dataset.csv) and images.npz for the contact sheet and FER."""
    import cv2

    dataset_path = results / "dataset" / "dataset.csv"
    dataset = pd.read_csv(dataset_path)
    images = np.stack([np.full((size, size), (37 * i) % 256, np.uint8) for i in range(len(dataset))])
    crop_paths = []
    for item_id, image in zip(dataset["item_id"], images):
        path = results / "crops" / "ep01" / f"{item_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), image)
        crop_paths.append(f"results/crops/ep01/{item_id}.png")
    dataset["crop_path"] = crop_paths
    dataset.to_csv(dataset_path, index=False)
    np.savez(results / "dataset" / "images.npz", images=images, item_id=dataset["item_id"].to_numpy(str))


def snakemake(workdir, *arguments):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--cores", "2", *arguments]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.slow
def test_report_rules_on_tiny_inputs(tmp_path):
    """evaluate -> bootstrap -> tables and plots -> snakemake --report, on generated runs
    of 2 models x 2 seeds plus the FER rule with a tiny .hdf5 model."""
    from test_fer import brightness_model

    results = tmp_path / "results"
    metrics, _, _, _ = make_runs(results, models=("baseline", "glove"), seeds=(0, 1))
    for path in metrics:  # made by the evaluate rule instead
        path.unlink()
    (results / "eval" / "scene" / "fer" / "seed0" / "predictions.csv").unlink()
    add_crops_and_images(results)
    brightness_model(tmp_path / "fer_model.hdf5")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["models"] = ["baseline", "glove"]
    config["train"]["seeds"] = [0, 1]
    config["split"]["strategies"] = ["scene"]
    config["fer"].update(activate=True, weights=str(tmp_path / "fer_model.hdf5"))
    config["evaluation"]["bootstrap"]["resamples"] = 200
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))

    run = snakemake(tmp_path, "--allowed-rules", *REPORT_RULES, "--", *[
        f"results/table/{name}" for name in (
            "scene/f1_table.md", "scene/f1_table.tex", "scene/confusion_matrices.png",
            "scene/f1_per_class.png", "scene/training_curves.png", "summary.md",
            "differences.png", "contact_sheet.png")])
    assert run.returncode == 0, run.stderr[-3000:]
    table = (results / "table" / "scene" / "f1_table.md").read_text().splitlines()
    assert table[2] == "| F1 | Baseline CNN (image) | Multimodal GloVe | FER2013 zero-shot |"
    assert table[4].startswith("| Angry | 1.000 ± 0.000 |")  # baseline right on both seeds
    fer = pd.read_csv(results / "eval" / "scene" / "fer" / "seed0" / "predictions.csv")
    assert len(fer) == 24
    bootstrap = pd.read_csv(results / "table" / "scene" / "bootstrap.csv")
    assert sorted(bootstrap["model"]) == ["fer", "glove"]
    assert set(bootstrap["n_groups"]) == {6} and set(bootstrap["resamples"]) == {200}
    summary = (results / "table" / "summary.md").read_text()
    assert "scene (headline): Δ Macro-F1 vs baseline [95% CI]" in summary

    report = snakemake(tmp_path, "--allowed-rules", *REPORT_RULES,
                       "--report", str(tmp_path / "report.html"), "--",
                       "results/table/summary.md", "results/table/scene/f1_table.html",
                       "results/table/scene/confusion_matrices.png")
    assert report.returncode == 0, report.stderr[-3000:]
    assert (tmp_path / "report.html").stat().st_size > 100_000

"""Evaluation: metrics on hand-checkable cases, the unseen-description subset, and the
paired bootstrap that resamples whole scenes."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from dramaemo import EMOTIONS
from dramaemo.cli import main
from dramaemo.core import runs
from dramaemo.core.errors import UserError
from dramaemo.evaluation.evaluate import (
    BEST_MULTIMODAL,
    VS_BASELINE,
    compare_models,
    comparison_pairs,
    compute_metrics,
    confusions_per_group,
    evaluate_run,
    macro_f1,
    macro_f1_from_confusions,
    paired_bootstrap,
)
from dramaemo.models.predictions import PROB_COLUMNS


def write_predictions(path, item_ids, true, pred, model="baseline", seed=0, split="scene", split_draw=0):
    """A predictions.csv in the training stage's format (one-hot probabilities), with the
    run.json of its run beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    runs.write_run(path.with_name("run.json"), split=split, split_draw=split_draw, model=model, seed=seed)
    table = pd.DataFrame({"item_id": item_ids, "true": true, "pred": pred})
    for emotion, column in zip(EMOTIONS, PROB_COLUMNS):
        table[column] = (table["pred"] == emotion).astype(float)
    table.to_csv(path, index=False)
    return path


def test_metrics_hand_checked():
    true = ["Angry", "Angry", "Happy", "Happy", "Sad"]
    pred = ["Angry", "Happy", "Happy", "Happy", "Angry"]
    metrics = compute_metrics(true, pred)
    angry, happy, sad = (metrics["per_class"][e] for e in ("Angry", "Happy", "Sad"))
    assert (angry["precision"], angry["recall"], angry["f1"]) == (0.5, 0.5, 0.5)
    assert happy["precision"] == pytest.approx(2 / 3)
    assert (happy["recall"], happy["f1"]) == (1.0, pytest.approx(0.8))
    # never predicted: precision undefined; present: recall and F1 are 0
    assert (sad["precision"], sad["recall"], sad["f1"], sad["support"]) == (None, 0.0, 0.0, 1)
    # absent from the true labels: no recall/F1, and left out of the macro average
    assert metrics["per_class"]["Fear"] == {
        "precision": None,
        "recall": None,
        "f1": None,
        "support": 0,
    }
    assert metrics["classes_in_macro"] == ["Angry", "Happy", "Sad"]
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert metrics["weighted_f1"] == pytest.approx((2 * 0.5 + 2 * 0.8 + 0) / 5)
    assert metrics["accuracy"] == pytest.approx(0.6)
    cm = np.array(metrics["confusion_matrix"])
    a, h, s = (EMOTIONS.index(e) for e in ("Angry", "Happy", "Sad"))
    assert cm[a, a] == 1 and cm[a, h] == 1 and cm[h, h] == 2 and cm[s, a] == 1
    assert cm.sum() == 5


def test_confusion_macro_f1_equals_sklearn():
    rng = np.random.default_rng(1)
    for _ in range(20):
        classes = rng.choice(EMOTIONS, size=rng.integers(2, 8), replace=False)
        true = rng.choice(classes, size=50)
        pred = rng.choice(EMOTIONS, size=50)
        stack = confusions_per_group(true, pred, np.zeros(50), [0.0])
        present = [e for e in EMOTIONS if e in set(true)]
        expected = f1_score(true, pred, labels=present, average="macro", zero_division=0)
        assert macro_f1_from_confusions(stack[0]) == pytest.approx(expected)
        assert macro_f1(true, pred) == pytest.approx(expected)


def make_split_and_dataset(tmp_path):
    """6 train + 6 test items in 4 scenes; two test descriptions also occur in train."""
    rows = [
        # item, scene, part, emotion, description
        ("a1", "s1", "train", "Happy", "She laughs at the joke."),
        ("a2", "s1", "train", "Happy", "She laughs at the joke."),
        ("a3", "s2", "train", "Angry", "He shouts at his boss."),
        ("a4", "s2", "train", "Angry", "He shouts at his boss."),
        ("a5", "s2", "train", "Sad", "He cries alone."),
        ("a6", "s2", "train", "Sad", "He cries alone."),
        ("t1", "s3", "test", "Happy", "  she LAUGHS at the   joke. "),  # seen, modulo case/space
        ("t2", "s3", "test", "Happy", "A new happy sentence."),
        ("t3", "s3", "test", "Angry", "He shouts at his boss."),  # seen
        ("t4", "s4", "test", "Angry", "Slams the door."),
        ("t5", "s4", "test", "Sad", "Tears on the bus."),
        ("t6", "s4", "test", "Sad", ""),
    ]
    table = pd.DataFrame(rows, columns=["item_id", "scene_id", "part", "emotion", "description"])
    split_path = tmp_path / "split" / "scene.csv"
    split_path.parent.mkdir(parents=True)
    table[["item_id", "scene_id", "part"]].assign(draw=0).to_csv(split_path, index=False)
    dataset_path = tmp_path / "dataset.csv"
    table[["item_id", "emotion", "description", "scene_id"]].to_csv(dataset_path, index=False)
    return table, split_path, dataset_path


def test_evaluate_run_and_unseen_subset(tmp_path):
    table, split_path, dataset_path = make_split_and_dataset(tmp_path)
    test = table[table["part"] == "test"]
    # right on seen descriptions (t1, t3), wrong on t2, t4; right on t5, t6
    pred = ["Happy", "Sad", "Angry", "Happy", "Sad", "Sad"]
    path = write_predictions(
        tmp_path / "eval" / "scene" / "glove" / "seed2" / "predictions.csv",
        test["item_id"],
        test["emotion"],
        pred,
        model="glove",
        seed=2,
    )
    metrics = evaluate_run(path, split_path, dataset_path)
    assert (metrics["model"], metrics["seed"]) == ("glove", 2)
    assert metrics["n_items"] == 6 and metrics["n_scenes"] == 2
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    unseen = metrics["unseen_description"]
    # t1 and t3 are seen; the empty description of t6 never occurs in train: unseen
    assert unseen["n_items"] == 4 and unseen["n_scenes"] == 2
    # unseen items: t2 Happy->Sad, t4 Angry->Happy, t5 Sad ok, t6 Sad ok
    # F1: Happy 0, Angry 0, Sad 2*2/(2+3)=0.8 -> macro 0.8/3
    assert unseen["macro_f1"] == pytest.approx(0.8 / 3)
    assert unseen["accuracy"] == pytest.approx(0.5)


def test_evaluate_cli_writes_json(tmp_path):
    table, split_path, dataset_path = make_split_and_dataset(tmp_path)
    test = table[table["part"] == "test"]
    path = write_predictions(
        tmp_path / "baseline" / "seed0" / "predictions.csv",
        test["item_id"],
        test["emotion"],
        test["emotion"],
    )
    output = tmp_path / "out" / "metrics.json"
    assert (
        main(
            [
                "evaluate",
                "--predictions",
                str(path),
                "--split",
                str(split_path),
                "--dataset",
                str(dataset_path),
                "--output",
                str(output),
            ]
        )
        == 0
    )
    metrics = json.loads(output.read_text())
    assert metrics["macro_f1"] == 1.0 and metrics["accuracy"] == 1.0


def test_bad_predictions_are_named(tmp_path, capsys):
    table, split_path, dataset_path = make_split_and_dataset(tmp_path)
    test = table[table["part"] == "test"]
    pred = list(test["emotion"])
    pred[3] = "Joy"
    path = write_predictions(
        tmp_path / "m" / "seed0" / "predictions.csv", test["item_id"], test["emotion"], pred
    )
    with pytest.raises(UserError, match=r"predictions.csv: row 5: pred 'Joy'"):
        evaluate_run(path, split_path, dataset_path)
    # a run missing test items: named, with the count
    short = write_predictions(
        tmp_path / "n" / "seed0" / "predictions.csv",
        test["item_id"][:4],
        test["emotion"][:4],
        test["emotion"][:4],
    )
    with pytest.raises(UserError, match=r"lacks 2 test item\(s\)"):
        evaluate_run(short, split_path, dataset_path)
    # through the CLI: one line, exit status 2
    code = main(
        [
            "evaluate",
            "--predictions",
            str(short),
            "--split",
            str(split_path),
            "--dataset",
            str(dataset_path),
            "--output",
            str(tmp_path / "x.json"),
        ]
    )
    assert code == 2
    assert "lacks 2 test item(s)" in capsys.readouterr().err


def clustered_runs(n_scenes=30, per_scene=10, seed=0):
    """A model that is right or wrong on whole scenes, a baseline right on half the items
    independently: the model's errors are clustered by scene."""
    rng = np.random.default_rng(seed)
    scene = np.repeat([f"s{i}" for i in range(n_scenes)], per_scene)
    true = rng.choice(EMOTIONS[:3], size=len(scene))
    wrong = {"Angry": "Disgust", "Disgust": "Fear", "Fear": "Angry"}
    scene_right = rng.random(n_scenes) < 0.5
    model_right = np.repeat(scene_right, per_scene)
    base_right = rng.random(len(scene)) < 0.5
    item_id = [f"i{i}" for i in range(len(scene))]

    def table(right):
        pred = [t if r else wrong[t] for t, r in zip(true, right)]
        return pd.DataFrame({"item_id": item_id, "true": true, "pred": pred, "scene_id": scene})

    return {"baseline": [table(base_right)], "glove": [table(model_right)]}


def test_scene_bootstrap_is_wider_than_item_bootstrap():
    runs = clustered_runs()
    by_scene, info = paired_bootstrap(runs, groups_column="scene_id", resamples=1000, seed=0)
    by_item, _ = paired_bootstrap(runs, groups_column="item_id", resamples=1000, seed=0)
    assert info["n_groups"] == 30 and info["n_items"] == 300
    scene_width = by_scene[0].ci_high - by_scene[0].ci_low
    item_width = by_item[0].ci_high - by_item[0].ci_low
    # whole-scene errors: 30 independent units, not 300
    assert scene_width > 2 * item_width
    # both intervals are around the same point estimate, computed on all items
    assert by_scene[0].difference == by_item[0].difference
    expected = macro_f1(runs["glove"][0]["true"], runs["glove"][0]["pred"]) - macro_f1(
        runs["baseline"][0]["true"], runs["baseline"][0]["pred"]
    )
    assert by_scene[0].difference == pytest.approx(expected)
    assert by_scene[0].ci_low < by_scene[0].difference < by_scene[0].ci_high


def test_bootstrap_identical_model_and_seed_average():
    runs = clustered_runs()
    # two seeds on one draw: the point estimate is the mean of the seeds' macro-F1
    runs["baseline"].append(runs["baseline"][0].copy())
    runs["copy"] = [table.copy() for table in runs["baseline"]]
    runs["glove"].append(runs["baseline"][0].copy())
    differences, _ = paired_bootstrap(runs, resamples=200, seed=3)
    by_model = {d.model: d for d in differences}
    assert by_model["copy"].difference == 0 and by_model["copy"].ci_low == 0
    assert by_model["copy"].ci_high == 0
    glove = runs["glove"]
    expected = np.mean([macro_f1(t["true"], t["pred"]) for t in glove])
    assert by_model["glove"].macro_f1 == pytest.approx(expected)
    assert by_model["glove"].n_seeds == 2


def test_compare_models_from_files(tmp_path):
    runs = clustered_runs(n_scenes=8, per_scene=5)
    split_rows = []
    for model, tables in runs.items():
        for seed, table in enumerate(tables):
            write_predictions(
                tmp_path / model / f"seed{seed}" / "predictions.csv",
                table["item_id"],
                table["true"],
                table["pred"],
                model=model,
                seed=seed,
            )
    table = runs["baseline"][0]
    split_rows = table[["item_id", "scene_id"]].assign(part="test")
    extra = pd.DataFrame({"item_id": ["x1"], "scene_id": ["sx"], "part": ["train"]})
    split_path = tmp_path / "split.csv"
    pd.concat([split_rows, extra]).assign(draw=0).to_csv(split_path, index=False)
    paths = sorted(tmp_path.glob("*/seed*/predictions.csv"))
    result = compare_models(paths, [split_path], resamples=100, seed=0, ci_level=0.9)
    # glove against the baseline, then the best multimodal model against the best single one
    assert list(zip(result["model"], result["reference"], result["comparison"])) == [
        ("glove", "baseline", VS_BASELINE),
        ("glove", "baseline", BEST_MULTIMODAL),
    ]
    assert result.loc[0, "n_groups"] == 8 and result.loc[0, "resample_by"] == "scene"
    # a run on other items is refused, naming the file
    write_predictions(
        tmp_path / "text" / "seed0" / "predictions.csv", ["zzz"], ["Angry"], ["Angry"], model="text"
    )
    with pytest.raises(UserError, match=r"text/seed0/predictions.csv: 1 item\(s\) not in"):
        compare_models(
            sorted(tmp_path.glob("*/seed*/predictions.csv")), [split_path], resamples=10, seed=0, ci_level=0.9
        )


def test_compare_models_needs_a_test_part(tmp_path):
    split_path = tmp_path / "split.csv"
    pd.DataFrame({"item_id": ["a"], "scene_id": ["s"], "part": ["train"], "draw": [0]}).to_csv(
        split_path, index=False
    )
    path = write_predictions(tmp_path / "baseline" / "seed0" / "predictions.csv", [], [], [])
    with pytest.raises(UserError, match=r"split.csv: the test part is empty"):
        compare_models([path], [split_path], resamples=10, seed=0, ci_level=0.9)


def two_draws(n_scenes=12, per_scene=4):
    """Two seeds, each tested on its own draw (other items, other scenes): a baseline and
    a glove model per seed, as paired_bootstrap takes them."""
    first, second = (clustered_runs(n_scenes=n_scenes, per_scene=per_scene, seed=seed) for seed in (0, 1))
    for model in second:
        second[model][0] = second[model][0].assign(
            item_id=lambda t: "d1" + t["item_id"], scene_id=lambda t: "d1" + t["scene_id"]
        )
    return {model: first[model] + second[model] for model in first}


def test_bootstrap_over_seeds_on_their_own_draws():
    runs = two_draws()
    differences, info = paired_bootstrap(runs, resamples=400, seed=0)
    glove = differences[0]
    # the point estimate averages each seed's macro-F1 on its own draw
    expected = np.mean([macro_f1(t["true"], t["pred"]) for t in runs["glove"]]) - np.mean(
        [macro_f1(t["true"], t["pred"]) for t in runs["baseline"]]
    )
    assert glove.difference == pytest.approx(expected)
    assert glove.ci_low < glove.difference < glove.ci_high
    assert (info["n_draws"], info["n_groups"], info["n_items"]) == (2, 24, 96)
    # a model identical to the baseline on both draws differs by exactly 0 in every resample
    runs["copy"] = [table.copy() for table in runs["baseline"]]
    copy = {d.model: d for d in paired_bootstrap(runs, resamples=100, seed=0)[0]}["copy"]
    assert (copy.ci_low, copy.ci_high) == (0, 0)
    # runs of one seed position must share their draw's items
    runs["text"] = [runs["baseline"][1], runs["baseline"][0]]
    with pytest.raises(UserError, match="text: the run of seed position 0 covers other test items"):
        paired_bootstrap(runs, resamples=10, seed=0)


def test_compare_models_matches_each_run_to_its_draw(tmp_path):
    runs = two_draws(n_scenes=6, per_scene=3)
    split_paths = []
    for seed in (0, 1):
        for model, tables in runs.items():
            table = tables[seed]
            write_predictions(
                tmp_path / model / f"seed{seed}" / "predictions.csv",
                table["item_id"],
                table["true"],
                table["pred"],
                model=model,
                seed=seed,
                split_draw=seed,
            )
        split_paths.append(tmp_path / f"draw{seed}.csv")
        runs["baseline"][seed][["item_id", "scene_id"]].assign(part="test", draw=seed).to_csv(
            split_paths[-1], index=False
        )
    paths = sorted(tmp_path.glob("*/seed*/predictions.csv"))
    result = compare_models(paths, split_paths, resamples=100, seed=0, ci_level=0.9)
    assert (result.loc[0, "n_draws"], result.loc[0, "n_groups"]) == (2, 12)
    # the split file of a run's draw must be given
    with pytest.raises(UserError, match=r"seed1/predictions.csv: a run of split draw 1, but no split file"):
        compare_models(paths, split_paths[:1], resamples=10, seed=0, ci_level=0.9)
    # and evaluating a run on another draw's split is refused
    with pytest.raises(UserError, match=r"a run of split draw 1, but .*draw0.csv is draw 0"):
        evaluate_run(tmp_path / "glove" / "seed1" / "predictions.csv", split_paths[0], tmp_path / "x.csv")


# --------------------------------------------------------------------------- late fusion
def _predictions(rows):
    """predictions.csv rows from (item_id, true, {emotion: probability})."""
    from dramaemo.models.predictions import PROB_COLUMNS

    records = []
    for item_id, true, probs in rows:
        full = {f"prob_{e}": probs.get(e, 0.0) for e in EMOTIONS}
        pred = max(probs, key=probs.get)
        records.append({"item_id": item_id, "true": true, "pred": pred, **full})
    return pd.DataFrame(records, columns=["item_id", "true", "pred", *PROB_COLUMNS])


def test_late_fusion_takes_the_geometric_mean_of_probabilities():
    from dramaemo.evaluation.fusion import late_fusion

    image = _predictions(
        [("a", "Happy", {"Happy": 0.6, "Sad": 0.4}), ("b", "Sad", {"Happy": 0.9, "Sad": 0.1})]
    )
    text = _predictions(
        [("b", "Sad", {"Happy": 0.1, "Sad": 0.9}), ("a", "Happy", {"Happy": 0.2, "Sad": 0.8})]
    )
    fused = late_fusion(image, text).set_index("item_id")
    # a: sqrt(.6*.2)=.346 vs sqrt(.4*.8)=.566 -> Sad; b: .3 vs .3 -> tie, first class wins
    assert fused.loc["a", "pred"] == "Sad"
    assert fused.loc["a", "prob_Sad"] == pytest.approx(0.566 / (0.346 + 0.566), abs=1e-3)
    assert fused.loc["b", "prob_Happy"] == pytest.approx(0.5)
    assert fused.loc["a", "true"] == "Happy"
    assert np.allclose(fused[[f"prob_{e}" for e in EMOTIONS]].sum(axis=1), 1.0)


def test_late_fusion_refuses_runs_on_different_items():
    from dramaemo.evaluation.fusion import late_fusion

    image = _predictions([("a", "Happy", {"Happy": 1.0})])
    text = _predictions([("b", "Happy", {"Happy": 1.0})])
    with pytest.raises(UserError, match="image.csv: item 'a'"):
        late_fusion(image, text, "image.csv", "text.csv")


def test_late_fusion_refuses_disagreeing_truth():
    from dramaemo.evaluation.fusion import late_fusion

    image = _predictions([("a", "Happy", {"Happy": 1.0})])
    text = _predictions([("a", "Sad", {"Happy": 1.0})])
    with pytest.raises(UserError, match="text.csv: item 'a' has true label Sad"):
        late_fusion(image, text, "image.csv", "text.csv")


def test_best_multimodal_model_is_compared_with_the_best_single_modality_model():
    """The claim that text helps is tested against the strongest single modality, whichever
    it is: here the text-only model beats the image baseline, so it is the reference."""
    runs = clustered_runs(n_scenes=12, per_scene=5)
    truth = runs["baseline"][0]
    perfect = truth.assign(pred=truth["true"])
    runs["text"] = [perfect]  # the best single-modality model
    runs["late"] = [perfect.copy()]  # fused: multimodal, as good as the text model
    pairs = comparison_pairs(runs)
    assert pairs[-1] == ("late", "text", BEST_MULTIMODAL)
    assert ("glove", "baseline", VS_BASELINE) in pairs
    differences, _ = paired_bootstrap(runs, resamples=200, seed=0, pairs=pairs)
    best = differences[-1]
    assert (best.model, best.reference, best.comparison) == ("late", "text", BEST_MULTIMODAL)
    assert best.difference == 0 and best.ci_low == best.ci_high == 0
    assert best.reference_macro_f1 == 1.0

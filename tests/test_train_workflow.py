"""The training rules in a real Snakemake run of the tiny workflow: every model trains,
and editing one model's setting reruns only that model's job."""

import pandas as pd
import pytest
from conftest import planned_jobs, run_snakemake

pytestmark = pytest.mark.slow

MODELS = ("baseline", "glove", "elmo", "text")


def predictions(model):
    return f"results/models/scene/{model}/seed0/predictions.csv"


def jobs_to_run(workdir):
    """(rule, model wildcard or None) of every job a dry run would run for the predictions."""
    return planned_jobs(workdir, *(predictions(m) for m in MODELS))


def test_all_models_train_and_a_glove_setting_reruns_only_glove(tiny_front_copy):
    workdir = tiny_front_copy
    run_snakemake(workdir, *(predictions(m) for m in MODELS))
    for model in MODELS:
        frame = pd.read_csv(workdir / predictions(model))
        assert len(frame) > 0 and frame.columns[0] == "item_id"
        assert (workdir / f"results/models/scene/{model}/seed0/model.keras").stat().st_size > 0
    assert "ELMo" in (workdir / "logs/embed_elmo/embed_elmo.log").read_text()

    assert jobs_to_run(workdir) == []
    tiny = workdir / "config" / "tiny.yaml"
    tiny.write_text(
        tiny.read_text().replace("train:\n", "train:\n  per_model: {glove: {learning_rate: 0.01}}\n", 1)
    )
    assert jobs_to_run(workdir) == [("train_model", "glove")]


def test_new_models_train_in_the_workflow_and_late_fusion_combines_them(tiny_front_copy):
    """The FER2013-initialised models (weights where rule fetch_fer leaves them: a tiny
    file, tests never download) and the MiniLM ones (the installed checkpoint where rule
    fetch_minilm leaves it) train in a real run; late fusion combines the new image-only
    and text-only models; editing train.joint reruns only the multimodal model."""
    from train_tiny_data import tiny_minilm_dir, write_tiny_fer_weights

    if tiny_minilm_dir() is None:
        pytest.skip("no all-MiniLM-L6-v2 checkpoint installed (tests never download it)")
    workdir = tiny_front_copy
    write_tiny_fer_weights(workdir / "resources" / "fer" / "emotion_model.hdf5")
    (workdir / "resources" / "minilm").symlink_to(tiny_minilm_dir())
    tiny = workdir / "config" / "tiny.yaml"
    tiny.write_text(
        tiny.read_text().replace("    image_branch: scratch\n", "    image_branch: fer\n")
        + ("\nlate_fusion: {activate: true, image_model: baseline_fer, text_model: text_minilm}\n")
    )
    new_models = ("baseline_fer", "minilm", "text_minilm")
    fused = "results/late/scene/seed0/predictions.csv"
    assert {rule for rule, _ in planned_jobs(workdir, fused, predictions("minilm"))} >= {
        "train_model",
        "embed_minilm",
        "late_fusion",
    }
    run_snakemake(workdir, fused, *(predictions(m) for m in new_models))
    for model in new_models:
        frame = pd.read_csv(workdir / predictions(model))
        assert len(frame) > 0 and frame.columns[0] == "item_id"
    late = pd.read_csv(workdir / fused)
    assert sorted(late["item_id"]) == sorted(pd.read_csv(workdir / predictions("baseline_fer"))["item_id"])
    from dramaemo.models.builders import load_model

    layers = {
        layer.name for layer in load_model(workdir / "results/models/scene/minilm/seed0/model.keras").layers
    }
    assert {"fer_image_encoder", "minilm_encoder"} <= layers  # the FER2013 branch, the MiniLM branch

    assert planned_jobs(workdir, fused, predictions("minilm")) == []
    tiny.write_text(
        tiny.read_text().replace(
            "    image_branch: fer\n", "    image_branch: fer\n    text_modality_dropout: 0.1\n"
        )
    )
    assert planned_jobs(workdir, fused, predictions("minilm")) == [("train_model", "minilm")]

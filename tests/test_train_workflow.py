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
    tiny.write_text(tiny.read_text().replace("train:\n", "train:\n  per_model: {glove: {learning_rate: 0.01}}\n", 1))
    assert jobs_to_run(workdir) == [("train_model", "glove")]

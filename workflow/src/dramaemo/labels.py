"""Display names of the models, for tables, plots and the workflow (no Keras import)."""

from __future__ import annotations

MODEL_LABELS = {
    "baseline": "Baseline CNN (image)",
    "glove": "Multimodal GloVe",
    "elmo": "Multimodal ELMo",
    "text": "Text only (GloVe)",
    "late": "Late fusion (image x text)",
    "fer": "FER2013 zero-shot",
}


def model_label(model: str, elmo_standin: bool = False) -> str:
    """Display name of a model; says when ELMo runs on the stand-in weights."""
    label = MODEL_LABELS.get(model, model)
    if model == "elmo" and elmo_standin:
        label += " (stand-in weights)"
    return label

"""Rule options: the part of the config that one job reads (face detection, training).

``detector_settings`` picks the ``faces`` settings of the chosen detector, passed as
detect_faces' params, so editing the other detector's settings reruns nothing.

Training options: the part of config ``train`` that one model reads, typed.

``model_settings`` picks, for one registry model, the scalar settings (with that model's
``train.per_model`` overrides applied) and the config sections its builders take
(``registry.ModelSpec.sections``). The workflow passes exactly that as the training rule's
params, so editing a setting reruns only the models that read it; ``TrainOptions`` is
the same dict, typed, as ``dramaemo.models.train.train`` takes it. Section contents are the
builders' keyword arguments as the schema names them (one home: the schema).
"""

from __future__ import annotations

from dataclasses import dataclass

from dramaemo.core import registry

BLAZEFACE, HAAR = "blazeface", "haar"  # config faces.detector
# The faces settings each detector reads besides min_size (BlazeFace's: in faces.blazeface).
DETECTOR_SETTINGS = {
    HAAR: ("cascade", "scale_factor", "min_neighbors", "detection_scale"),
    BLAZEFACE: ("model", "min_score"),
}


def detector_settings(faces: dict) -> dict:
    """The settings of config ``faces`` that its chosen detector reads."""
    detector = faces["detector"]
    section = faces[BLAZEFACE] if detector == BLAZEFACE else faces
    return {
        "detector": detector,
        "min_size": faces["min_size"],
        **{key: section[key] for key in DETECTOR_SETTINGS[detector]},
    }


def detector_options(faces: dict) -> list[str]:
    """detector_settings as detect-faces' command-line arguments (the rule quotes each)."""
    return [
        part
        for key, value in detector_settings(faces).items()
        for part in (f"--{key.replace('_', '-')}", str(value))
    ]


# Scalar settings of config train that every trained model reads.
SCALAR_SETTINGS = (
    "epochs",
    "batch_size",
    "learning_rate",
    "learning_rate_schedule",
    "class_weight",
    "validation_fraction",
    "early_stopping_patience",
    "allow_absent_classes",
    "logit_adjustment_tau",
)
# Scalar settings that only the models taking the face read.
FACE_SETTINGS = ("image_size", "augment")


def model_settings(model: str, train: dict) -> dict:
    """The settings of config ``train`` that ``model`` reads, per-model overrides applied."""
    spec = registry.spec(model)
    merged = {**train, **train.get("per_model", {}).get(model, {})}
    settings = {key: merged[key] for key in SCALAR_SETTINGS}
    if spec.face:
        settings.update({key: merged[key] for key in FACE_SETTINGS})
        settings["image_branch"] = spec.image_branch_in(merged)
    for section in spec.sections:
        settings[section] = merged[section]
    return settings


@dataclass(frozen=True)
class TrainOptions:
    """How one model is trained (config train, as ``model_settings`` selects it)."""

    epochs: int
    batch_size: int
    learning_rate: float
    class_weight: str
    validation_fraction: float
    early_stopping_patience: int
    allow_absent_classes: bool
    logit_adjustment_tau: float  # 0: plain cross-entropy (dramaemo.models.builders.LogitAdjustedLoss)
    learning_rate_schedule: str  # or cosine (dramaemo.models.builders.scheduled_learning_rate)
    image_size: int | None  # resize crops to this side; None: as stored
    augment: bool  # augment the faces of the fit part (dramaemo.models.augment), never at evaluation
    image_branch: str | None  # registry.SCRATCH or registry.FER_INIT (models taking the face)
    image: dict  # image builder keywords (train.image)
    fer_image: dict  # FER2013-initialised image branch (train.fer_image)
    # the text branch's train section: part of the run's identity (run.json's digest); the
    # builder gets the section bound by `dramaemo train`
    text: dict
    fusion: dict  # train.fusion
    joint: dict  # joint training of the multimodal models (train.joint)

    @classmethod
    def for_model(cls, model: str, train: dict) -> TrainOptions:
        spec = registry.spec(model)
        settings = model_settings(model, train)
        text_section = registry.TEXT_ENCODERS[spec.text].section if spec.text else None
        return cls(
            **{key: settings[key] for key in SCALAR_SETTINGS},
            image_size=settings.get("image_size"),
            augment=settings.get("augment", False),
            image_branch=settings.get("image_branch"),
            image=settings.get("image", {}),
            fer_image=settings.get("fer_image", {}),
            text=settings.get(text_section, {}) if text_section else {},
            fusion=settings.get("fusion", {}),
            joint=settings.get("joint", {}),
        )

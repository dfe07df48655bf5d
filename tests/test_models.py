"""Model builders: shapes, names, the paper's layers, trainable ELMo mix, save/load."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dramaemo import EMOTIONS  # noqa: E402
from dramaemo.core.config import schema_defaults  # noqa: E402
from dramaemo.core.errors import UserError  # noqa: E402
from dramaemo.models import builders as models  # noqa: E402
from dramaemo.models.preprocess import preprocess_faces  # noqa: E402

# The text branches' config settings (their one home: the schema), as training passes them.
FEATURES = {"feature_units": schema_defaults("train", "fusion")["feature_units"]}
GLOVE = {**schema_defaults("train", "glove_cnn"), **FEATURES}
ELMO = {**schema_defaults("train", "elmo"), **FEATURES}

IMAGE = dict(image_size=32, filters=(4, 8, 8, 16), kernel_sizes=(7, 5, 3, 3), top_filters=16, dropout=0.1)


def test_preprocess_faces_scales_to_unit_range_with_channel():
    images = np.array([[[0, 255], [128, 64]]], dtype=np.uint8)
    faces = preprocess_faces(images)
    assert faces.shape == (1, 2, 2, 1) and faces.dtype == np.float32
    assert faces.min() == 0.0 and faces.max() == 1.0
    np.testing.assert_allclose(faces[0, 1, 0, 0], 128 / 255)
    np.testing.assert_array_equal(preprocess_faces(images[..., None]), faces)


def test_preprocess_faces_resizes_and_rejects_bad_input():
    images = np.full((3, 40, 40), 200, dtype=np.uint8)
    faces = preprocess_faces(images, image_size=16)
    assert faces.shape == (3, 16, 16, 1)
    np.testing.assert_allclose(faces, 200 / 255, rtol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        preprocess_faces(images.astype(np.float32))
    with pytest.raises(ValueError, match="square"):
        preprocess_faces(np.zeros((2, 8, 9), np.uint8))


def test_baseline_is_the_fully_convolutional_cnn():
    model = models.build_baseline_model(image_size=48)
    assert model.name == "baseline" and model.inputs[0].name == "face"
    assert tuple(model.inputs[0].shape) == (None, 48, 48, 1)
    assert tuple(model.output.shape) == (None, len(EMOTIONS))
    assert not any(isinstance(layer, keras.layers.Dense) for layer in model.layers)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [16, 16, 32, 32, 64, 64, 128, 128, 256, len(EMOTIONS)]
    assert [c.kernel_size[0] for c in convs[:8]] == [7, 7, 5, 5, 3, 3, 3, 3]
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 9
    assert sum(isinstance(layer, keras.layers.AveragePooling2D) for layer in model.layers) == 4
    assert isinstance(model.layers[-2], keras.layers.GlobalAveragePooling2D)
    probabilities = model.predict({"face": np.random.rand(2, 48, 48, 1).astype("float32")}, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_image_encoder_compresses_trunk_to_feature_units():
    encoder = models.build_image_encoder(**IMAGE, feature_units=64)
    assert encoder.name == "image_encoder" and tuple(encoder.output.shape) == (None, 64)
    assert encoder.layers[-1].name == "image_features"


def test_glove_encoder_uses_the_matrix_and_kim_filters():
    matrix = np.random.default_rng(0).normal(size=(12, 6)).astype("float32")
    encoder = models.build_glove_text_encoder(
        embedding_matrix=matrix, max_tokens=8, **{**GLOVE, "num_filters": 5}
    )
    assert encoder.name == "glove_encoder" and encoder.inputs[0].name == "tokens"
    assert tuple(encoder.output.shape) == (None, 64)
    embedding = encoder.get_layer("glove_embedding")
    np.testing.assert_array_equal(embedding.get_weights()[0], matrix)
    assert not embedding.trainable
    assert [encoder.get_layer(f"kim_conv{k}").kernel_size[0] for k in (3, 4, 5)] == [3, 4, 5]
    assert all(
        isinstance(encoder.get_layer(f"kim_maxpool{k}"), keras.layers.GlobalMaxPooling1D) for k in (3, 4, 5)
    )
    with pytest.raises(ValueError, match="widest filter"):
        models.build_glove_text_encoder(embedding_matrix=matrix, max_tokens=4, **GLOVE)


def test_elmo_encoder_scalar_mix_is_trainable_and_learns():
    encoder = models.build_elmo_text_encoder(max_tokens=5, layer_dim=8, **{**ELMO, "dropout": 0.0})
    assert [t.name for t in encoder.inputs] == ["elmo_layers", "elmo_mask"]
    mix = encoder.get_layer("elmo_scalar_mix")
    assert {w.name for w in mix.trainable_weights} == {"layer_weights", "gamma"}
    model = models.compile_model(models.build_text_model(encoder), learning_rate=0.05)
    rng = np.random.default_rng(0)
    inputs = {
        "elmo_layers": rng.normal(size=(16, 3, 5, 8)).astype("float32"),
        "elmo_mask": np.ones((16, 5), "float32"),
    }
    before = [w.copy() for w in mix.get_weights()]
    model.fit(inputs, rng.integers(0, 7, 16), epochs=3, verbose=0)
    after = mix.get_weights()
    assert not np.allclose(before[0], after[0]) and not np.isclose(before[1], after[1])


def test_elmo_encoder_ignores_masked_tokens():
    encoder = models.build_elmo_text_encoder(max_tokens=4, layer_dim=3, **{**ELMO, "dropout": 0.0})
    rng = np.random.default_rng(1)
    layers = rng.normal(size=(1, 3, 4, 3)).astype("float32")
    mask = np.array([[1, 1, 0, 0]], "float32")
    changed = layers.copy()
    changed[:, :, 2:] = 99.0
    np.testing.assert_allclose(
        encoder.predict([layers, mask], verbose=0), encoder.predict([changed, mask], verbose=0)
    )
    empty = encoder.predict([layers, np.zeros((1, 4), "float32")], verbose=0)
    assert np.isfinite(empty).all()


def test_multimodal_models_fuse_named_submodels():
    matrix = np.random.default_rng(0).normal(size=(10, 6)).astype("float32")
    glove = models.build_multimodal_model(
        models.build_image_encoder(**IMAGE),
        models.build_glove_text_encoder(embedding_matrix=matrix, max_tokens=6, **{**GLOVE, "num_filters": 3}),
        name="glove",
    )
    assert sorted(t.name for t in glove.inputs) == ["face", "tokens"]
    assert {"image_encoder", "glove_encoder"} <= {layer.name for layer in glove.layers}
    assert tuple(glove.get_layer("fusion").output.shape) == (None, 128)
    assert tuple(glove.output.shape) == (None, len(EMOTIONS))

    elmo = models.build_multimodal_model(
        models.build_image_encoder(**IMAGE),
        models.build_elmo_text_encoder(max_tokens=6, layer_dim=4, **ELMO),
        name="elmo",
    )
    assert sorted(t.name for t in elmo.inputs) == ["elmo_layers", "elmo_mask", "face"]
    text = models.build_text_model(
        models.build_glove_text_encoder(embedding_matrix=matrix, max_tokens=6, **GLOVE)
    )
    assert [t.name for t in text.inputs] == ["tokens"] and "glove_encoder" in {
        layer.name for layer in text.layers
    }


def test_elmo_model_round_trips_through_keras_file(tmp_path):
    model = models.compile_model(
        models.build_multimodal_model(
            models.build_image_encoder(**IMAGE),
            models.build_elmo_text_encoder(max_tokens=6, layer_dim=4, **ELMO),
        ),
        learning_rate=1e-3,
    )
    rng = np.random.default_rng(0)
    inputs = {
        "face": rng.random((3, 32, 32, 1), dtype="float32"),
        "elmo_layers": rng.normal(size=(3, 3, 6, 4)).astype("float32"),
        "elmo_mask": np.ones((3, 6), "float32"),
    }
    model.save(tmp_path / "model.keras")
    reloaded = models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0), rtol=1e-5
    )


def test_load_model_names_a_file_that_does_not_load(tmp_path):
    broken = tmp_path / "model.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="model.keras: not a loadable Keras model"):
        models.load_model(broken)
    with pytest.raises(UserError, match="no such model file"):
        models.load_model(tmp_path / "missing.keras")


def test_model_label_marks_standin_elmo():
    from dramaemo.core.registry import model_label

    assert model_label("elmo", elmo_standin=True) == "Multimodal ELMo (stand-in weights)"
    assert model_label("elmo") == "Multimodal ELMo"
    assert model_label("baseline") == "Baseline CNN (image)"

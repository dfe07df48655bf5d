"""The one face preprocessing that training, evaluation, the FER2013 model and the footage
index share (NumPy and OpenCV only, so that none of them needs Keras for it)."""

from __future__ import annotations

import numpy as np


def preprocess_faces(images, image_size: int | None = None) -> np.ndarray:
    """Face crops as every model expects them: float32 (N, S, S, 1) scaled to [0, 1].

    ``images``: uint8 gray crops (N, S, S) or (N, S, S, 1), as in images.npz. With
    ``image_size`` the crops are resized (area interpolation) to that side first, so a
    model trained at one size can be fed crops stored at another.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(
            f"face crops must be (N, S, S) or (N, S, S, 1) square gray images, got shape {images.shape}"
        )
    if images.dtype != np.uint8:
        raise ValueError(f"face crops must be uint8 (0..255), got {images.dtype}")
    if image_size is not None and images.shape[1] != image_size:
        import cv2  # only needed when resizing

        images = (
            np.stack(
                [
                    cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_AREA)
                    for image in images
                ]
            )
            if len(images)
            else np.zeros((0, image_size, image_size), np.uint8)
        )
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]

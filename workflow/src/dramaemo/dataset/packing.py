"""The dataset's face crops packed into one array for training (``images.npz``).

``images`` is uint8 (N, S, S) in dataset.csv order and ``item_id`` names each row, so a
training job reads every crop with one file open instead of N image decodes per epoch.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from dramaemo.core.errors import UserError

log = logging.getLogger(__name__)


def pack_images(dataset: pd.DataFrame, image_size: int) -> np.ndarray:
    """The crops of the dataset, in its order, as uint8 (N, S, S)."""
    import cv2

    images = np.zeros((len(dataset), image_size, image_size), dtype=np.uint8)
    for i, path in enumerate(dataset["crop_path"]):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise UserError(f"{path}: crop missing or unreadable; rerun crop_faces")
        if image.shape != (image_size, image_size):
            raise UserError(
                f"{path}: crop is {image.shape[1]}x{image.shape[0]}, expected "
                f"{image_size}x{image_size}; rerun crop_faces"
            )
        images[i] = image
        if (i + 1) % 1000 == 0:
            log.info("%d/%d crops packed", i + 1, len(dataset))
    return images


def _run_pack(args) -> None:
    dataset = pd.read_csv(args.dataset)
    images = pack_images(dataset, args.image_size)
    np.savez(args.output, images=images, item_id=dataset["item_id"].to_numpy(dtype=str))
    log.info("%d crops of %dx%d packed into %s", len(images), args.image_size, args.image_size, args.output)


def add_parser(subparsers) -> None:
    pack = subparsers.add_parser("pack-images", help="crops in dataset order into one .npz")
    pack.add_argument("--dataset", required=True, help="dataset CSV")
    pack.add_argument("--image-size", type=int, required=True)
    pack.add_argument("--output", required=True, help=".npz with images and item_id")
    pack.set_defaults(func=_run_pack)

"""Seeded augmentation of face crops for training: a ``tf.data``-mappable function.

``face_augmenter(seed=...)`` returns ``augment(inputs, label)`` for a dataset of
``({"face": (B, S, S, 1) in [0, 1], ...}, label)`` batches (the other inputs pass
through). Each batch gets, per image: a horizontal flip (p = 0.5), one affine warp (shift,
zoom, rotation; reflected borders), brightness and contrast jitter, clipped to [0, 1].

The random draws are stateless ops fed with seeds from one ``tf.random.Generator``
(``from_seed(seed)``), the scheme of TensorFlow's data-augmentation guide: the same seed
gives the same sequence of augmented epochs, and each epoch differs from the last. Map it
on the training dataset only; evaluation and prediction datasets never see it.
"""

from __future__ import annotations

import math


def face_augmenter(
    *,
    seed: int,
    flip: bool = True,
    max_shift: float = 0.08,
    max_zoom: float = 0.1,
    max_rotation_degrees: float = 10.0,
    max_brightness: float = 0.15,
    contrast_range: tuple[float, float] = (0.8, 1.2),
):
    """``augment(inputs, label) -> (inputs, label)`` with ``inputs["face"]`` augmented.

    ``max_shift`` is a fraction of the side, ``max_zoom`` a relative scale change,
    ``max_brightness`` an additive change on [0, 1] pixels.
    """
    import tensorflow as tf

    generator = tf.random.Generator.from_seed(seed, alg="philox")
    max_rotation = math.radians(max_rotation_degrees)

    def affine_transforms(seeds, batch, side):
        """(B, 8) projective transforms (output -> input pixel maps) about the centre."""

        def uniform(index, low, high):
            return tf.random.stateless_uniform([batch], seed=seeds[index], minval=low, maxval=high)

        angle = uniform(0, -max_rotation, max_rotation)
        scale = uniform(1, 1.0 - max_zoom, 1.0 + max_zoom)
        shift_x = uniform(2, -max_shift, max_shift) * side
        shift_y = uniform(3, -max_shift, max_shift) * side
        centre = (side - 1.0) / 2.0
        cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
        # input = R/scale (output - centre) + centre - shift
        a0, a1, b0, b1 = cos, -sin, sin, cos
        a2 = centre - a0 * centre - a1 * centre - shift_x
        b2 = centre - b0 * centre - b1 * centre - shift_y
        zeros = tf.zeros([batch])
        return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def augment(inputs, label):
        inputs = dict(inputs)
        face = tf.convert_to_tensor(inputs["face"], tf.float32)
        batch, side = tf.shape(face)[0], tf.cast(tf.shape(face)[1], tf.float32)
        seeds = generator.make_seeds(8)  # (2, 8): one stateless seed per draw below
        seeds = tf.transpose(seeds)
        if flip:
            flips = tf.random.stateless_uniform([batch], seed=seeds[4]) < 0.5
            face = tf.where(flips[:, None, None, None], tf.reverse(face, axis=[2]), face)
        face = tf.raw_ops.ImageProjectiveTransformV3(
            images=face,
            transforms=affine_transforms(seeds, batch, side),
            output_shape=tf.shape(face)[1:3],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="REFLECT",
        )
        brightness = tf.random.stateless_uniform(
            [batch, 1, 1, 1], seed=seeds[5], minval=-max_brightness, maxval=max_brightness
        )
        contrast = tf.random.stateless_uniform(
            [batch, 1, 1, 1], seed=seeds[6], minval=contrast_range[0], maxval=contrast_range[1]
        )
        mean = tf.reduce_mean(face, axis=[1, 2, 3], keepdims=True)
        inputs["face"] = tf.clip_by_value((face - mean) * contrast + mean + brightness, 0.0, 1.0)
        return inputs, label

    return augment

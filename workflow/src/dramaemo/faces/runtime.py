"""TensorFlow's thread pools for a job's ``threads``, set once per process before it runs
anything (the index's inference, training; the face descriptors run in LiteRT, with no
TensorFlow). In the lowest layer that runs TensorFlow so every stage above shares it."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def limit_tensorflow_threads(threads: int) -> None:
    """Run TensorFlow's operations on ``threads`` threads (0: its own choice)."""
    if not threads:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:  # TensorFlow already running in this process (tests): keep its threads
        log.info("TensorFlow already initialised; %d threads not applied", threads)

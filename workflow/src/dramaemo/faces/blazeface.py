"""MediaPipe's BlazeFace (full-range model), the default face detector beside the paper's
Haar cascade (``faces.detector``).

The model is the ``.tflite`` file inside the ``mediapipe`` wheel on PyPI: ``fetch-blazeface``
downloads the wheel and extracts that one file (mediapipe itself is never installed), and
LiteRT's interpreter (``ai-edge-litert``) runs it. On bench-drama its face stage found 0.9
points more of the annotated faces than a full-resolution Haar loop at 3.6x its speed
(BENCHMARKS.md).

Each frame is seen three times at the model's 192x192 input: whole (letterboxed) and, when
it is not square, as the two squares at the ends of its long side, which show faces 1.8x
larger on a 16:9 frame (the whole frame alone missed 15% of bench-drama's faces). Boxes of
the three views are merged by non-maximum suppression and mapped to the framing of the
Haar cascade's boxes, so crops show the same part of a face whichever detector cut them.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import numpy as np

from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.core.wheels import fetch_member

log = logging.getLogger(__name__)

MODEL_WHEEL = "mediapipe"  # the PyPI package whose wheel holds the model
MODEL_MEMBER = "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite"
INPUT_SIDE = 192  # the full-range model's input: 192x192 RGB in [-1, 1]
ANCHOR_STRIDE = 4  # one anchor per 4x4 input pixels (48 x 48 = 2304), as MediaPipe's graph
NMS_IOU = 0.3  # boxes of one face seen in two views overlap more than this
# BlazeFace's box is 0.904x the Haar cascade's for the same face and its centre 5.3% of the
# Haar box lower (medians over the 3,425 bench-drama boxes both found, IoU > 0.3): boxes
# are grown and raised by these so that crops frame a face as before.
HAAR_FRAMING_SCALE = 1 / 0.904
HAAR_FRAMING_RAISE = 0.053  # of the Haar-framed side
JPEG_REDUCTIONS = (8, 4, 2, 1)  # libjpeg decodes at 1/8 .. 1/1 of the size, cheaper when smaller
REDUCED_GRAY = {
    1: cv2.IMREAD_GRAYSCALE,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}


def fetch_model(output: str | Path, version: str) -> Path:
    """Download the mediapipe wheel (no install, no dependencies) and extract the model."""
    return fetch_member(MODEL_WHEEL, version, MODEL_MEMBER, output)


def anchors() -> np.ndarray:
    """Centres (x, y) of the model's anchors, in [0, 1] of the input, row by row."""
    cells = INPUT_SIDE // ANCHOR_STRIDE
    ys, xs = np.mgrid[0:cells, 0:cells]
    return np.stack([(xs.ravel() + 0.5) / cells, (ys.ravel() + 0.5) / cells], axis=1)


def views(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of the parts of a frame the model sees: the whole frame and, when it
    is not square, the squares at both ends of its long side."""
    whole = [(0, 0, width, height)]
    side = min(height, width)
    if height == width:
        return whole
    return whole + [(0, 0, side, side), (width - side, height - side, side, side)]


def jpeg_reduction(height: int, width: int) -> int:
    """The largest JPEG decoding reduction that keeps every view at least INPUT_SIDE wide."""
    return next(r for r in JPEG_REDUCTIONS if min(height, width) // r >= INPUT_SIDE or r == 1)


def haar_framing(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
    """A BlazeFace box grown and raised to frame the face as the Haar cascade does."""
    cx, cy = x + w / 2, y + h / 2
    w, h = w * HAAR_FRAMING_SCALE, h * HAAR_FRAMING_SCALE
    cy -= HAAR_FRAMING_RAISE * h
    return cx - w / 2, cy - h / 2, w, h


class BlazeFace:
    """Face boxes of JPEG frames (config ``faces.blazeface`` and ``faces.min_size``), shared
    by worker threads: each thread gets its own interpreter (one is not thread-safe, and one
    each keeps results independent of the thread count). Frames are decoded to gray at
    1 / ``reduction`` of their size (jpeg_reduction of the first frame when None)."""

    def __init__(self, *, model: str | Path, min_score: float, min_size: int, reduction: int | None = None):
        self.model, self.min_score, self.min_size, self.reduction = model, min_score, min_size, reduction
        self._local = threading.local()
        self._interpreter()  # a missing or wrong model fails here, before any frame
        self.anchors = anchors()

    def _interpreter(self):
        """(interpreter, input index, scores index, boxes index) of the calling thread."""
        if hasattr(self._local, "interpreter"):
            return self._local.interpreter
        from ai_edge_litert.interpreter import Interpreter  # imported by the jobs that need it

        model = self.model
        if not Path(model).is_file():
            raise UserError(
                f"{model}: no such BlazeFace model; run rule fetch_blazeface "
                "(snakemake fetches it) or set faces.blazeface.model"
            )
        try:
            interpreter = Interpreter(model_path=str(model), num_threads=1)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise UserError(
                f"{model}: not a TFLite model ({error}); delete it and rerun rule fetch_blazeface"
            ) from error
        details = interpreter.get_input_details()[0]
        outputs = sorted(interpreter.get_output_details(), key=lambda o: o["shape"][-1])
        cells = (INPUT_SIDE // ANCHOR_STRIDE) ** 2
        if (
            tuple(details["shape"]) != (1, INPUT_SIDE, INPUT_SIDE, 3)
            or len(outputs) != 2
            or tuple(outputs[1]["shape"][:2]) != (1, cells)
        ):
            raise UserError(
                f"{model}: not BlazeFace's full-range model (input "
                f"{tuple(details['shape'])}); set faces.blazeface.model to "
                f"{MODEL_MEMBER.rpartition('/')[2]} from the mediapipe wheel"
            )
        self._local.interpreter = (interpreter, details["index"], outputs[0]["index"], outputs[1]["index"])
        return self._local.interpreter

    def __call__(self, data: bytes) -> list[tuple[int, int, int, int]] | None:
        """Boxes of one JPEG frame in its own pixels; None when it does not decode."""
        if self.reduction is None:  # every frame of an episode has the first one's size
            first = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
            if first is None:
                return None
            self.reduction = jpeg_reduction(*first.shape[:2])
            log.info("BlazeFace %s: frames decoded at 1/%d", self.model, self.reduction)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), REDUCED_GRAY[self.reduction])
        if image is None:
            return None
        return self.boxes(image, self.reduction)

    def boxes(self, gray: np.ndarray, scale: int = 1) -> list[tuple[int, int, int, int]]:
        """Boxes (x, y, w, h), left to right, in the pixels of an image ``scale`` times
        larger than ``gray`` (a frame decoded at 1 / scale of its size)."""
        boxes, scores = [], []
        for x0, y0, w, h in views(*gray.shape[:2]):
            found, confidence = self.detect(gray[y0 : y0 + h, x0 : x0 + w])
            boxes += [(x + x0, y + y0, bw, bh) for x, y, bw, bh in found]
            scores += confidence
        if not boxes:
            return []
        kept = np.array(cv2.dnn.NMSBoxes(boxes, scores, self.min_score, NMS_IOU)).ravel()
        height, width = gray.shape[0] * scale, gray.shape[1] * scale
        result = []
        for index in kept:
            x, y, w, h = (value * scale for value in haar_framing(*boxes[index]))
            x0, y0 = max(0, round(x)), max(0, round(y))
            x1, y1 = min(width, round(x + w)), min(height, round(y + h))
            if min(x1 - x0, y1 - y0) >= self.min_size:
                result.append((x0, y0, x1 - x0, y1 - y0))
        return sorted(result)

    def detect(self, gray: np.ndarray) -> tuple[list[tuple[float, ...]], list[float]]:
        """Boxes (x, y, w, h) in ``gray``'s pixels scoring at least min_score, and scores."""
        height, width = gray.shape[:2]
        fit = INPUT_SIDE / max(height, width)
        new_h, new_w = max(1, round(height * fit)), max(1, round(width * fit))
        resized = cv2.resize(
            gray, (new_w, new_h), interpolation=cv2.INTER_AREA if fit < 1 else cv2.INTER_LINEAR
        )
        top, left = (INPUT_SIDE - new_h) // 2, (INPUT_SIDE - new_w) // 2
        canvas = np.zeros((1, INPUT_SIDE, INPUT_SIDE, 3), np.float32)
        canvas[0, top : top + new_h, left : left + new_w] = (resized / 127.5 - 1)[..., None]
        interpreter, input_index, scores_index, boxes_index = self._interpreter()
        interpreter.set_tensor(input_index, canvas)
        interpreter.invoke()
        logits = interpreter.get_tensor(scores_index)[0, :, 0].astype(np.float64)
        score = 1 / (1 + np.exp(-np.clip(logits, -50, 50)))
        keep = score >= self.min_score
        if not keep.any():
            return [], []
        raw = interpreter.get_tensor(boxes_index)[0][keep].astype(np.float64)
        centre = raw[:, :2] + self.anchors[keep] * INPUT_SIDE  # input pixels
        size = raw[:, 2:4]
        corner = (centre - size / 2 - (left, top)) / fit
        found = np.concatenate([corner, size / fit], axis=1)
        return [tuple(box) for box in found.tolist()], score[keep].tolist()


def add_parser(subparsers) -> None:
    fetch = subparsers.add_parser("fetch-blazeface", help="BlazeFace model from the mediapipe wheel")
    fetch.add_argument(
        "--version", default=schema_defaults("faces", "blazeface")["version"], help="mediapipe release"
    )
    fetch.add_argument("--output", required=True, help="the .tflite file to write")
    fetch.set_defaults(func=lambda args: fetch_model(args.output, args.version))

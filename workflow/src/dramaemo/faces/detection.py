"""Face detection and face crops, per episode.

Two detectors (``faces.detector``): MediaPipe's BlazeFace (dramaemo.faces.blazeface, the
default) and OpenCV's Haar cascade (the paper's). detect-faces reads the one-per-second
frames of an episode and writes every face found, as ``episode,second,face_index,x,y,w,h``
in the original frame's pixels, faces of one frame numbered left to right. crop-faces cuts
each box (plus a margin, clipped to the frame), converts it to grayscale, resizes it to
``image_size`` and writes PNGs and a manifest; crops an earlier run cut from the same
frame, box and settings are kept.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from dramaemo.core.config import filled, schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.core.options import BLAZEFACE, DETECTOR_SETTINGS, HAAR
from dramaemo.faces import blazeface

log = logging.getLogger(__name__)

DETECTION_COLUMNS = ["episode", "second", "face_index", "x", "y", "w", "h"]
MANIFEST_COLUMNS = DETECTION_COLUMNS + ["crop_path", "frame_path"]
PROGRESS_EVERY = 100  # frames between two progress lines in the log


def load_cascade(cascade: str) -> cv2.CascadeClassifier:
    """A cascade by file name inside cv2.data.haarcascades, or by path."""
    path = Path(cascade)
    if not path.is_file():
        path = Path(cv2.data.haarcascades) / cascade
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise UserError(
            f"{cascade}: not a Haar cascade file (looked for it as a path and in "
            f"{cv2.data.haarcascades}); set faces.cascade to e.g. "
            "haarcascade_frontalface_default.xml"
        )
    return classifier


def frame_files(frames_dir: str | Path) -> list[tuple[int, Path]]:
    """(second, path) of every {second:06d}.jpg in a frame folder, in time order."""
    frames = []
    for path in sorted(Path(frames_dir).glob("*.jpg")):
        if path.stem.isdigit():
            frames.append((int(path.stem), path))
    return frames


AUTO_SCALE = "auto"  # faces.detection_scale: derive it from min_size (see below)
CHUNK_FRAMES = PROGRESS_EVERY  # frames read and handed to the worker threads at a time
CROP_FORMAT = 1  # part of every crop's key: bump it when crop_faces cuts differently
CROP_KEY_LENGTH = 12  # hex digits of the key in a crop's file name


def derived_detection_scale(min_size: int, window: tuple[int, int]) -> float:
    """The smallest detection scale that still finds faces of ``min_size`` pixels.

    A cascade's window (24x24 for the frontal-face Haar cascades) is the smallest face it
    sees; on a frame resized by s it finds faces from window / s original pixels, so
    s = window / min_size (0.6 for 24 and 40) loses no face that ``min_size`` keeps.
    Never above 1: upsampling finds nothing smaller than the window either.
    """
    return min(1.0, min(window) / min_size)


def resolve_detection_scale(detection_scale: float | str | None, min_size: int, classifier) -> float:
    """``detection_scale`` as a number: ``auto`` (or None) derives it from ``min_size``."""
    if detection_scale is None or detection_scale == AUTO_SCALE:
        return derived_detection_scale(min_size, tuple(classifier.getOriginalWindowSize()))
    try:
        scale = float(detection_scale)
    except ValueError:
        scale = float("nan")
    if not 0 < scale <= 1:
        raise UserError(
            f"faces.detection_scale: {detection_scale!r} is outside (0, 1]; "
            f"set a factor such as 0.5, or {AUTO_SCALE}"
        )
    return scale


def detect_in_image(
    image,
    classifier,
    scale_factor: float,
    min_neighbors: int,
    min_size: int,
    detection_scale: float,
) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, w, h) in the image's own pixels, sorted left to right.

    Detection runs on the image resized by ``detection_scale`` (faster on large frames);
    ``min_size`` is in original pixels and is scaled with it.
    """
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    if detection_scale != 1.0:
        gray = cv2.resize(gray, None, fx=detection_scale, fy=detection_scale, interpolation=cv2.INTER_AREA)
    side = max(1, round(min_size * detection_scale))
    found = classifier.detectMultiScale(
        gray, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(side, side)
    )
    height, width = image.shape[:2]
    boxes = []
    for x, y, w, h in found:
        x0 = min(width - 1, max(0, round(x / detection_scale)))
        y0 = min(height - 1, max(0, round(y / detection_scale)))
        x1 = min(width, round((x + w) / detection_scale))
        y1 = min(height, round((y + h) / detection_scale))
        boxes.append((x0, y0, x1 - x0, y1 - y0))
    return sorted(boxes)


class HaarCascade:
    """Face boxes of JPEG frames with OpenCV's Haar cascade (config ``faces``: cascade,
    scale_factor, min_neighbors, min_size, detection_scale; auto: from min_size), shared by
    worker threads: each thread loads its own cascade, since a CascadeClassifier keeps the
    image pyramid of its current frame inside itself (two threads sharing one got other
    faces than one thread, measured). Frames are decoded straight to gray (the JPEG's luma),
    the same image crop_faces cuts from."""

    def __init__(
        self, *, cascade: str, scale_factor: float, min_neighbors: int, min_size: int, detection_scale
    ):
        self.cascade, self.scale_factor, self.min_neighbors, self.min_size = (
            cascade,
            scale_factor,
            min_neighbors,
            min_size,
        )
        self.detection_scale = resolve_detection_scale(detection_scale, min_size, load_cascade(cascade))
        self._local = threading.local()
        log.info(
            "Haar cascade %s: detection scale %.3g, faces from %d px", cascade, self.detection_scale, min_size
        )

    def __call__(self, data: bytes):
        """Boxes of one JPEG frame; None when it does not decode."""
        if not hasattr(self._local, "classifier"):
            self._local.classifier = load_cascade(self.cascade)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
        if image is None:
            return None
        return detect_in_image(
            image,
            self._local.classifier,
            self.scale_factor,
            self.min_neighbors,
            self.min_size,
            self.detection_scale,
        )


# config faces.detector -> the frame detector, built from that detector's settings
# (options.DETECTOR_SETTINGS and min_size) as keywords.
DETECTORS = {HAAR: HaarCascade, BLAZEFACE: blazeface.BlazeFace}


def detect_faces(*, frames_dir: str | Path, episode: str, detector, threads: int) -> pd.DataFrame:
    """Every face of every frame of one episode (an empty table when there is none).

    ``detector``: a DETECTORS entry built from its settings (JPEG bytes -> boxes, None when
    undecodable). ``threads`` worker threads detect on different frames at once (OpenCV and
    LiteRT release the GIL); the result is the same for any number of threads.
    """
    frames = frame_files(frames_dir)
    log.info("%s: %d frames, %s, %d threads", episode, len(frames), type(detector).__name__, threads)
    rows = []
    previous_digest, previous_boxes, reused = None, [], 0
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for start in range(0, len(frames), CHUNK_FRAMES):
            chunk = frames[start : start + CHUNK_FRAMES]
            data = [path.read_bytes() for _, path in chunk]
            digests = [hashlib.sha1(frame).digest() for frame in data]
            # a still shot (same bytes as the frame before) reuses that frame's faces
            fresh = [
                i for i, digest in enumerate(digests) if digest != (digests[i - 1] if i else previous_digest)
            ]
            found = dict(zip(fresh, pool.map(detector, [data[i] for i in fresh])))
            for i, (second, path) in enumerate(chunk):
                if i in found:
                    if found[i] is None:
                        raise UserError(f"{path}: unreadable frame; rerun extract_frames")
                    previous_boxes = found[i]
                else:
                    reused += 1
                for face_index, (x, y, w, h) in enumerate(previous_boxes):
                    rows.append((episode, second, face_index, x, y, w, h))
            previous_digest = digests[-1]
            done = start + len(chunk)
            log.info(
                "%s: %d/%d frames, %d faces, %d still frames reused, %.1f frames/s",
                episode,
                done,
                len(frames),
                len(rows),
                reused,
                done / max(time.monotonic() - started, 1e-9),
            )
    if not frames:
        log.warning("%s: no frames in %s", episode, frames_dir)
    if not rows:
        log.warning("%s: no face detected in %d frames", episode, len(frames))
    return pd.DataFrame(rows, columns=DETECTION_COLUMNS)


def crop_box(image, x: int, y: int, w: int, h: int, margin: float):
    """The box grown by ``margin`` (a fraction of its side) on each side, clipped."""
    height, width = image.shape[:2]
    dx, dy = round(w * margin), round(h * margin)
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
    return image[y0:y1, x0:x1]


def crop_key(frame_digest: bytes, x: int, y: int, w: int, h: int, margin: float, image_size: int) -> str:
    """A short hash of everything a crop's pixels depend on: the frame's bytes, the box
    and the crop settings (bump CROP_FORMAT when the way of cropping changes)."""
    what = repr((frame_digest, int(x), int(y), int(w), int(h), float(margin), int(image_size), CROP_FORMAT))
    return hashlib.sha1(what.encode()).hexdigest()[:CROP_KEY_LENGTH]


def crop_faces(
    frames_dir: str | Path,
    detections: pd.DataFrame,
    crops_dir: str | Path,
    margin: float | None = None,
    image_size: int | None = None,
) -> pd.DataFrame:
    """Grayscale square crops (PNG) of every detection, and their manifest (settings left
    None: the schema's ``crops`` defaults).

    A crop is named ``{second:06d}_{face_index}_{key}.png``, ``key`` being ``crop_key``.
    A crop of an earlier run in ``crops_dir`` with the same second and key is kept
    (renamed when its face_index moved) instead of cut again, so that after a change of a
    detection setting only the crops of changed boxes are written; crops no detection
    asks for are removed.
    """
    margin, image_size = filled("crops", margin=margin, image_size=image_size).values()
    crops_dir = Path(crops_dir)
    crops_dir.mkdir(parents=True, exist_ok=True)
    # (second, key) -> crop file; older names without a key never match and are removed
    earlier = {
        (path.stem.partition("_")[0], path.stem.rpartition("_")[2]): path for path in crops_dir.glob("*.png")
    }
    records, wanted, reused = [], set(), 0
    seconds = detections.groupby("second", sort=True)
    for done, (second, faces) in enumerate(seconds, start=1):
        frame_path = Path(frames_dir) / f"{int(second):06d}.jpg"
        unreadable = UserError(f"{frame_path}: frame missing or unreadable; rerun extract_frames")
        try:
            data = frame_path.read_bytes()
        except OSError as error:
            raise unreadable from error
        digest, image = hashlib.sha1(data).digest(), None
        for face in faces.itertuples(index=False):
            key = crop_key(digest, face.x, face.y, face.w, face.h, margin, image_size)
            crop_path = crops_dir / f"{int(second):06d}_{face.face_index}_{key}.png"
            previous = earlier.pop((f"{int(second):06d}", key), None)
            if previous is not None:
                if previous != crop_path:
                    previous.rename(crop_path)
                reused += 1
            else:
                if image is None:
                    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
                    if image is None:
                        raise unreadable
                crop = crop_box(image, face.x, face.y, face.w, face.h, margin)
                crop = cv2.resize(crop, (image_size, image_size), interpolation=cv2.INTER_AREA)
                cv2.imwrite(str(crop_path), crop)
            wanted.add(crop_path)
            records.append(face._asdict() | {"crop_path": str(crop_path), "frame_path": str(frame_path)})
        if done % PROGRESS_EVERY == 0:
            log.info("%d/%d frames cropped, %d crops", done, len(seconds), len(records))
    for stale in earlier.values():  # crops of boxes that are gone, or of older settings
        stale.unlink()
    log.info(
        "%d crops in %s: %d written, %d kept from an earlier run",
        len(records),
        crops_dir,
        len(records) - reused,
        reused,
    )
    return pd.DataFrame(records, columns=MANIFEST_COLUMNS)


def _run_detect(args) -> None:
    cv2.setNumThreads(args.threads)  # detectMultiScale's own threads: the rule's share
    settings = {key: getattr(args, key) for key in (*DETECTOR_SETTINGS[args.detector], "min_size")}
    detector = DETECTORS[args.detector](**settings)
    table = detect_faces(
        frames_dir=args.frames, episode=args.episode, detector=detector, threads=args.threads
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output, index=False)


def _run_crop(args) -> None:
    detections = pd.read_csv(args.detections)
    manifest = crop_faces(args.frames, detections, args.outdir, args.margin, args.image_size)
    manifest.to_csv(args.manifest, index=False)


def add_parser(subparsers) -> None:
    detect = subparsers.add_parser("detect-faces", help="face boxes of every frame")
    detect.add_argument("--frames", required=True, help="folder of {second:06d}.jpg")
    detect.add_argument("--episode", required=True, help="episode id")
    detect.add_argument("--output", required=True, help="detections CSV")
    faces, crops = schema_defaults("faces"), schema_defaults("crops")
    detect.add_argument("--detector", choices=sorted(DETECTORS), default=faces["detector"])
    detect.add_argument("--model", default=faces[BLAZEFACE]["model"], help="BlazeFace .tflite")
    detect.add_argument(
        "--min-score", type=float, default=faces[BLAZEFACE]["min_score"], help="BlazeFace score kept"
    )
    detect.add_argument("--cascade", default=faces["cascade"], help="Haar cascade")
    detect.add_argument("--scale-factor", type=float, default=faces["scale_factor"])
    detect.add_argument("--min-neighbors", type=int, default=faces["min_neighbors"])
    detect.add_argument("--min-size", type=int, default=faces["min_size"], help="original pixels")
    detect.add_argument(
        "--detection-scale",
        default=faces["detection_scale"],
        help=f"factor in (0, 1], or {AUTO_SCALE}: derived from --min-size",
    )
    detect.add_argument(
        "--threads", type=int, default=1, help="frames detected at once (and OpenCV's threads)"
    )
    detect.set_defaults(func=_run_detect)

    crop = subparsers.add_parser("crop-faces", help="grayscale square crops + manifest")
    crop.add_argument("--frames", required=True, help="folder of {second:06d}.jpg")
    crop.add_argument("--detections", required=True, help="detections CSV")
    crop.add_argument("--outdir", required=True, help="folder for the PNG crops")
    crop.add_argument("--manifest", required=True, help="manifest CSV")
    crop.add_argument("--margin", type=float, default=crops["margin"])
    crop.add_argument("--image-size", type=int, default=crops["image_size"])
    crop.set_defaults(func=_run_crop)

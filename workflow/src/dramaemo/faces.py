"""Face detection (OpenCV Haar cascade) and face crops, per episode.

detect-faces reads the one-per-second frames of an episode and writes every face found,
as ``episode,second,face_index,x,y,w,h`` in the original frame's pixels, faces of one
frame numbered left to right. crop-faces cuts each box (plus a margin, clipped to the
frame), converts it to grayscale, resizes it to ``image_size`` and writes PNGs and a
manifest.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import cv2
import pandas as pd

from dramaemo.errors import UserError

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


def detect_in_image(
    image, classifier, scale_factor: float, min_neighbors: int, min_size: int,
    detection_scale: float,
) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, w, h) in the image's own pixels, sorted left to right.

    Detection runs on the image resized by ``detection_scale`` (faster on large frames);
    ``min_size`` is in original pixels and is scaled with it.
    """
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    if detection_scale != 1.0:
        gray = cv2.resize(
            gray, None, fx=detection_scale, fy=detection_scale, interpolation=cv2.INTER_AREA
        )
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


def detect_faces(
    frames_dir: str | Path,
    episode: str,
    cascade: str = "haarcascade_frontalface_default.xml",
    scale_factor: float = 1.1,
    min_neighbors: int = 5,
    min_size: int = 40,
    detection_scale: float = 1.0,
) -> pd.DataFrame:
    """Every face of every frame of one episode (an empty table when there is none)."""
    classifier = load_cascade(cascade)
    frames = frame_files(frames_dir)
    rows = []
    previous_digest, previous_boxes, reused = None, [], 0
    started = time.monotonic()
    for done, (second, path) in enumerate(frames, start=1):
        data = path.read_bytes()
        digest = hashlib.sha1(data).digest()
        if digest == previous_digest:  # a still shot: same bytes, same faces
            boxes = previous_boxes
            reused += 1
        else:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise UserError(f"{path}: unreadable frame; rerun extract_frames")
            boxes = detect_in_image(
                image, classifier, scale_factor, min_neighbors, min_size, detection_scale
            )
        previous_digest, previous_boxes = digest, boxes
        for face_index, (x, y, w, h) in enumerate(boxes):
            rows.append((episode, second, face_index, x, y, w, h))
        if done % PROGRESS_EVERY == 0 or done == len(frames):
            log.info(
                "%s: %d/%d frames, %d faces, %d still frames reused, %.1f frames/s",
                episode, done, len(frames), len(rows), reused,
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


def crop_faces(
    frames_dir: str | Path,
    detections: pd.DataFrame,
    crops_dir: str | Path,
    margin: float = 0.0,
    image_size: int = 64,
) -> pd.DataFrame:
    """Grayscale square crops (PNG) of every detection, and their manifest."""
    crops_dir = Path(crops_dir)
    crops_dir.mkdir(parents=True, exist_ok=True)
    for stale in crops_dir.glob("*.png"):
        stale.unlink()
    records = []
    seconds = detections.groupby("second", sort=True)
    for done, (second, faces) in enumerate(seconds, start=1):
        frame_path = Path(frames_dir) / f"{int(second):06d}.jpg"
        image = cv2.imread(str(frame_path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise UserError(f"{frame_path}: frame missing or unreadable; rerun extract_frames")
        for face in faces.itertuples(index=False):
            crop = crop_box(image, face.x, face.y, face.w, face.h, margin)
            crop = cv2.resize(crop, (image_size, image_size), interpolation=cv2.INTER_AREA)
            crop_path = crops_dir / f"{int(second):06d}_{face.face_index}.png"
            cv2.imwrite(str(crop_path), crop)
            records.append(face._asdict() | {
                "crop_path": str(crop_path), "frame_path": str(frame_path)
            })
        if done % PROGRESS_EVERY == 0:
            log.info("%d/%d frames cropped, %d crops", done, len(seconds), len(records))
    log.info("%d crops written to %s", len(records), crops_dir)
    return pd.DataFrame(records, columns=MANIFEST_COLUMNS)


def _run_detect(args) -> None:
    cv2.setNumThreads(args.threads)  # detectMultiScale's threads: the rule's share
    table = detect_faces(
        args.frames, args.episode, args.cascade, args.scale_factor, args.min_neighbors,
        args.min_size, args.detection_scale,
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output, index=False)


def _run_crop(args) -> None:
    detections = pd.read_csv(args.detections)
    manifest = crop_faces(args.frames, detections, args.outdir, args.margin, args.image_size)
    manifest.to_csv(args.manifest, index=False)


def add_parser(subparsers) -> None:
    detect = subparsers.add_parser("detect-faces", help="Haar face boxes of every frame")
    detect.add_argument("--frames", required=True, help="folder of {second:06d}.jpg")
    detect.add_argument("--episode", required=True, help="episode id")
    detect.add_argument("--output", required=True, help="detections CSV")
    detect.add_argument("--cascade", default="haarcascade_frontalface_default.xml")
    detect.add_argument("--scale-factor", type=float, default=1.1)
    detect.add_argument("--min-neighbors", type=int, default=5)
    detect.add_argument("--min-size", type=int, default=40, help="original pixels")
    detect.add_argument("--detection-scale", type=float, default=1.0)
    detect.add_argument("--threads", type=int, default=1, help="OpenCV threads")
    detect.set_defaults(func=_run_detect)

    crop = subparsers.add_parser("crop-faces", help="grayscale square crops + manifest")
    crop.add_argument("--frames", required=True, help="folder of {second:06d}.jpg")
    crop.add_argument("--detections", required=True, help="detections CSV")
    crop.add_argument("--outdir", required=True, help="folder for the PNG crops")
    crop.add_argument("--manifest", required=True, help="manifest CSV")
    crop.add_argument("--margin", type=float, default=0.0)
    crop.add_argument("--image-size", type=int, default=64)
    crop.set_defaults(func=_run_crop)

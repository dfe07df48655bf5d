"""The embedded demo: small episodes built from real photographs, and their annotations.

Two real portraits ship inside installed packages: matplotlib's sample ``grace_hopper.jpg``
and scikit-image's ``astronaut``. Each demo episode is a sequence of scenes (a few seconds
each) in which one or two of these "characters" appear on a plain background, with small
variations per scene (scale, mirror, brightness, position) and, in some scenes, a slight
drift per second. The video is encoded by a real ffmpeg (libx264). The annotation CSV
gives each on-screen face its box (from the photograph's own Haar box, moved with the
paste), an emotion per character and scene and a one-line description per scene.
Each character's emotion in a scene is drawn at random; the description is written from it
(a template of that emotion) and the face is warped to show it (``EXPRESSIONS``: brows,
eyes and mouth moved the way that emotion moves them, a caricature drawn on the real
photograph), so both face and text support the label and a model can learn it.
**Numbers computed on the demo mean nothing**: two faces, seven caricatures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from dramaemo import EMOTIONS
from dramaemo.core.config import filled, schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.dataset.annotations import ANNOTATION_COLUMNS

log = logging.getLogger(__name__)

CASCADE = "haarcascade_frontalface_default.xml"
# How much of the photograph around the face is pasted, as a fraction of the face side.
CARD_MARGIN = 0.6
SCENE_SECONDS = (3, 6)  # shortest and longest scene
FACE_SIDE = (0.26, 0.36)  # face side as a fraction of the frame height
EMPTY_SCENE_SHARE = 0.1  # scenes with nobody on screen
BOXLESS_SHARE = 0.3  # one-face rows written without a box (the format allows it)

TEMPLATES = {
    "Angry": [
        "{name} slams the file on the desk {place}.",
        "{name} shouts at the manager {place}.",
        "{name} refuses to shake hands {place}.",
    ],
    "Disgust": [
        "{name} pushes away the cold coffee {place}.",
        "{name} smells the old fish {place}.",
        "{name} watches a colleague take credit {place}.",
    ],
    "Fear": [
        "{name} hears footsteps behind {place}.",
        "{name} waits for the audit results {place}.",
        "{name} sees the elevator lights flicker {place}.",
    ],
    "Happy": [
        "{name} gets the promotion {place}.",
        "{name} laughs with an old friend {place}.",
        "{name} opens a birthday present {place}.",
    ],
    "Neutral": [
        "{name} reads the morning report {place}.",
        "{name} waits for the bus {place}.",
        "{name} types an email {place}.",
    ],
    "Sad": [
        "{name} packs up the desk {place}.",
        "{name} reads the farewell letter {place}.",
        "{name} sits alone after the meeting {place}.",
    ],
    "Surprise": [
        "{name} finds a gift on the chair {place}.",
        "{name} sees the boss dancing {place}.",
        "{name} hears the unexpected news {place}.",
    ],
}
# Each emotion's caricature: points of the face (u, v as fractions of the face box, from
# its top-left) moved by (du, dv) fractions of the face side, with a Gaussian falloff of
# EXPRESSION_REACH. Mirrored on both halves of the face unless the emotion is one-sided.
EXPRESSION_REACH = 0.09
EXPRESSIONS = {
    "Neutral": [],
    "Happy": [((0.32, 0.78), (-0.03, -0.07)), ((0.30, 0.62), (0.0, -0.04))],
    "Sad": [((0.32, 0.78), (0.0, 0.07)), ((0.40, 0.28), (0.0, -0.05))],
    "Surprise": [((0.5, 0.86), (0.0, 0.1)), ((0.33, 0.28), (0.0, -0.07)), ((0.33, 0.42), (0.0, 0.03))],
    "Angry": [((0.40, 0.30), (0.03, 0.07)), ((0.5, 0.80), (0.0, -0.04))],
    "Fear": [((0.40, 0.28), (0.0, -0.06)), ((0.30, 0.80), (-0.06, 0.02)), ((0.33, 0.40), (0.0, -0.03))],
    "Disgust": [((0.40, 0.70), (0.0, -0.06)), ((0.45, 0.55), (0.0, -0.04)), ((0.35, 0.32), (0.0, 0.05))],
}
ONE_SIDED = {"Disgust"}  # a sneer lifts one side of the lip

PLACES = (
    "in the office",
    "at the station",
    "in the rain",
    "on the rooftop",
    "in the canteen",
    "at home",
    "in the corridor",
    "at the party",
)


@dataclass
class Character:
    """A face card: part of a real photograph around its face, and the face box in it."""

    name: str
    card: np.ndarray  # RGB
    face: tuple[int, int, int, int]  # x, y, w, h inside the card


def load_characters() -> list[Character]:
    """The two real portraits shipped by matplotlib and scikit-image, as face cards."""
    import matplotlib.cbook
    import skimage.data
    from matplotlib.image import imread

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        grace = np.asarray(imread(handle, format="jpg"))[..., :3]
    photos = {"Grace": grace, "Eileen": skimage.data.astronaut()}
    classifier = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / CASCADE))
    characters = []
    for name, photo in photos.items():
        gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
        faces = classifier.detectMultiScale(gray, 1.1, 5, minSize=(40, 40))
        if len(faces) == 0:
            raise UserError(f"demo photograph of {name}: no face found by {CASCADE}")
        x, y, w, h = max(faces, key=lambda box: box[2] * box[3])
        dx, dy = round(w * CARD_MARGIN), round(h * CARD_MARGIN)
        x0, y0 = max(0, x - dx), max(0, y - dy)
        x1, y1 = min(photo.shape[1], x + w + dx), min(photo.shape[0], y + h + dy)
        characters.append(Character(name, photo[y0:y1, x0:x1].copy(), (x - x0, y - y0, w, h)))
    return characters


def express(character: Character, emotion: str) -> Character:
    """The character's card with the face warped into ``emotion``'s caricature (a smooth
    displacement field, so the photograph's texture stays real and Haar still finds it)."""
    moves = EXPRESSIONS[emotion]
    if not moves:
        return character
    fx, fy, fw, fh = character.face
    height, width = character.card.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    u, v = (xs - fx) / fw, (ys - fy) / fh
    shift_u, shift_v = np.zeros_like(u), np.zeros_like(v)
    for (cu, cv), (du, dv) in moves:
        sides = [(cu, du)] if emotion in ONE_SIDED or cu == 0.5 else [(cu, du), (1 - cu, -du)]
        for side_u, side_du in sides:
            weight = np.exp(-((u - side_u) ** 2 + (v - cv) ** 2) / (2 * EXPRESSION_REACH**2))
            shift_u += weight * side_du
            shift_v += weight * dv
    # Backward map: each output pixel samples where the moved point came from.
    map_x, map_y = (xs - shift_u * fw).astype(np.float32), (ys - shift_v * fh).astype(np.float32)
    card = cv2.remap(character.card, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return Character(character.name, card, character.face)


def background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A plain vertical gradient between two random muted colours, plus a little grain."""
    top, bottom = rng.integers(30, 200, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    image = top * (1 - ramp) + bottom * ramp
    image = np.broadcast_to(image, (height, width, 3)) + rng.normal(0, 4, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def place_card(
    frame, character: Character, face_side: int, left: int, top: int, mirror: bool, brightness: float
) -> tuple[int, int, int, int]:
    """Paste a scaled card with its top-left at (left, top); the face box in the frame."""
    scale = face_side / character.face[2]
    card = cv2.resize(character.card, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    fx, fy, fw, fh = (round(v * scale) for v in character.face)
    if mirror:
        card = card[:, ::-1]
        fx = card.shape[1] - fx - fw
    card = np.clip(card.astype(np.float32) * brightness, 0, 255).astype(np.uint8)
    height, width = frame.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + card.shape[1]), min(height, top + card.shape[0])
    frame[y0:y1, x0:x1] = card[y0 - top : y1 - top, x0 - left : x1 - left]
    return left + fx, top + fy, fw, fh


def plan_scenes(rng: np.random.Generator, seconds: int, characters, labels) -> list[dict]:
    """Scenes covering the episode: who is on screen, how, which emotion, which text."""
    scenes, start = [], 0
    faces = {}  # (name, emotion) -> the expressed card, warped once
    while start < seconds:
        length = min(int(rng.integers(SCENE_SECONDS[0], SCENE_SECONDS[1] + 1)), seconds - start)
        if rng.random() < EMPTY_SCENE_SHARE:
            cast = []
        else:
            count = 1 if rng.random() < 0.6 else 2
            cast = [characters[i] for i in rng.permutation(len(characters))[:count]]
        roles = []
        for character in cast:
            emotion = next(labels)
            if (character.name, emotion) not in faces:
                faces[character.name, emotion] = express(character, emotion)
            template = TEMPLATES[emotion][int(rng.integers(len(TEMPLATES[emotion])))]
            place = PLACES[int(rng.integers(len(PLACES)))]
            roles.append(
                {
                    "character": faces[character.name, emotion],
                    "emotion": emotion,
                    "description": template.format(name=character.name, place=place),
                    "side": float(rng.uniform(*FACE_SIDE)),
                    "mirror": bool(rng.random() < 0.5),
                    "brightness": float(rng.uniform(0.8, 1.15)),
                    "boxless": bool(rng.random() < BOXLESS_SHARE),
                }
            )
        scenes.append(
            {
                "start": start,
                "length": length,
                "roles": roles,
                "drift": bool(rng.random() < 0.5),
                "seed": int(rng.integers(2**31)),
            }
        )
        start += length
    return scenes


def label_cycle(rng: np.random.Generator):
    """Emotions in shuffled rounds of all seven, so every class shows up in several scenes."""
    while True:
        yield from (EMOTIONS[i] for i in rng.permutation(len(EMOTIONS)))


def render_episode(
    episode: str,
    path: Path,
    seconds: int,
    width: int,
    height: int,
    fps: int,
    rng: np.random.Generator,
    characters,
    labels,
) -> list[dict]:
    """Encode one demo episode with ffmpeg (libx264); return its annotation rows."""
    import ffmpeg

    from dramaemo.video.frames import ffmpeg_exe

    path.parent.mkdir(parents=True, exist_ok=True)
    process = (
        ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=fps)
        .output(
            str(path),
            vcodec="libx264",
            pix_fmt="yuv420p",
            crf=20,
            preset="veryfast",
            g=fps * 2,
            loglevel="error",
        )
        .global_args("-hide_banner", "-nostdin")
        .overwrite_output()
        .run_async(pipe_stdin=True, cmd=ffmpeg_exe())
    )
    rows = []
    for scene in plan_scenes(rng, seconds, characters, labels):
        scene_rng = np.random.default_rng(scene["seed"])
        base = background(scene_rng, width, height)
        slots = np.linspace(0, width, len(scene["roles"]) + 1)
        anchors = []
        for slot, role in enumerate(scene["roles"]):
            side = round(role["side"] * height)
            card_w = round(role["character"].card.shape[1] * side / role["character"].face[2])
            low, high = int(slots[slot]), max(int(slots[slot]), int(slots[slot + 1]) - card_w)
            anchors.append(
                (int(scene_rng.integers(low, high + 1)), int(scene_rng.integers(0, max(1, height // 8))))
            )
        for second in range(scene["start"], scene["start"] + scene["length"]):
            frame = base.copy()
            drift = (second - scene["start"]) * 2 if scene["drift"] else 0
            for role, (left, top) in zip(scene["roles"], anchors):
                x, y, w, h = place_card(
                    frame,
                    role["character"],
                    round(role["side"] * height),
                    left + drift,
                    top,
                    role["mirror"],
                    role["brightness"],
                )
                one_face = len(scene["roles"]) == 1
                box = ("", "", "", "") if one_face and role["boxless"] else (x, y, w, h)
                rows.append(
                    dict(
                        zip(ANNOTATION_COLUMNS, (episode, second, *box, role["emotion"], role["description"]))
                    )
                )
            process.stdin.write(np.ascontiguousarray(frame).tobytes() * fps)
        log.info("%s: %d/%d seconds rendered", episode, scene["start"] + scene["length"], seconds)
    process.stdin.close()
    if process.wait() != 0:
        raise UserError(f"{path}: ffmpeg failed to encode the demo episode")
    return rows


def build_demo(
    outdir: str | Path,
    annotations: str | Path,
    episodes: int | None = None,
    seconds: int | None = None,
    seed: int | None = None,
    width: int | None = None,
    height: int | None = None,
    fps: int | None = None,
) -> pd.DataFrame:
    """Write ``demoNN.mp4`` episodes into ``outdir`` and their annotation CSV (settings
    left None: the schema's ``demo`` defaults)."""
    episodes, seconds, seed, width, height, fps = filled(
        "demo", episodes=episodes, seconds=seconds, seed=seed, width=width, height=height, fps=fps
    ).values()
    rng = np.random.default_rng(seed)
    characters = load_characters()
    labels = label_cycle(rng)
    rows = []
    for number in range(1, episodes + 1):
        episode = f"demo{number:02d}"
        rows += render_episode(
            episode, Path(outdir) / f"{episode}.mp4", seconds, width, height, fps, rng, characters, labels
        )
    table = pd.DataFrame(rows, columns=ANNOTATION_COLUMNS)
    Path(annotations).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(annotations, index=False)
    log.info("%d annotated faces in %d demo episodes -> %s", len(table), episodes, annotations)
    return table


def _run(args) -> None:
    build_demo(
        args.outdir,
        args.annotations,
        args.episodes,
        args.seconds,
        args.seed,
        args.width,
        args.height,
        args.fps,
    )


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "build-demo", help="demo episodes from real photographs + their annotation CSV"
    )
    parser.add_argument("--outdir", required=True, help="folder for demoNN.mp4")
    parser.add_argument("--annotations", required=True, help="annotation CSV to write")
    defaults = schema_defaults("demo")
    for option in ("episodes", "seconds", "seed", "width", "height", "fps"):
        parser.add_argument(f"--{option}", type=int, default=defaults[option])
    parser.set_defaults(func=_run)

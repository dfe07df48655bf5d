"""A story in, scenes out: read a story file and work out what each scene needs.

A story is plain text or Markdown (one scene per paragraph; Markdown headings and HTML
comments are not scenes) or a CSV/YAML list of scenes with the fields of ``SCENE_FIELDS``. For each
scene the parse records who is on screen (``faces``: a count from words such as "alone",
"a couple", "two people"; ``characters``: names given or found in the text among the
index's cast), which emotions it needs (a distribution over EMOTIONS: an explicit
``emotion`` field, else emotion words in the text, else the trained text model applied to
the text) and which it excludes ("not angry", "without fear"). ``parse_table`` shows the
parse per scene, so a user sees why a clip was chosen.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dramaemo import EMOTIONS
from dramaemo.core.errors import UserError

SCENE_FIELDS = ("text", "seconds", "characters", "emotion", "faces")  # CSV columns, YAML keys
MAX_STORY_BYTES = 1_000_000  # a novel's worth of scenes; larger is not a story file
STORY_SUFFIXES = {".txt": "text", ".md": "text", ".markdown": "text", ".csv": "csv", ".yaml": "yaml"}
STORY_SUFFIXES[".yml"] = "yaml"

# Where a scene's emotion distribution came from (parse_table's emotion_source).
EMOTION_SOURCES = ("field", "words", "text model")

# Words that name an emotion (lower case, whole words; a trailing * matches any ending).
EMOTION_WORDS = {
    "Angry": ["angry", "angrily", "anger*", "furious*", "rage", "enraged", "irritated", "annoyed", "mad"],
    "Disgust": ["disgust*", "revolted", "repulsed", "grossed"],
    "Fear": ["fear*", "afraid", "frighten*", "scared", "terrified", "terror", "anxious*", "nervous*"],
    "Happy": [
        "happy",
        "happily",
        "happiness",
        "joy*",
        "glad",
        "cheerful*",
        "pleasant*",
        "delighted",
        "laugh*",
    ],
    "Neutral": ["neutral", "calm*", "expressionless", "impassive*"],
    "Sad": ["sad", "sadly", "sadness", "unhappy", "tearful*", "grief", "griev*", "mourn*", "sorrow*"],
    "Surprise": ["surprise*", "astonish*", "shocked", "amazed", "startled", "stunned"],
}
NEGATIONS = {"not", "no", "never", "without", "nobody", "isn't", "aren't", "wasn't", "don't", "doesn't"}
NEGATION_REACH = 3  # an emotion word up to this many words after a negation is excluded

NAMED_FACES = "characters named"  # faces_source of a floor from the names a scene gives

# Face counts from words: the first phrase found wins (longer phrases listed first).
FACE_PHRASES = [
    (r"\b(?:alone|by (?:herself|himself|themselves)|on (?:her|his) own|a lone)\b", 1),
    (r"\b(?:three people|three of them|trio)\b", 3),
    (r"\b(?:two people|two of them|a couple|the couple|both of them|a pair|the pair|the two)\b", 2),
]


@dataclass
class Scene:
    """One scene of a story as the user wrote it (fields left None were not given)."""

    number: int  # 1-based, story order
    text: str
    seconds: float | None = None
    characters: list[str] = field(default_factory=list)
    emotion: str | None = None
    faces: int | None = None
    where: str = ""  # file and row or paragraph, for messages


@dataclass
class SceneNeeds:
    """What a scene needs from the footage, and why (parse_table shows it)."""

    scene: Scene
    distribution: np.ndarray  # over EMOTIONS, sums to 1
    emotion_source: str  # one of EMOTION_SOURCES
    excluded: list[str]
    faces: int | None
    faces_source: str  # "field", the phrase found, "characters named", or ""
    characters: list[str]

    @property
    def faces_at_least(self) -> bool:
        """Whether ``faces`` is a floor, not a count: a scene that names two people does not
        exclude a third face (a passer-by, the crowd behind them); a count the user gave or
        wrote is exact."""
        return self.faces_source == NAMED_FACES


def read_story(path) -> list[Scene]:
    """The scenes of a story file; UserError naming the file (and row) for a bad one."""
    path = Path(path)
    kind = STORY_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UserError(f"{path}: a story is {', '.join(sorted(STORY_SUFFIXES))}, not {path.suffix!r}")
    if not path.is_file():
        raise UserError(f"{path}: no such story file; check author.story in the config")
    size = path.stat().st_size
    if size > MAX_STORY_BYTES:
        raise UserError(
            f"{path}: {size:,} bytes, above the {MAX_STORY_BYTES:,} bytes a story may have; split it into "
            "several stories"
        )
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 (byte {error.start}); re-save the story as UTF-8") from None
    scenes = {"text": _text_scenes, "csv": _csv_scenes, "yaml": _yaml_scenes}[kind](content, path)
    if not scenes:
        raise UserError(f"{path}: no scene in the story (one paragraph or row per scene)")
    return scenes


def _text_scenes(content: str, path: Path) -> list[Scene]:
    scenes = []
    # HTML comments are notes to the reader, not scenes (Markdown renders them invisible)
    content = re.sub(r"<!--.*?-->", "", content.replace("\r\n", "\n"), flags=re.DOTALL)
    paragraphs = re.split(r"\n\s*\n", content)
    for number, paragraph in enumerate(paragraphs, start=1):
        lines = [line for line in paragraph.strip().splitlines() if not line.lstrip().startswith("#")]
        text = " ".join(line.strip() for line in lines).strip()
        if text:
            scenes.append(Scene(len(scenes) + 1, text, where=f"{path}, paragraph {number}"))
    return scenes


def _csv_scenes(content: str, path: Path) -> list[Scene]:
    reader = csv.DictReader(io.StringIO(content))
    if not reader.fieldnames or "text" not in reader.fieldnames:
        raise UserError(
            f"{path}: a story CSV needs a 'text' column (optional: {', '.join(SCENE_FIELDS[1:])})"
        )
    unknown = [name for name in reader.fieldnames if name not in SCENE_FIELDS]
    if unknown:
        raise UserError(f"{path}: unknown column {unknown[0]!r}; the columns are {', '.join(SCENE_FIELDS)}")
    # row numbers as a spreadsheet shows them: the header is row 1
    return [_scene(row, number, f"{path}, row {number + 1}") for number, row in enumerate(reader, start=1)]


def _yaml_scenes(content: str, path: Path) -> list[Scene]:
    import yaml

    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML ({error})") from None
    if isinstance(data, dict):
        data = data.get("scenes")
    if data is None:
        return []
    if not isinstance(data, list):
        raise UserError(f"{path}: a YAML story is a list of scenes (or a 'scenes:' list)")
    scenes = []
    for number, entry in enumerate(data, start=1):
        where = f"{path}, scene {number}"
        if isinstance(entry, str):
            entry = {"text": entry}
        if not isinstance(entry, dict):
            raise UserError(f"{where}: a scene is a text or a mapping with {', '.join(SCENE_FIELDS)}")
        unknown = [key for key in entry if key not in SCENE_FIELDS]
        if unknown:
            raise UserError(
                f"{where}: unknown field {unknown[0]!r}; the fields are {', '.join(SCENE_FIELDS)}"
            )
        scenes.append(_scene(entry, number, where))
    return scenes


def _scene(entry: dict, number: int, where: str) -> Scene:
    """A Scene from one CSV row or YAML mapping, every field checked."""
    text = str(entry.get("text") or "").strip()
    if not text:
        raise UserError(f"{where}: empty scene text")

    def number_of(name, kind, low):
        value = entry.get(name)
        if value is None or str(value).strip() == "":
            return None
        try:
            value = kind(value)
        except (TypeError, ValueError):
            raise UserError(f"{where}: {name} {entry.get(name)!r} is not a number") from None
        if value < low:
            raise UserError(f"{where}: {name} {value} must be {low} or more")
        return value

    emotion = entry.get("emotion")
    if emotion is not None and str(emotion).strip():
        by_lower = {e.lower(): e for e in EMOTIONS}
        if str(emotion).strip().lower() not in by_lower:
            raise UserError(f"{where}: unknown emotion {emotion!r}; use one of {', '.join(EMOTIONS)}")
        emotion = by_lower[str(emotion).strip().lower()]
    else:
        emotion = None
    characters = entry.get("characters") or []
    if isinstance(characters, str):
        characters = [name.strip() for name in re.split(r"[;,]", characters) if name.strip()]
    return Scene(
        number,
        text,
        seconds=number_of("seconds", float, 0.0),
        characters=[str(name) for name in characters],
        emotion=emotion,
        faces=number_of("faces", int, 1),
        where=where,
    )


def _matches(word: str, pattern: str) -> bool:
    return word.startswith(pattern[:-1]) if pattern.endswith("*") else word == pattern


def emotion_words(text: str) -> tuple[list[str], list[str]]:
    """(emotions named in ``text``, emotions named after a negation), in EMOTIONS order."""
    words = re.findall(r"[a-z']+", text.lower())
    named, negated = set(), set()
    for position, word in enumerate(words):
        for emotion, patterns in EMOTION_WORDS.items():
            if any(_matches(word, pattern) for pattern in patterns):
                before = words[max(0, position - NEGATION_REACH) : position]
                (negated if any(w in NEGATIONS or w.endswith("n't") for w in before) else named).add(emotion)
    order = [e for e in EMOTIONS if e in named], [e for e in EMOTIONS if e in negated]
    return order


def face_count(text: str) -> tuple[int | None, str]:
    """(face count, the phrase that gave it) from words such as "alone" or "a couple"."""
    lowered = text.lower()
    for pattern, count in FACE_PHRASES:
        found = re.search(pattern, lowered)
        if found:
            return count, found.group(0)
    return None, ""


def cast_in(text: str, cast: list[str]) -> list[str]:
    """The cast names that occur in ``text`` as whole words (any case), in cast order."""
    return [name for name in cast if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE)]


def scene_needs(
    scenes: list[Scene], *, cast: list[str], text_model: Callable[[list[str]], np.ndarray] | None
) -> list[SceneNeeds]:
    """What each scene needs. ``cast``: the character names the index knows (empty where
    it knows none); ``text_model``: texts -> (N, 7) probabilities, for the scenes whose
    emotion is neither given nor named (None: those scenes stop with a message)."""
    by_lower = {name.lower(): name for name in cast}
    parsed, model_rows = [], []
    for scene in scenes:
        unknown = [name for name in scene.characters if name.lower() not in by_lower]
        if unknown:
            known = ", ".join(cast) if cast else "none (the index has no characters)"
            raise UserError(f"{scene.where}: unknown character {unknown[0]!r}; known characters: {known}")
        characters = [by_lower[name.lower()] for name in scene.characters] or cast_in(scene.text, cast)
        named, excluded = emotion_words(scene.text)
        distribution = np.zeros(len(EMOTIONS))
        if scene.emotion:
            distribution[EMOTIONS.index(scene.emotion)] = 1.0
            source = "field"
        elif named:
            distribution[[EMOTIONS.index(e) for e in named]] = 1.0 / len(named)
            source = "words"
        else:
            source = "text model"
            model_rows.append(len(parsed))
        if scene.faces is not None:
            faces, faces_source = scene.faces, "field"
        else:
            faces, faces_source = face_count(scene.text)
            if faces is None and len(characters) > 1:
                faces, faces_source = len(characters), NAMED_FACES
        parsed.append(SceneNeeds(scene, distribution, source, excluded, faces, faces_source, characters))
    if model_rows:
        if text_model is None:
            raise UserError(
                f"{parsed[model_rows[0]].scene.where}: no emotion given or named and no text model to read it"
            )
        probabilities = np.asarray(text_model([parsed[i].scene.text for i in model_rows]), dtype=float)
        for row, p in zip(model_rows, probabilities):
            keep = np.array([e not in parsed[row].excluded for e in EMOTIONS], dtype=float)
            p = p * keep if (p * keep).sum() > 0 else p
            parsed[row].distribution = p / p.sum()
    return parsed


def parse_table(needs: list[SceneNeeds]):
    """One row per scene: its text and what the parse made of it (scenes.csv)."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "scene": need.scene.number,
                "text": need.scene.text,
                "seconds": need.scene.seconds,
                "faces": need.faces,
                "faces_from": need.faces_source,
                "characters": ";".join(need.characters),
                "emotion": EMOTIONS[int(np.argmax(need.distribution))],
                "emotion_from": need.emotion_source,
                "excluded": ";".join(need.excluded),
                **{f"want_{e}": round(float(p), 4) for e, p in zip(EMOTIONS, need.distribution)},
            }
            for need in needs
        ]
    )

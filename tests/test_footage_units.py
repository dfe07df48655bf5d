"""Footage index pieces on crafted inputs: subtitles, text sources, tracks, shots,
smoothing and segments, GloVe tokens and MiniLM vectors for new text, faceless seconds,
search queries."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from dramaemo import EMOTIONS
from dramaemo.cli import main
from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.core.subtitle_files import find_subtitles
from dramaemo.footage import (
    INDEX_COLUMNS,
    NO_FACE,
    PROBABILITIES,
    SEGMENT_COLUMNS,
    clips,
    predict,
    search,
    segments,
    shots,
    subtitles,
    tracks,
)
from dramaemo.text import glove as text
from dramaemo.video.frames import ffmpeg_exe

# ---------------------------------------------------------------------------- subtitles
SRT = """1
00:00:01,000 --> 00:00:03,000
I got the job!

2
00:00:02,500 --> 00:00:04,000
Congratulations,
Geu-rae.

3
00:00:05,000 --> 00:00:06,000


4
00:00:07,000 --> 00:00:08,000
Caf\u00e9 au lait?
"""

# config index.subtitles (the schema's): how index_episode reads subtitle files
SUBTITLES = schema_defaults("index", "subtitles")
READING = {key: SUBTITLES[key] for key in ("encoding", "language")}  # what read_cues takes
# config index's tracking, smoothing and batch settings (the schema's), as index_episode takes them
INDEXING = {
    **SUBTITLES,
    **{key: schema_defaults("index", "tracks")[key] for key in ("min_iou", "centre_gate", "max_gap")},
    "window": schema_defaults("index")["smoothing_seconds"],
    "batch_size": schema_defaults("index")["batch_size"],
}

# The MiniLM branch's config settings (the schema's), as training passes them.
MINILM = {
    **schema_defaults("train", "minilm"),
    "feature_units": schema_defaults("train", "fusion")["feature_units"],
}


def test_subtitles_overlapping_empty_and_non_utf8_cues(tmp_path):
    utf8 = tmp_path / "a.srt"
    utf8.write_text(SRT, encoding="utf-8")
    latin = tmp_path / "b.srt"
    latin.write_bytes(SRT.encode("cp1252"))  # an older SRT: not UTF-8
    for path in (utf8, latin):
        cues, _ = subtitles.read_cues(path, **READING)
        assert len(cues) == 4
        found = subtitles.text_at(cues, [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 7.5])
        assert found == [
            "",  # before the first cue
            "I got the job!",
            "I got the job! Congratulations, Geu-rae.",  # two cues overlap: both, in order
            "Congratulations, Geu-rae.",
            "",  # between cues
            "",  # an empty cue gives no text
            "Caf\u00e9 au lait?",  # cp1252 bytes decoded, not mangled
        ]
        # a context window: every cue within 1 s of the moment, in time order
        assert subtitles.text_at(cues, [0.5, 4.5], context_seconds=1.0) == [
            "I got the job!",
            "Congratulations, Geu-rae.",
        ]


def test_raw_cues_keep_their_markup_and_the_text_loses_it(tmp_path):
    srt = tmp_path / "ep.srt"
    srt.write_text(
        "1\n00:00:01,000 --> 00:00:03,000\n<i>I got</i> {\\an8}the job!\n\n"
        '2\n00:00:05,000 --> 00:00:06,000\n<font color="red">Run.</font>\n',
        encoding="utf-8",
    )
    cues, _ = subtitles.read_cues(srt, **READING)
    assert subtitles.text_at(cues, [2.0, 5.5]) == ["I got the job!", "Run."]
    # raw: the cue's markup as pysubs2 holds it (SubRip's <i> as ASS's {\\i1}; <font> it drops)
    assert subtitles.raw_at(cues, [2.0, 5.5]) == ["{\\i1}I got{\\i0} {\\an8}the job!", "Run."]
    # with context the raw column lists each cue, one a line
    assert subtitles.raw_at(cues, [4.0], context_seconds=1.5) == ["{\\i1}I got{\\i0} {\\an8}the job!\nRun."]


def test_subtitle_file_beside_the_video(tmp_path):
    video = tmp_path / "ep01.mp4"
    video.touch()
    assert find_subtitles(video, "en") is None
    (tmp_path / "ep01.fr.srt").touch()
    assert find_subtitles(video, "en").name == "ep01.fr.srt"
    (tmp_path / "ep01.en.srt").touch()
    assert find_subtitles(video, "en").name == "ep01.en.srt"
    (tmp_path / "ep01.srt").touch()
    assert find_subtitles(video, "en").name == "ep01.srt"
    assert find_subtitles(tmp_path / "ep010.mp4", "en") is None


def test_text_source_annotation_then_subtitle_then_none():
    annotated = pd.DataFrame(
        {
            "second": [1.0, 1.0],
            "x": [0.0, 100.0],
            "y": [0.0, 0.0],
            "w": [50.0, 50.0],
            "h": [50.0, 50.0],
            "description": ["left face", "right face"],
        }
    )
    faces = pd.DataFrame(
        {
            "second": [1, 1, 2, 3],
            "x": [110.0, 5.0, 5.0, np.nan],
            "y": [5.0, 5.0, 5.0, np.nan],
            "w": [30.0, 30.0, 30.0, np.nan],
            "h": [30.0, 30.0, 30.0, np.nan],
        }
    )
    texts, sources = subtitles.face_texts(faces, annotated, {1: "said at 1", 2: "said at 2"})
    assert texts == ["right face", "left face", "said at 2", ""]
    assert sources == ["annotation", "annotation", "subtitle", "none"]


# ---------------------------------------------------------------------------- tracks
def _faces(rows):
    return pd.DataFrame(rows, columns=["second", "shot", "x", "y", "w", "h"])


def test_tracks_link_across_seconds_and_never_across_a_cut():
    faces = _faces(
        [
            (0, 0, 10, 10, 50, 50),
            (0, 0, 200, 10, 50, 50),  # two people
            (1, 0, 14, 12, 50, 50),
            (1, 0, 204, 10, 52, 52),  # both moved a little
            (2, 0, 18, 12, 50, 50),  # the right one left
            (3, 1, 18, 12, 50, 50),  # same place, but after a cut
        ]
    )
    ids = tracks.link_tracks(faces, min_iou=0.3, centre_gate=0.5)
    assert ids[0] == ids[2] == ids[4]
    assert ids[1] == ids[3]
    assert ids[0] != ids[1]
    assert ids[5] not in ids[:5]


def test_tracks_match_by_assignment_not_order_and_respect_the_gap():
    faces = _faces(
        [
            (0, 0, 10, 10, 50, 50),
            (0, 0, 100, 10, 50, 50),
            (1, 0, 100, 10, 50, 50),
            (1, 0, 12, 10, 50, 50),  # listed in the other order
            (3, 0, 12, 10, 50, 50),  # missed at second 2
        ]
    )
    no_gap = tracks.link_tracks(faces.sample(frac=1, random_state=1).sort_index())
    assert no_gap[0] == no_gap[3] and no_gap[1] == no_gap[2]
    assert no_gap[4] not in no_gap[:4]
    with_gap = tracks.link_tracks(faces, max_gap=1)
    assert with_gap[4] == with_gap[0]
    # far apart faces (no overlap, centres beyond the gate) are not linked
    apart = tracks.link_tracks(_faces([(0, 0, 0, 0, 40, 40), (1, 0, 300, 0, 40, 40)]))
    assert apart[0] != apart[1]


# ---------------------------------------------------------------------------- shots
@pytest.fixture(scope="module")
def two_shot_video(tmp_path_factory):
    """2 s of a red frame, then 2 s of a blue one with a moving box (a hard cut at 2 s)."""
    path = tmp_path_factory.mktemp("shots") / "cut.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=10:duration=2",
            "-f",
            "lavfi",
            "-i",
            "color=c=navy:size=160x120:rate=10:duration=2",
            "-filter_complex",
            "[0:v][1:v]concat=n=2:v=1[v]",
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


@pytest.mark.parametrize("method", shots.METHODS)
def test_shot_cut_found_and_seconds_assigned(two_shot_video, method):
    table = shots.detect_shots(two_shot_video, method, min_shot_seconds=0.5)
    assert len(table) == 2
    assert table["start"].iloc[1] == pytest.approx(2.0, abs=0.11)
    assert list(shots.shot_of_times(table, [0.5, 1.5, 2.5, 3.5])) == [0, 0, 1, 1]


@pytest.fixture(scope="module")
def demo_episode(tmp_path_factory) -> Path:
    """A real demo episode (real portraits on moving backgrounds, scene cuts)."""
    from dramaemo.dataset.demo import build_demo

    folder = tmp_path_factory.mktemp("demo")
    build_demo(
        folder, folder / "annotations.csv", episodes=1, seconds=30, seed=3, width=320, height=240, fps=10
    )
    return next(folder.rglob("*.mp4"))


def test_one_decode_gives_the_frames_and_the_same_shot_cuts_as_a_decode_of_its_own(demo_episode, tmp_path):
    from dramaemo.video.frames import extract_frames

    extract_frames(demo_episode, tmp_path / "alone", threads=2)
    extract_frames(demo_episode, tmp_path / "both", threads=2, scene_scores=tmp_path / "scenes.csv")
    alone, both = sorted((tmp_path / "alone").glob("*.jpg")), sorted((tmp_path / "both").glob("*.jpg"))
    assert [p.name for p in alone] == [p.name for p in both] and len(alone) == 30
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(alone, both))  # the very same frames
    for threshold in (0.1, 0.2, 0.4):
        decoded = shots.cuts_ffmpeg(demo_episode, threshold, 0.5)
        assert shots.cuts_from_scores(tmp_path / "scenes.csv", threshold, 0.5) == decoded, threshold
    assert len(shots.cuts_ffmpeg(demo_episode, 0.2, 0.5)) >= 2  # the demo's scenes are cut
    table = shots.detect_shots(demo_episode, "ffmpeg", 0.2, 0.5, scores=tmp_path / "scenes.csv")
    assert table.equals(shots.detect_shots(demo_episode, "ffmpeg", 0.2, 0.5))


# ---------------------------------------------------------------------------- segments
def test_smoothing_removes_a_one_second_flip_and_keeps_rows_summing_to_one():
    probabilities = np.tile(np.eye(len(EMOTIONS), dtype=np.float32)[3] * 0.8 + 0.2 / len(EMOTIONS), (9, 1))
    probabilities[4] = np.eye(len(EMOTIONS))[0] * 0.8 + 0.2 / len(EMOTIONS)  # one odd frame
    smoothed = segments.smooth(probabilities, 3)
    assert np.allclose(smoothed.sum(axis=1), 1.0, atol=1e-5)
    assert (smoothed.argmax(axis=1) == 3).all()
    assert np.array_equal(segments.smooth(probabilities, 1), probabilities)


def hysteresis(series, low=0.35, high=0.5):
    """episode_segments' thresholding of one emotion's series."""
    from skimage.filters import apply_hysteresis_threshold

    return apply_hysteresis_threshold(series, low, high)


def test_runs_hysteresis_gap_closing_and_minimum_duration():
    series = np.array([0.1, 0.4, 0.6, 0.4, 0.1, 0.45, 0.55, 0.2, 0.2, 0.9, 0.1, 0.7, 0.7, 0.7])
    # 0.4 alone never starts a run; 0.6 starts one that goes on over 0.4 (hysteresis)
    assert segments.runs(hysteresis(series), max_gap=0, min_seconds=1) == [
        (1, 4),
        (5, 7),
        (9, 10),
        (11, 14),
    ]
    # one-second gaps closed: 5-6 and 9 and 11-13 join, 1-3 stays apart (gap of one at 4 joins too)
    assert segments.runs(hysteresis(series), max_gap=1, min_seconds=1) == [(1, 7), (9, 14)]
    # minimum duration drops the short runs
    assert segments.runs(hysteresis(series), max_gap=0, min_seconds=3) == [(1, 4), (11, 14)]
    assert segments.runs(np.array([], dtype=bool), max_gap=1, min_seconds=1) == []


def test_track_segments_bounds_confidence_and_faces():
    index = pd.DataFrame(
        {
            "episode": "ep",
            "second": [10, 11, 12, 14, 15],
            "track": 0,
            "shot": 0,
            "faces_on_screen": [1, 2, 2, 1, 1],
        }
    )
    happy = np.array([0.9, 0.8, 0.7, 0.6, 0.9])
    for column, emotion in zip(PROBABILITIES, EMOTIONS):
        index[column] = happy if emotion == "Happy" else (1 - happy) / 6
    table = segments.episode_segments(
        index,
        pd.DataFrame({"shot": [0], "start": [9.5], "end": [20.0]}),
        "v.mp4",
        low=0.35,
        high=0.5,
        max_gap=1,
        min_seconds=2,
        track_characters=None,
    )
    assert list(table.columns) == SEGMENT_COLUMNS
    (segment,) = table.to_dict("records")
    assert (segment["emotion"], segment["start"], segment["end"], segment["seconds"]) == ("Happy", 10, 16, 6)
    assert segment["mean_confidence"] == pytest.approx(happy.mean())
    assert segment["min_confidence"] == pytest.approx(0.6)
    assert (segment["faces_min"], segment["faces_max"]) == (1, 2)
    assert (segment["shot_start"], segment["shot_end"]) == (9.5, 20.0)


# ---------------------------------------------------------------------------- text inputs
def test_new_text_gets_the_token_ids_training_gave(tmp_path):
    glove = tmp_path / "glove.3d.txt"
    glove.write_text("the 0.1 0.2 0.3\nhe 1 0 0\nis 0 1 0\nangry 0 0 1\nhappy 1 1 0\n")
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame({"item_id": ["a", "b"], "description": ["He is angry", "the the the the the"]}).to_csv(
        dataset, index=False
    )
    text.prepare_glove(dataset, str(glove), 4, tmp_path / "g.npz", tmp_path / "oov.json")
    vocabulary = text.load_vocabulary(tmp_path / "g.npz")
    with np.load(tmp_path / "g.npz") as data:
        trained = data["token_ids"]
    assert np.array_equal(text.token_ids(["He is angry", "the the the the the"], vocabulary, 4), trained)
    # happy is in GloVe but not in the training vocabulary: out of vocabulary, as in training
    ids = text.token_ids(["he is happy", "", None], vocabulary, 4)
    assert ids[0].tolist() == [vocabulary["he"], vocabulary["is"], text.OOV_ID, text.PAD_ID]
    assert ids[1].tolist() == ids[2].tolist() == [text.PAD_ID] * 4


def test_faces_predicted_a_chunk_at_a_time_as_in_one_call(tmp_path, monkeypatch):
    """predict_in_chunks (index_episode's inference, memory flat with episode length) gives
    exactly the probabilities of one call over every face, with the text of a real
    Multimodal GloVe model sliced beside its chunk, and never holds more than a chunk."""
    from dramaemo.models import builders as models

    glove = tmp_path / "glove.3d.txt"
    glove.write_text("the 0.1 0.2 0.3\nhe 1 0 0\nis 0 1 0\nangry 0 0 1\nhappy 1 1 0\n")
    descriptions = ["He is angry", "the happy one", "", "he is", "angry angry", "is he happy"] * 4
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame({"item_id": [f"i{n}" for n in range(6)], "description": descriptions[:6]}).to_csv(
        dataset, index=False
    )
    text.prepare_glove(dataset, str(glove), 6, tmp_path / "g.npz", tmp_path / "oov.json")
    with np.load(tmp_path / "g.npz") as data:
        matrix = data["embedding_matrix"]
    model = models.build_multimodal_model(
        models.build_image_encoder(image_size=32, filters=(4,), kernel_sizes=(3,), top_filters=4),
        models.build_glove_text_encoder(
            embedding_matrix=matrix,
            max_tokens=6,
            filter_sizes=(2, 3),
            num_filters=4,
            dropout=0.5,
            feature_units=8,
            trainable_embedding=False,
        ),
        name="glove",
    )
    crops = np.random.default_rng(1).integers(0, 255, (len(descriptions), 32, 32), dtype=np.uint8)
    encoder = predict.load_text_encoder("glove", tmp_path / "g.npz")
    inputs = predict.model_inputs_for("glove", crops, descriptions, model=model, text_encoder=encoder)
    whole = predict.predict(model, inputs, batch_size=4)
    monkeypatch.setattr(predict, "CHUNK_BATCHES", 2)  # chunks of 8 faces: 3 of them
    asked = []

    def faces_of(start, stop):
        asked.append((start, stop))
        return crops[start:stop]

    chunked = predict.predict_in_chunks(
        "glove", len(crops), faces_of, descriptions, model=model, batch_size=4, text_encoder=encoder
    )
    assert asked == [(0, 8), (8, 16), (16, 24)]
    assert np.array_equal(chunked, whole)
    # an image-only model takes no descriptions
    image_only = models.build_baseline_model(image_size=32, filters=(4,), kernel_sizes=(3,), top_filters=4)
    faces = predict.model_inputs_for("baseline", crops, None, model=image_only)
    assert np.array_equal(
        predict.predict_in_chunks("baseline", len(crops), faces_of, model=image_only, batch_size=4),
        predict.predict(image_only, faces, batch_size=4),
    )


def test_elmo_and_unknown_models_are_refused():
    with pytest.raises(UserError, match="elmo"):
        predict.uses_text("elmo")
    with pytest.raises(UserError, match="unknown"):
        predict.uses_text("resnet")


def _write_crops(folder, seconds, side=32):
    """A manifest of one random face crop per second (one face, same box)."""
    rng = np.random.default_rng(0)
    records = []
    for second in seconds:
        crop = folder / f"{second}_0.png"
        cv2.imwrite(str(crop), rng.integers(0, 255, (side, side), dtype=np.uint8))
        records.append(
            {
                "episode": "ep",
                "second": second,
                "face_index": 0,
                "x": 10,
                "y": 5,
                "w": 40,
                "h": 40,
                "crop_path": str(crop),
                "frame_path": "",
            }
        )
    return pd.DataFrame(records)


def test_minilm_model_indexes_new_text_with_the_vectors_training_cached(tmp_path):
    """A Multimodal MiniLM model applied to subtitle text sees exactly the sentence vector
    embed-minilm cached for the same sentence in training; a second without text gets the
    zero vector that empty training descriptions had."""
    from train_tiny_data import tiny_minilm_dir

    from dramaemo.footage import RAW_PROBABILITIES
    from dramaemo.footage.index import index_episode
    from dramaemo.models import builders as models
    from dramaemo.models.preprocess import preprocess_faces
    from dramaemo.text import minilm

    model_dir = tiny_minilm_dir()
    if model_dir is None:
        pytest.skip("all-MiniLM-L6-v2 checkpoint not installed (make setup-test)")
    sentences = ["I got the job!", "Why would you do that to me?"]
    dataset = tmp_path / "dataset.csv"
    pd.DataFrame({"item_id": ["a", "b"], "description": sentences}).to_csv(dataset, index=False)
    minilm.embed_descriptions(dataset, model_dir, 8, tmp_path / "minilm.npz", tmp_path / "minilm.json")
    cached, rows = minilm.load_minilm_inputs(tmp_path / "minilm.npz", ["a", "b"])

    model = models.build_multimodal_model(
        models.build_image_encoder(image_size=32, filters=(4,), kernel_sizes=(3,), top_filters=4),
        models.build_minilm_text_encoder(**MINILM),
        name="minilm",
    )
    models.compile_model(model, learning_rate=1e-3).save(tmp_path / "model.keras")
    srt = tmp_path / "ep.srt"
    srt.write_text(
        f"1\n00:00:00,000 --> 00:00:01,000\n{sentences[0]}\n\n"
        f"2\n00:00:01,000 --> 00:00:02,000\n{sentences[1]}\n"
    )
    manifest = _write_crops(tmp_path, [0, 1, 2])
    shot_table = pd.DataFrame({"shot": [0], "start": [0.0], "end": [3.0]})
    indexed, summary = index_episode(
        **INDEXING,
        episode="ep",
        info={"offset": 0.5, "fps": 10, "frames": 3},
        manifest=manifest,
        shots=shot_table,
        model_name="minilm",
        model_path=tmp_path / "model.keras",
        text_source=model_dir,
        subtitles=srt,
    )
    assert indexed["text_source"].tolist() == ["subtitle", "subtitle", "none"]
    assert indexed["subtitle_raw"].tolist() == [*sentences[:2], ""]
    assert indexed["model"].eq("minilm").all()

    faces = preprocess_faces(
        np.stack([cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in manifest["crop_path"]]), 32
    )
    vectors = np.vstack([cached[rows], np.zeros((1, minilm.EMBEDDING_DIM), np.float32)])
    expected = models.load_model(tmp_path / "model.keras").predict(
        {"face": faces, "minilm": vectors}, verbose=0
    )
    assert np.allclose(indexed[RAW_PROBABILITIES].to_numpy(dtype=np.float32), expected, atol=1e-5)
    # without the checkpoint the index says what it needs
    with pytest.raises(UserError, match="text.minilm.model_dir"):
        index_episode(
            **INDEXING,
            episode="ep",
            info={"offset": 0.5, "fps": 10, "frames": 3},
            manifest=manifest,
            shots=shot_table,
            model_name="minilm",
            model_path=tmp_path / "model.keras",
        )


# ---------------------------------------------------------------------------- faceless seconds
@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
    """A real (untrained) baseline model file at 32 x 32."""
    from dramaemo.models import builders as models

    path = tmp_path_factory.mktemp("model") / "model.keras"
    model = models.build_baseline_model(image_size=32, filters=(4,), kernel_sizes=(3,), top_filters=4)
    models.compile_model(model, learning_rate=1e-3).save(path)
    return path


def test_seconds_without_a_face_are_rows(tmp_path, image_model):
    from dramaemo.footage.index import index_episode
    from dramaemo.footage.tables import read_index_metadata, write_index

    rng = np.random.default_rng(0)
    records = []
    for second, face_index, x in [(0, 0, 10), (1, 0, 12), (1, 1, 120), (3, 0, 14)]:
        crop = tmp_path / f"{second}_{face_index}.png"
        cv2.imwrite(str(crop), rng.integers(0, 255, (32, 32), dtype=np.uint8))
        records.append(
            {
                "episode": "ep",
                "second": second,
                "face_index": face_index,
                "x": x,
                "y": 5,
                "w": 40,
                "h": 40,
                "crop_path": str(crop),
                "frame_path": "",
            }
        )
    manifest = pd.DataFrame(records)
    shot_table = pd.DataFrame({"shot": [0, 1], "start": [0.0, 2.2], "end": [2.2, 6.0]})
    rows, summary = index_episode(
        **INDEXING,
        episode="ep",
        info={"offset": 0.5, "fps": 10, "frames": 6},
        manifest=manifest,
        shots=shot_table,
        model_name="baseline",
        model_path=image_model,
    )
    assert list(rows.columns) == INDEX_COLUMNS
    assert rows["second"].tolist() == [0, 1, 1, 2, 3, 4, 5]
    faceless = rows[rows["face_index"] == NO_FACE]
    assert faceless["second"].tolist() == [2, 4, 5]
    assert faceless["track"].eq(NO_FACE).all() and faceless[PROBABILITIES].isna().all().all()
    assert faceless["faces_on_screen"].eq(0).all() and faceless["x"].isna().all()
    faces = rows[rows["face_index"] != NO_FACE]
    assert np.allclose(faces[PROBABILITIES].sum(axis=1), 1.0, atol=1e-4)
    assert faces["model"].eq("baseline").all()
    assert faces["shot"].tolist() == [0, 0, 0, 1]
    # the face at second 3 is after the cut: a new track even though it barely moved
    assert faces["track"].nunique() == 3
    assert summary["faceless_seconds"] == 3 and summary["rows"] == 7
    # an episode where no face was ever found is all rows, none missing
    empty, summary = index_episode(
        **INDEXING,
        episode="ep",
        info={"offset": 0.5, "fps": 10, "frames": 6},
        manifest=manifest.iloc[:0],
        shots=shot_table,
        model_name="baseline",
        model_path=image_model,
    )
    assert empty["second"].tolist() == list(range(6)) and empty["track"].eq(NO_FACE).all()
    assert summary["faceless_seconds"] == 6 and summary["faces"] == 0
    write_index(rows, tmp_path / "ep.parquet", "ep.mp4", shot_table)
    assert pd.read_parquet(tmp_path / "ep.parquet")["second"].tolist() == rows["second"].tolist()
    video, stored_shots = read_index_metadata(tmp_path / "ep.parquet")
    assert video == "ep.mp4" and stored_shots.equals(shot_table)


# ---------------------------------------------------------------------------- search
def _segments_table():
    rows = [
        ("ep01", 0, "Happy", 10, 14, 0.9, 0.8, 2, 2),
        ("ep01", 1, "Happy", 30, 31, 0.95, 0.9, 1, 1),
        ("ep02", 4, "Sad", 5, 12, 0.7, 0.5, 1, 3),
        ("ep02", 5, "Happy", 40, 46, 0.6, 0.4, 1, 1),
    ]
    table = pd.DataFrame(
        rows,
        columns=[
            "episode",
            "track",
            "emotion",
            "start",
            "end",
            "mean_confidence",
            "min_confidence",
            "faces_min",
            "faces_max",
        ],
    )
    table["seconds"] = table["end"] - table["start"]
    table["shot"], table["shot_start"], table["shot_end"], table["video"] = 0, 0.0, 100.0, ""
    table["character"], table["characters"] = "", ""  # no cast
    return table[SEGMENT_COLUMNS]


def _query(**given):
    """A checked query over ep01 and ep02: no filter but the emotions unless given."""
    base = dict(min_seconds=0.0, min_confidence=0.0, min_faces=None, max_faces=None, episodes=[], limit=None)
    base |= dict(characters=[], character_names={}, cast_ids=None)
    return search.check_query({"ep01", "ep02"}, **{**base, **given})


def test_search_filters_and_ranks():
    table = _segments_table()
    hits = search.search(table, **_query(emotions=["happy"], min_seconds=2))
    assert hits[["episode", "start"]].values.tolist() == [["ep01", 10], ["ep02", 40]]
    assert hits["rank"].tolist() == [1, 2]
    two_faces = search.search(table, **_query(emotions=["Happy"], min_faces=2, max_faces=2))
    assert two_faces["track"].tolist() == [0]
    confident = search.search(
        table, **_query(emotions=["Happy", "Sad"], min_confidence=0.65, episodes=["ep02"])
    )
    assert confident["emotion"].tolist() == ["Sad"]
    assert "no segment matches" in search.format_hits(hits.iloc[:0])


@pytest.fixture
def index_dir(tmp_path):
    folder = tmp_path / "index"
    folder.mkdir()
    _segments_table().to_parquet(folder / "segments.parquet")
    for episode in ("ep01", "ep02"):
        pd.DataFrame(columns=INDEX_COLUMNS).to_parquet(folder / f"{episode}.parquet")
    return folder


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--emotion", "Joyful"], "unknown emotion 'Joyful'; use one of Angry, Disgust"),
        (["--emotion", "Happy", "--min-seconds", "-2"], "--min-seconds -2.0: must be 0 or more"),
        (
            ["--emotion", "Happy", "--episode", "ep09"],
            "episode 'ep09' was never indexed (indexed: ep01, ep02)",
        ),
        (["--emotion", "Happy", "--min-confidence", "1.5"], "between 0 and 1"),
        (
            ["--emotion", "Happy", "--min-faces", "3", "--max-faces", "2"],
            "--min-faces 3 is above --max-faces 2",
        ),
    ],
)
def test_bad_queries_have_a_clear_message(index_dir, capsys, arguments, message):
    assert main(["search", *arguments, "--index-dir", str(index_dir)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("dramaemo search: error: ") and message in error


def test_search_without_an_index_says_what_to_run(tmp_path, capsys):
    assert main(["search", "--emotion", "Happy", "--index-dir", str(tmp_path)]) == 2
    assert "no segments table; run the index target" in capsys.readouterr().err


def test_search_prints_a_ranked_table_and_writes_csv(index_dir, tmp_path, capsys):
    assert (
        main(
            [
                "search",
                "--emotion",
                "Happy",
                "--min-seconds",  # the schema's default is 2
                "0",
                "--index-dir",
                str(index_dir),
                "--output",
                str(tmp_path / "hits.csv"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[:4] == ["rank", "episode", "track", "emotion"] and len(printed) == 4
    assert pd.read_csv(tmp_path / "hits.csv")["rank"].tolist() == [1, 2, 3]


def test_clip_bounds_are_padded_inside_the_shot_on_whole_frames():
    segment = {"episode": "ep", "start": 10, "end": 14, "shot_start": 9.4, "shot_end": 20.0}
    assert clips.clip_bounds(segment, 1.0, 60.0, 25.0) == (9.4, 140)  # start held at the cut
    assert clips.clip_bounds(segment, 0.0, 60.0, 25.0) == (10.0, 100)
    segment.update(shot_start=0.0, shot_end=14.6)
    start, frames = clips.clip_bounds(segment, 2.0, 60.0, 25.0)
    assert (start, frames / 25.0) == (8.0, pytest.approx(6.6))  # end held at the next cut
    start, frames = clips.clip_bounds({**segment, "shot_end": 100.0}, 2.0, 15.0, 25.0)
    assert start + frames / 25.0 == pytest.approx(15.0)  # and at the video's end


def test_segments_of_an_episode_equal_those_of_each_track_alone():
    import sys

    sys.path.insert(0, str(__import__("conftest").REPO / "bench"))
    from footage import synthetic_index  # the latency benchmark's index generator

    index = synthetic_index("ep", 300, np.random.default_rng(3))
    settings = dict(low=0.35, high=0.5, max_gap=1, min_seconds=2, track_characters=None)
    whole = segments.episode_segments(index, None, "", **settings)
    alone = pd.concat(
        [
            segments.episode_segments(track, None, "", **settings)
            for _, track in index[index["track"] != NO_FACE].groupby("track")
        ],
        ignore_index=True,
    )
    assert len(whole) > 20
    pd.testing.assert_frame_equal(
        whole,
        alone.sort_values(["track", "start", "emotion"], kind="stable").reset_index(drop=True),
        check_dtype=False,
    )


def test_timeline_lanes_are_shared_by_tracks_that_do_not_overlap(tmp_path):
    from dramaemo.footage.report import plot_timeline, track_lanes

    faces = pd.DataFrame({"track": [0, 0, 1, 1, 2, 3], "second": [0, 1, 1, 2, 3, 3]})
    assert track_lanes(faces) == {0: 0, 1: 1, 2: 0, 3: 1}  # never more lanes than faces at once
    index = faces.assign(episode="ep", pred=["Happy", "Happy", "Sad", "Sad", "Fear", "Angry"])
    index = pd.concat(
        [index, pd.DataFrame({"episode": ["ep"], "second": [4], "track": [NO_FACE], "pred": [""]})]
    )
    plot_timeline(
        index, pd.DataFrame({"shot": [0, 1], "start": [0.0, 3.0], "end": [3.0, 5.0]}), tmp_path / "t.png"
    )
    assert cv2.imread(str(tmp_path / "t.png")) is not None

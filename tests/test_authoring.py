"""From a story to a rough cut: the scene parser on crafted stories, the ranking's
constraints, and the outputs (rough cut, cut.csv, timelines, storyboard) on a real encoded
demo episode with real ffmpeg and opentimelineio."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dramaemo import EMOTIONS
from dramaemo.authoring.author import OUTPUTS, author
from dramaemo.authoring.choose import NO_FOOTAGE, PICKED, choose, segment_faces
from dramaemo.authoring.story import (
    MAX_STORY_BYTES,
    Scene,
    emotion_words,
    face_count,
    read_story,
    scene_needs,
)
from dramaemo.core.errors import UserError
from dramaemo.footage import INDEX_COLUMNS, NO_FACE, PROBABILITIES, RAW_PROBABILITIES, SEGMENT_COLUMNS
from dramaemo.footage.tables import write_index, write_table
from dramaemo.video.frames import probe_video


def story_file(tmp_path, text: str, name="story.md"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one_hot(emotion: str) -> np.ndarray:
    vector = np.full(len(EMOTIONS), 0.01)
    vector[EMOTIONS.index(emotion)] = 0.94
    return vector


class CountingModel:
    """A text model stand-in that says Sad to everything and records what it read (the
    real trained model runs in tests/test_footage_workflow.py's author test)."""

    def __init__(self):
        self.texts = []

    def __call__(self, texts):
        self.texts += list(texts)
        return np.tile(one_hot("Sad"), (len(texts), 1))


# ---- the parser


def test_markdown_story_one_scene_per_paragraph_headings_and_comments_skipped(tmp_path):
    path = story_file(
        tmp_path,
        "# Episode one\n\n<!-- a note\n\nover two paragraphs -->\nMina laughs with\nJun at dinner.\n\n\n"
        "Jun waits alone at the station.\n",
    )
    scenes = read_story(path)
    assert [scene.text for scene in scenes] == [
        "Mina laughs with Jun at dinner.",
        "Jun waits alone at the station.",
    ]
    assert [scene.number for scene in scenes] == [1, 2]


def test_face_counts_emotion_words_and_negations():
    assert face_count("Jun waits alone at the station.") == (1, "alone")
    assert face_count("A couple talks pleasantly over coffee.")[0] == 2
    assert face_count("The two of them argue.")[0] == 2
    assert face_count("Three of them share a taxi.")[0] == 3
    assert face_count("Rain on the window.") == (None, "")
    assert emotion_words("A couple talks pleasantly, not afraid of anything.") == (["Happy"], ["Fear"])
    assert emotion_words("She is furious and then shocked.") == (["Angry", "Surprise"], [])
    assert emotion_words("He isn't sad.") == ([], ["Sad"])


def test_scene_needs_fields_override_words_which_override_the_text_model(tmp_path):
    path = story_file(
        tmp_path,
        "text,seconds,characters,emotion,faces\n"
        '"Mina and Jun talk pleasantly at dinner.",3,,,\n'
        '"Jun reads the report.",,,fear,\n'
        '"Mina walks home, not happy at all.",,Mina,,1\n',
        "story.csv",
    )
    model = CountingModel()
    needs = scene_needs(read_story(path), cast=["Mina", "Jun"], text_model=model)
    first, second, third = needs
    assert first.emotion_source == "words" and first.distribution[EMOTIONS.index("Happy")] == 1.0
    assert first.characters == ["Mina", "Jun"] and first.faces == 2  # two names on screen
    assert first.scene.seconds == 3.0
    assert second.emotion_source == "field" and EMOTIONS[int(second.distribution.argmax())] == "Fear"
    assert third.emotion_source == "text model" and third.excluded == ["Happy"]
    assert third.distribution[EMOTIONS.index("Happy")] == 0.0 and third.faces == 1
    assert model.texts == ["Mina walks home, not happy at all."]  # only the scene without one


@pytest.mark.parametrize(
    "content, name, message",
    [
        ("\n\n   \n", "story.md", "no scene in the story"),
        ("# Only a title\n", "story.md", "no scene in the story"),
        ("text,emotion\nJun reads.,joyful\n", "story.csv", r"story.csv, row 2: unknown emotion 'joyful'"),
        ("text,mood\nJun reads.,x\n", "story.csv", "unknown column 'mood'"),
        ("text,faces\nJun reads.,two\n", "story.csv", r"row 2: faces 'two' is not a number"),
        ("- text: Jun reads.\n  colour: red\n", "story.yaml", r"scene 1: unknown field 'colour'"),
        ("- text: ''\n", "story.yaml", "scene 1: empty scene text"),
        ("Jun reads.", "story.docx", "a story is"),
    ],
)
def test_bad_stories_stop_naming_the_file_and_row(tmp_path, content, name, message):
    with pytest.raises(UserError, match=message):
        read_story(story_file(tmp_path, content, name))


def test_non_utf8_and_oversized_stories_and_unknown_characters(tmp_path):
    korean = tmp_path / "story.txt"
    korean.write_bytes("미생: 그래가 웃는다.".encode("cp949"))
    with pytest.raises(UserError, match=r"story.txt: not UTF-8 .*re-save the story as UTF-8"):
        read_story(korean)
    big = tmp_path / "big.txt"
    big.write_bytes(b"Jun reads the report.\n\n" * (10_000_000 // 23))  # 10 MB
    with pytest.raises(UserError, match=f"above the {MAX_STORY_BYTES:,} bytes a story may have"):
        read_story(big)
    scenes = read_story(story_file(tmp_path, "- {text: Jun reads., characters: [Jun, Grace]}\n", "s.yaml"))
    with pytest.raises(
        UserError, match=r"s.yaml, scene 1: unknown character 'Grace'; known characters: Jun, Mina"
    ):
        scene_needs(scenes, cast=["Jun", "Mina"], text_model=None)
    with pytest.raises(UserError, match="known characters: none"):
        scene_needs(scenes, cast=[], text_model=None)


# ---- the ranking


def footage(shots: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(segments, index rows) of one made-up episode: each dict one shot with
    ``emotions`` (one per face on screen), ``seconds``, ``confidence``, ``characters`` and
    ``sides`` (each face's box side; default 150 px, a sharp face)."""
    segments, rows, second = [], [], 0
    for shot, spec in enumerate(shots):
        length = spec["seconds"]
        for track_in_shot, emotion in enumerate(spec["emotions"]):
            track = shot * 10 + track_in_shot
            character = [*spec.get("characters", []), *[None] * 9][track_in_shot]
            side = (spec.get("sides") or [150] * 9)[track_in_shot]
            for s in range(second, second + length):
                rows.append(
                    {
                        "episode": "ep",
                        "second": s,
                        "track": track,
                        "character": character,
                        "w": side,
                        "h": side,
                    }
                    | dict(zip(PROBABILITIES, one_hot(emotion)))
                )
            segments.append(
                {
                    "episode": "ep",
                    "track": track,
                    "shot": shot,
                    "emotion": emotion,
                    "start": second,
                    "end": second + length,
                    "seconds": length,
                    "mean_confidence": spec.get("confidence", 0.9),
                    "min_confidence": 0.5,
                    "faces_min": len(spec["emotions"]),
                    "faces_max": len(spec["emotions"]),
                    "shot_start": float(second),
                    "shot_end": float(second + length),
                    "video": "ep.mp4",
                }
            )
        second += length
    rows.append({"episode": "ep", "second": second, "track": NO_FACE, "character": None})
    return pd.DataFrame(segments, columns=SEGMENT_COLUMNS), pd.DataFrame(rows)


def needs_of(tmp_path, yaml_text: str, cast=()):
    return scene_needs(
        read_story(story_file(tmp_path, yaml_text, "s.yaml")), cast=list(cast), text_model=None
    )


def test_each_shot_is_used_once_and_the_story_total_fit_is_maximised(tmp_path):
    segments, index = footage(
        [
            {"emotions": ["Happy"], "seconds": 4},
            {"emotions": ["Happy"], "seconds": 4, "confidence": 0.5},
            {"emotions": ["Sad"], "seconds": 4},
        ]
    )
    needs = needs_of(
        tmp_path, "- {text: a, emotion: Happy}\n- {text: b, emotion: Happy}\n- {text: c, emotion: Happy}\n"
    )
    cut, options = choose(needs, segment_faces(segments, index), top=3)
    assert sorted(cut["shot"]) == [0, 1, 2]  # three scenes, three shots: never a reuse
    assert sorted(cut["emotion"]) == ["Happy", "Happy", "Sad"] and (cut["status"] == PICKED).all()
    assert options.groupby("scene")["picked"].sum().tolist() == [1, 1, 1]


def test_length_faces_characters_and_exclusions_are_hard_else_an_explicit_no_footage(tmp_path):
    segments, index = footage(
        [
            {"emotions": ["Happy"], "seconds": 2, "characters": ["Mina"]},
            {"emotions": ["Happy", "Fear"], "seconds": 6, "characters": ["Mina", "Jun"]},
            {"emotions": ["Happy", "Happy"], "seconds": 6, "characters": ["Mina", "Jun"]},
            {"emotions": ["Neutral"], "seconds": 8, "characters": ["Jun"]},
        ]
    )
    needs = needs_of(
        tmp_path,
        "- {text: 'Mina and Jun laugh together, not afraid.', seconds: 5}\n"
        "- {text: 'Mina smiles.', emotion: Happy, seconds: 3, characters: [Mina], faces: 1}\n"
        "- {text: 'Jun is calm.', faces: 1, characters: [Jun]}\n",
        cast=["Mina", "Jun"],
    )
    cut, _ = choose(needs, segment_faces(segments, index), top=5)
    first, second, third = cut.to_dict("records")
    assert (first["shot"], first["status"]) == (2, PICKED)  # two happy faces, not happy + fear
    assert first["seconds"] == 5 and first["start"] == 8  # the wanted 5 s of the 6 from 8 s
    assert second["status"] == NO_FOOTAGE and second["relaxed"] == "seconds"  # only 2 s exist
    assert second["shot"] == 0 and "relaxed" in second["why"]
    assert (third["shot"], third["status"], third["characters"]) == (3, PICKED, "Jun")


def test_named_people_are_a_floor_of_faces_and_relax_one_name_at_a_time(tmp_path):
    segments, index = footage(
        [
            {"emotions": ["Happy", "Happy", "Neutral"], "seconds": 4, "characters": ["Mina", "Jun"]},
            {"emotions": ["Sad"], "seconds": 4, "characters": ["Jun"]},
            {"emotions": ["Sad"], "seconds": 4, "characters": ["Bora"]},
        ]
    )
    needs = needs_of(
        tmp_path,
        "- {text: 'Mina and Jun talk.', emotion: Happy}\n- {text: 'Bora and Jun cry.', emotion: Sad}\n",
        cast=["Mina", "Jun", "Bora"],
    )
    assert needs[0].faces == 2 and needs[0].faces_at_least  # from the names: at least two faces
    first, second = choose(needs, segment_faces(segments, index), top=5)[0].to_dict("records")
    # a third face on screen (a passer-by) does not rule the shot out
    assert (first["shot"], first["status"], first["characters"]) == (0, PICKED, "Jun;Mina")
    # nobody has Bora and Jun together: one of them on screen before neither
    assert second["status"] == NO_FOOTAGE and second["shot"] in (1, 2)
    assert second["characters"] in ("Jun", "Bora") and "(still with " in second["why"]
    # a count the user wrote is exact: "two people" is not the shot of three faces
    exact = needs_of(tmp_path, "- {text: 'Two people talk.', emotion: Happy}\n", cast=["Mina", "Jun"])
    assert exact[0].faces == 2 and not exact[0].faces_at_least
    assert choose(exact, segment_faces(segments, index), top=5)[0].loc[0, "status"] == NO_FOOTAGE


def test_characters_known_from_sharp_faces_rank_first(tmp_path):
    segments, index = footage(
        [
            {"emotions": ["Happy"], "seconds": 4, "characters": ["Mina"], "sides": [80]},
            {"emotions": ["Neutral"], "seconds": 4, "characters": ["Mina"], "sides": [160]},
        ]
    )
    needs = needs_of(tmp_path, "- {text: 'Mina laughs.', emotion: Happy}\n", cast=["Mina"])
    candidates = segment_faces(segments, index)
    assert candidates["sharp_characters"].tolist() == [frozenset(), frozenset({"Mina"})]
    # the better emotion fit is an 80-px face whose identity came from an upsampled chip
    assert choose(needs, candidates, top=5)[0].loc[0, "shot"] == 1


def test_a_scene_with_nothing_in_the_index_says_so():
    segments, index = footage([])
    needs = scene_needs(
        [Scene(1, "Jun laughs.", emotion="Happy")],
        cast=[],
        text_model=None,
    )
    cut, options = choose(needs, segment_faces(segments, index), top=5)
    assert cut.loc[0, "status"] == NO_FOOTAGE and cut.loc[0, "episode"] == "" and options.empty


# ---- the outputs, on a real encoded episode


@pytest.fixture(scope="module")
def indexed_demo(tmp_path_factory):
    """A 16-second demo episode and a made-up index over it (4 shots of 4 s: Happy with
    one face, Sad, Happy with two, Angry), written as the index rule writes them."""
    from dramaemo.dataset.demo import build_demo

    root = tmp_path_factory.mktemp("author")
    build_demo(
        root / "episodes", root / "annotations.csv", episodes=1, seconds=16, width=160, height=120, fps=5
    )
    video = root / "episodes" / "demo01.mp4"
    plan = [["Happy"], ["Sad"], ["Happy", "Happy"], ["Angry"]]
    rows, segments = [], []
    for shot, emotions in enumerate(plan):
        for face, emotion in enumerate(emotions):
            for second in range(shot * 4, shot * 4 + 4):
                probabilities = one_hot(emotion)
                rows.append(
                    dict.fromkeys(INDEX_COLUMNS, 0)
                    | {"episode": "demo01", "second": second, "pts": float(second), "shot": shot}
                    | {"track": shot * 10 + face, "face_index": face, "faces_on_screen": len(emotions)}
                    | dict(zip(RAW_PROBABILITIES, probabilities))
                    | dict(zip(PROBABILITIES, probabilities))
                    | {"pred": emotion, "confidence": 0.94, "model": "made up", "text_source": "none"}
                    | {"text": "", "subtitle_raw": ""}
                )
            segments.append(
                {"episode": "demo01", "track": shot * 10 + face, "shot": shot, "emotion": emotion}
                | {"start": shot * 4, "end": shot * 4 + 4, "seconds": 4, "mean_confidence": 0.94}
                | {"min_confidence": 0.94, "faces_min": len(emotions), "faces_max": len(emotions)}
                | {"shot_start": float(shot * 4), "shot_end": float(shot * 4 + 4), "video": str(video)}
            )
    shots = pd.DataFrame({"shot": range(4), "start": [0.0, 4.0, 8.0, 12.0], "end": [4.0, 8.0, 12.0, 16.0]})
    index_dir = root / "index"
    write_index(pd.DataFrame(rows, columns=INDEX_COLUMNS), index_dir / "demo01.parquet", str(video), shots)
    write_table(pd.DataFrame(segments, columns=SEGMENT_COLUMNS), index_dir / "segments.parquet")
    return root, index_dir


def run_author(story, index_dir, outdir, choices=None):
    return author(
        story,
        index_dir=index_dir,
        outdir=outdir,
        text_model="text",
        model_path=None,
        text_source=None,
        candidates=3,
        choices=choices,
        names=None,
    )


def test_rough_cut_timelines_and_storyboard_from_a_story(indexed_demo, tmp_path):
    import opentimelineio as otio

    _, index_dir = indexed_demo
    story = story_file(
        tmp_path,
        "Mina laughs with a friend, alone for once.\n\nA couple laughs together at dinner.\n\n"
        "She is furious.\n\nHe is sad.\n",
    )
    outdir = tmp_path / "cut"
    cut = run_author(story, index_dir, outdir)
    assert sorted(p.name for p in outdir.iterdir() if p.is_file()) == sorted(OUTPUTS)
    assert cut["shot"].tolist() == [0, 2, 3, 1] and (cut["status"] == PICKED).all()
    # the rough cut: the clips in story order, its length their sum within a frame each
    info = probe_video(outdir / "rough_cut.mp4")
    assert abs(info.duration - cut["cut_seconds"].sum()) <= len(cut) / info.fps
    assert cut["cut_start"].tolist() == [0.0, 4.0, 8.0, 12.0]
    with open(outdir / "rough_cut.mp4", "rb") as handle:
        head = handle.read(4096)
    assert head.find(b"moov") != -1 and head.find(b"moov") < max(head.find(b"mdat"), 4096)  # faststart
    # the timelines read back: one clip per scene, pointing at the source episode's seconds
    for suffix in ("otio", "edl", "xml"):
        timeline = otio.adapters.read_from_file(str(outdir / f"timeline.{suffix}"))
        clips = list(timeline.find_clips())
        assert len(clips) == len(cut), suffix
        starts = [clip.source_range.start_time.to_seconds() for clip in clips]
        assert starts == pytest.approx(cut["start"].astype(float).tolist(), abs=0.05), suffix
    page = (outdir / "storyboard.html").read_text()
    assert page.count('class="pick"') == len(cut) and "She is furious." in page
    assert len(list((outdir / "posters").glob("*.jpg"))) == len(pd.read_csv(outdir / "candidates.csv"))
    scenes = pd.read_csv(outdir / "scenes.csv")
    assert scenes["emotion"].tolist() == ["Happy", "Happy", "Angry", "Sad"]


def test_a_failed_run_leaves_the_previous_outputs_untouched(indexed_demo, tmp_path):
    _, index_dir = indexed_demo
    outdir = tmp_path / "cut"
    run_author(story_file(tmp_path, "He is sad.\n"), index_dir, outdir)
    before = {p.name: p.stat().st_mtime_ns for p in outdir.iterdir()}
    with pytest.raises(UserError, match="no such story file"):
        run_author(tmp_path / "missing.md", index_dir, outdir)
    with pytest.raises(UserError, match="no footage index there; run `snakemake index`"):
        run_author(story_file(tmp_path, "He is sad.\n"), tmp_path / "nowhere", outdir)
    assert {p.name: p.stat().st_mtime_ns for p in outdir.iterdir()} == before
    assert not list(tmp_path.glob(".*partial"))


# ---- swap and re-export: the storyboard page of `dramaemo author --serve`


def served_app(indexed_demo, tmp_path, story_text="He is sad.\n\nShe is furious.\n"):
    from dramaemo.authoring.author import export, plan_story
    from dramaemo.authoring.choices import read_choices
    from dramaemo.authoring.serve import create_app

    _, index_dir = indexed_demo
    story, outdir, choices = story_file(tmp_path, story_text), tmp_path / "cut", tmp_path / "cut.choices.json"
    settings = dict(
        index_dir=index_dir, text_model="text", model_path=None, text_source=None, candidates=3, names=None
    )
    plan = plan_story(story, chosen=read_choices(choices), **settings)
    export(plan, outdir)
    app = create_app(
        plan, outdir, choices, export=lambda p: export(p, outdir, posters_from=outdir / "posters")
    )
    return app, story, outdir, choices, settings


def pick(client, scene, rank):
    return client.post("/api/pick", json={"scene": scene, "rank": rank})


def test_a_pick_is_saved_re_exported_and_kept_over_a_rerun(indexed_demo, tmp_path):
    import opentimelineio as otio

    app, story, outdir, choices, settings = served_app(indexed_demo, tmp_path)
    client = app.test_client()
    automatic = pd.read_csv(outdir / "cut.csv")
    assert automatic["shot"].tolist() == [1, 3] and (automatic["status"] == PICKED).all()
    options = pd.read_csv(outdir / "candidates.csv")
    second = options[(options["scene"] == 1) & (options["rank"] == 2)].iloc[0]
    posters = {p.name: p.stat().st_mtime_ns for p in (outdir / "posters").iterdir()}

    response = pick(client, 1, 2)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["scenes"][0] == {
        "scene": 1,
        "status": "chosen",
        "why": body["scenes"][0]["why"],
        "picked_rank": 2,
    }
    assert "chosen by hand" in body["scenes"][0]["why"] and "rough cut written again" in body["message"]
    cut = pd.read_csv(outdir / "cut.csv")
    assert cut.loc[0, "shot"] == second["shot"] and cut.loc[0, "status"] == "chosen"
    assert cut.loc[1, "shot"] == 3  # the other scene keeps its pick
    clips = list(otio.adapters.read_from_file(str(outdir / "timeline.otio")).find_clips())
    assert clips[0].source_range.start_time.to_seconds() == pytest.approx(cut.loc[0, "start"], abs=0.05)
    info = probe_video(outdir / "rough_cut.mp4")
    assert abs(info.duration - cut["cut_seconds"].sum()) <= len(cut) / info.fps
    assert {p.name: p.stat().st_mtime_ns for p in (outdir / "posters").iterdir()} == posters  # reused
    assert 'class="pick"' in (outdir / "storyboard.html").read_text()
    assert json.loads(choices.read_text())["choices"] == {
        "1": {"episode": "demo01", "track": int(second["track"]), "start": int(second["start"])}
    }
    # a rerun of `dramaemo author` (or of the rule) keeps the pick
    rerun = author(story, outdir=tmp_path / "again", choices=choices, **settings)
    assert rerun["shot"].tolist() == cut["shot"].tolist() and rerun.loc[0, "status"] == "chosen"
    # rank 0: back to the automatic pick
    assert pick(client, 1, 0).status_code == 200
    assert pd.read_csv(outdir / "cut.csv")["shot"].tolist() == [1, 3]
    assert json.loads(choices.read_text())["choices"] == {}
    assert not list(tmp_path.glob(".*partial")) and not list(tmp_path.glob(".*old"))


def test_a_pick_that_takes_another_scenes_shot_or_does_not_exist_is_refused(indexed_demo, tmp_path):
    app, *_, outdir, choices, _ = served_app(indexed_demo, tmp_path)
    client = app.test_client()
    options = pd.read_csv(outdir / "candidates.csv")
    # scene 2 (furious) chooses scene 1's automatic shot by hand: scene 1 then moves on
    taken = options[(options["scene"] == 2) & (options["shot"] == 1)].iloc[0]
    assert pick(client, 2, int(taken["rank"])).status_code == 200
    cut = pd.read_csv(outdir / "cut.csv")
    assert cut.loc[1, "shot"] == 1 and cut.loc[0, "shot"] != 1
    # scene 1 choosing that same shot by hand is refused, and nothing is saved
    mine = options[(options["scene"] == 1) & (options["shot"] == 1)].iloc[0]
    before = choices.read_bytes()
    response = pick(client, 1, int(mine["rank"]))
    assert response.status_code == 409 and "scene 2's pick uses that shot" in response.get_json()["error"]
    assert choices.read_bytes() == before
    assert pick(client, 1, 9).status_code == 404 and pick(client, 7, 1).status_code == 404
    assert pick(client, 1, -1).status_code == 400 and pick(client, 1, "2").status_code == 400


def test_a_choice_that_no_longer_matches_is_reported_and_dropped(indexed_demo, tmp_path, caplog):
    _, index_dir = indexed_demo
    choices = tmp_path / "choices.json"
    choices.write_text(json.dumps({"choices": {"1": {"episode": "demo01", "track": 99, "start": 0}}}))
    cut = run_author(story_file(tmp_path, "He is sad.\n"), index_dir, tmp_path / "cut", choices)
    assert cut.loc[0, "status"] == PICKED and cut.loc[0, "shot"] == 1
    assert "scene 1: chosen ('demo01', 99, 0) is no longer among its candidates" in caplog.text
    choices.write_text("{not json")
    with pytest.raises(UserError, match="choices.json: not a choices file"):
        run_author(story_file(tmp_path, "He is sad.\n"), index_dir, tmp_path / "cut", choices)


def test_the_storyboard_page_refuses_forms_foreign_hosts_and_files_outside_the_plan(indexed_demo, tmp_path):
    app, *_ = served_app(indexed_demo, tmp_path)
    client = app.test_client()
    assert client.post("/api/pick", data={"scene": 1, "rank": 2}).status_code == 400
    assert client.get("/", headers={"Host": "evil.example:8001"}).status_code == 400
    assert client.get("/", headers={"Host": "127.0.0.1:8001"}).status_code == 200
    assert client.post("/api/pick", data="x" * 100_000, content_type="application/json").status_code == 413
    assert client.get("/video/5").status_code == 404
    assert client.get("/posters/../cut.csv").status_code == 404
    video = client.get("/video/0", headers={"Range": "bytes=0-99"})
    assert video.status_code == 206 and len(video.data) == 100  # the player can seek


@pytest.mark.browser
def test_storyboard_page_swaps_picks_by_keyboard_and_click_in_headless_chromium(
    chrome, indexed_demo, tmp_path
):
    import threading

    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from werkzeug.serving import make_server

    app, _, outdir, choices, _ = served_app(indexed_demo, tmp_path)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = pd.read_csv(outdir / "candidates.csv")
    wait = WebDriverWait(chrome, 30)

    def press(key: str):
        ActionChains(chrome).send_keys(key).perform()

    def status_says(text: str):
        wait.until(lambda driver: text in driver.find_element(By.ID, "status").text)

    def picked_rank(scene: int):
        figures = chrome.find_elements(By.CSS_SELECTOR, f"#scene-{scene} figure.pick")
        return [int(f.get_attribute("data-rank")) for f in figures]

    try:
        chrome.get(f"http://127.0.0.1:{server.port}/")
        assert picked_rank(1) == [1] and picked_rank(2) == [1]
        # every poster is shown (served from the outputs' folder)
        wait.until(
            lambda driver: driver.execute_script(
                "return [...document.images].every(i => i.complete && i.naturalWidth > 0);"
            )
        )
        press("2")  # scene 1 has the focus: its candidate #2
        status_says("scene 1: candidate #2 chosen")
        assert (
            picked_rank(1) == [2]
            and "chosen by hand" in chrome.find_element(By.CSS_SELECTOR, "#scene-1 .why").text
        )
        mine = options[(options["scene"] == 1) & (options["rank"] == 2)].iloc[0]
        assert pd.read_csv(outdir / "cut.csv").loc[0, "shot"] == mine["shot"]
        press("j")  # scene 2: the candidate with scene 1's shot is refused, on the page
        clash = options[(options["scene"] == 2) & (options["shot"] == mine["shot"])]
        if len(clash):
            press(str(int(clash.iloc[0]["rank"])))
            status_says("not saved: scene 1's pick uses that shot")
        other = options[(options["scene"] == 2) & (options["shot"] != mine["shot"]) & (options["rank"] > 1)]
        rank = int(other.iloc[0]["rank"])
        chrome.find_element(By.CSS_SELECTOR, f'#scene-2 button.use[data-rank="{rank}"]').click()
        status_says(f"scene 2: candidate #{rank} chosen")
        assert picked_rank(2) == [rank]
        assert sorted(json.loads(choices.read_text())["choices"]) == ["1", "2"]
        press("k")
        press("0")  # scene 1 back to the automatic pick
        status_says("scene 1: back to the automatic pick")
        assert sorted(json.loads(choices.read_text())["choices"]) == ["2"]
        assert pd.read_csv(outdir / "cut.csv")["status"].tolist() == [PICKED, "chosen"]
        # a candidate plays on click: its episode is served with range requests
        chrome.find_element(By.CSS_SELECTOR, "#scene-1 figure img").click()
        wait.until(
            lambda driver: driver.execute_script(
                "const v = document.querySelector('#scene-1 video'); return v && (v.readyState >= 2 || v.error);"
            )
        )
        assert chrome.execute_script("return document.querySelector('#scene-1 video').error") is None
        # the page shows what was saved (scene 1's automatic pick may have moved around
        # scene 2's), before and after a reload
        saved = {
            s["scene"]: [s["picked_rank"]] for s in app.test_client().get("/api/state").get_json()["scenes"]
        }
        assert saved[2] == [rank] and {1: picked_rank(1), 2: picked_rank(2)} == saved
        chrome.refresh()
        assert {1: picked_rank(1), 2: picked_rank(2)} == saved
    finally:
        server.shutdown()


def test_author_serve_command_keeps_a_pick_when_killed_and_a_rerun_uses_it(indexed_demo, tmp_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    _, index_dir = indexed_demo
    story = story_file(tmp_path, "He is sad.\n\nShe is furious.\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    common = [sys.executable, "-m", "dramaemo", "author", str(story), "--index-dir", str(index_dir)]
    common += ["--outdir", str(tmp_path / "cut"), "--model-path", "unused.keras", "--candidates", "3"]
    common += ["--choices", str(tmp_path / "picks.json")]

    def call(path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    with open(tmp_path / "serve.log", "w") as log_file:
        server = subprocess.Popen(
            [*common, "--serve", "--port", str(port)], stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    call("/api/state")
                    break
                except (urllib.error.URLError, ConnectionError):
                    assert server.poll() is None, (tmp_path / "serve.log").read_text()
                    assert time.monotonic() < deadline, "the storyboard did not answer within 120 s"
                    time.sleep(0.3)
            answer = call("/api/pick", {"scene": 2, "rank": 3})
            assert answer["scenes"][1]["picked_rank"] == 3
        finally:
            server.kill()  # no clean shutdown: the pick was on disk before the answer
            server.wait()
    assert "storyboard at http://127.0.0.1:" in (tmp_path / "serve.log").read_text()
    result = subprocess.run(common, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    cut = pd.read_csv(tmp_path / "cut" / "cut.csv")
    options = pd.read_csv(tmp_path / "cut" / "candidates.csv")
    third = options[(options["scene"] == 2) & (options["rank"] == 3)].iloc[0]
    assert cut.loc[1, "status"] == "chosen" and cut.loc[1, "start"] == third["start"]

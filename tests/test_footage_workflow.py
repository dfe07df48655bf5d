"""The footage index on the tiny demo through Snakemake, search with clips, and the
gallery opened from disk in Debian's headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO, planned_jobs, run_snakemake, snakemake_env

from dramaemo.footage import INDEX_COLUMNS, NO_FACE
from dramaemo.video.frames import probe_video

pytestmark = pytest.mark.slow

INDEX_CONFIG = REPO / "tests" / "data" / "index_tiny.yaml"
EPISODES = ("demo01", "demo02")
SECONDS = 20  # tests/data/tiny.yaml: demo.seconds


UNLABELLED = "extra01"  # an episode outside the demo, with no annotation, with subtitles
SUBTITLES = "1\n00:00:02,000 --> 00:00:06,000\nI got the promotion, finally!\n\n"
CONFIGS = ("--configfile", "config/tiny.yaml", "config/index_tiny.yaml", "config/unlabelled.yaml")


@pytest.fixture(scope="module")
def indexed(tiny_front, tmp_path_factory):
    """A copy of the tiny front half where `snakemake index` has run (trains what it needs)
    on both demo episodes and an unlabelled episode in its own folder, with subtitles."""
    workdir = tmp_path_factory.mktemp("indexed") / "work"
    shutil.copytree(tiny_front, workdir, symlinks=True)
    shutil.copy(INDEX_CONFIG, workdir / "config" / "index_tiny.yaml")
    (workdir / "unlabelled").mkdir()
    shutil.copy(
        workdir / "resources" / "demo" / "episodes" / "demo01.mp4",
        workdir / "unlabelled" / f"{UNLABELLED}.mp4",
    )
    (workdir / "unlabelled" / f"{UNLABELLED}.en.srt").write_text(SUBTITLES)
    (workdir / "config" / "unlabelled.yaml").write_text(
        f"index: {{episodes: [{', '.join(EPISODES)}, {UNLABELLED}], episodes_dir: unlabelled}}\n"
    )
    run_snakemake(workdir, "index", *CONFIGS)
    return workdir


@pytest.fixture(scope="module")
def gallery(indexed):
    """`dramaemo search --emotion Happy --min-seconds 2 --clips DIR` in the indexed folder."""
    folder = indexed / "happy-clips"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dramaemo",
            "search",
            "--emotion",
            "Happy",
            "--min-seconds",
            "2",
            "--limit",
            "4",
            "--padding",
            "1",
            "--clips",
            str(folder),
            "--output",
            "hits.csv",
        ],
        cwd=indexed,
        env=snakemake_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, pd.read_csv(indexed / "hits.csv"), result.stdout


def test_index_has_every_second_of_both_episodes(indexed):
    for episode in EPISODES:
        index = pd.read_parquet(indexed / "results" / "index" / f"{episode}.parquet")
        assert list(index.columns) == INDEX_COLUMNS
        assert sorted(index["second"].unique()) == list(range(SECONDS))
        faces = index[index["face_index"] != NO_FACE]
        detections = pd.read_csv(indexed / "results" / "faces" / f"{episode}.detections.csv")
        assert len(faces) == len(detections)
        # labelled demo: every face's text is the annotation's; the GloVe model decided
        assert set(faces["text_source"]) <= {"annotation", "none"}
        assert set(faces.loc[faces["text_source"] == "annotation", "model"]) == {"glove"}
        assert (faces["track"] >= 0).all()
        # tracks stay inside a shot
        assert (faces.groupby("track")["shot"].nunique() == 1).all()
    segments = pd.read_parquet(indexed / "results" / "index" / "segments.parquet")
    assert set(segments["episode"]) == {*EPISODES, UNLABELLED} and (segments["seconds"] >= 2).all()
    for name in ("summary.csv", "summary.html", "timeline/demo01.png", f"timeline/{UNLABELLED}.png"):
        assert (indexed / "results" / "index" / name).stat().st_size > 0


def test_unlabelled_episode_takes_subtitles_else_the_image_model(indexed):
    index = pd.read_parquet(indexed / "results" / "index" / f"{UNLABELLED}.parquet")
    assert sorted(index["second"].unique()) == list(range(SECONDS))
    faces = index[index["face_index"] != NO_FACE]
    spoken = faces["second"].between(2, 5)  # the cue runs 2-6 s; second k is seen at k + 0.5
    assert (faces.loc[spoken, "text_source"] == "subtitle").all() and spoken.any()
    assert (faces.loc[spoken, "text"] == "I got the promotion, finally!").all()
    assert (faces.loc[spoken, "model"] == "glove").all()
    assert (faces.loc[~spoken, "text_source"] == "none").all()
    assert (faces.loc[~spoken, "model"] == "baseline").all()  # the image-only fallback
    summary = pd.read_csv(indexed / "results" / "index" / "summary.csv").set_index("episode")
    assert summary.loc[UNLABELLED, "text_subtitle"] == spoken.sum()


def test_editing_the_subtitle_settings_reruns_only_the_episodes_with_subtitles(indexed):
    from conftest import planned_job_wildcards

    assert planned_job_wildcards(indexed, "index", *CONFIGS) == []  # up to date
    (indexed / "config" / "context.yaml").write_text("index: {subtitles: {context_seconds: 2}}\n")
    try:
        jobs = planned_job_wildcards(indexed, "index", *CONFIGS, "config/context.yaml")
    finally:
        (indexed / "config" / "context.yaml").unlink()
    assert {wildcards["episode"] for rule, wildcards in jobs if rule == "index_episode"} == {UNLABELLED}


def test_multimodal_minilm_indexes_new_footage_without_redoing_the_front_half(indexed, tmp_path):
    """index.model: minilm: the checkpoint embeds the annotations' and the subtitles' text;
    switching the model reruns indexing and the MiniLM steps, never frames, faces or crops."""
    from train_tiny_data import tiny_minilm_dir

    model_dir = tiny_minilm_dir()
    if model_dir is None:
        pytest.skip("all-MiniLM-L6-v2 checkpoint not installed (make setup-test)")
    workdir = tmp_path / "work"
    shutil.copytree(indexed, workdir, symlinks=True)
    (workdir / "resources" / "minilm").symlink_to(model_dir)  # as rule fetch_minilm leaves it
    (workdir / "config" / "minilm.yaml").write_text("index: {model: minilm}\n")
    planned = {rule for rule, _ in planned_jobs(workdir, "index", *CONFIGS, "config/minilm.yaml")}
    assert {"embed_minilm", "train_model", "index_episode"} <= planned
    assert not planned & {"extract_frames", "detect_faces", "crop_faces", "detect_shots"}
    run_snakemake(workdir, "index", *CONFIGS, "config/minilm.yaml")
    index = pd.read_parquet(workdir / "results" / "index" / f"{UNLABELLED}.parquet")
    faces = index[index["face_index"] != NO_FACE]
    spoken = faces["text_source"] == "subtitle"
    assert spoken.any() and (faces.loc[spoken, "model"] == "minilm").all()
    assert (faces.loc[~spoken, "model"] == "baseline").all()
    labelled = pd.read_parquet(workdir / "results" / "index" / f"{EPISODES[0]}.parquet")
    annotated = labelled["text_source"] == "annotation"
    assert annotated.any() and (labelled.loc[annotated, "model"] == "minilm").all()
    log = (workdir / "logs" / "index_episode" / f"{UNLABELLED}.log").read_text()
    assert "MiniLM from" in log


def test_search_writes_playable_clips_of_the_requested_length(gallery):
    folder, hits, printed = gallery
    assert len(hits) >= 1 and set(hits["emotion"]) == {"Happy"} and (hits["seconds"] >= 2).all()
    assert "rank" in printed.splitlines()[0]
    for hit in hits.to_dict("records"):
        clip = folder / f"{hit['rank']:03d}_{hit['episode']}_Happy_{hit['start']}-{hit['end']}.mp4"
        info = probe_video(clip)
        start = max(hit["start"] - 1, hit["shot_start"], 0)
        end = min(hit["end"] + 1, hit["shot_end"])
        assert abs(info.duration - (end - start)) <= 1 / info.fps + 1e-6, (clip, info.duration, start, end)
        assert clip.with_suffix(".jpg").stat().st_size > 0
        # decodes to the end: as many frames as the duration says
        decoded = subprocess.run(
            [shutil.which("ffmpeg") or _ffmpeg(), "-v", "error", "-i", str(clip), "-f", "null", "-"],
            capture_output=True,
            text=True,
        )
        assert decoded.returncode == 0 and not decoded.stderr.strip()
    page = (folder / "index.html").read_text()
    assert page.count('<video controls preload="none"') == len(hits)


def _ffmpeg():
    from dramaemo.video.frames import ffmpeg_exe

    return ffmpeg_exe()


def test_snakemake_search_target_runs_the_configured_query(indexed):
    run_snakemake(indexed, "search", *CONFIGS)
    hits = pd.read_csv(indexed / "results" / "search" / "hits.csv")
    assert 1 <= len(hits) <= 3 and set(hits["emotion"]) == {"Happy"}
    assert (indexed / "results" / "search" / "gallery" / "index.html").is_file()


@pytest.mark.browser
def test_gallery_opens_from_disk_with_videos_and_posters(gallery, chrome):
    from selenium.webdriver.support.ui import WebDriverWait

    folder, hits, _ = gallery
    chrome.get((folder / "index.html").as_uri())
    videos = chrome.find_elements("css selector", "video")
    assert len(videos) == len(hits)
    # posters: every one loads as an image
    chrome.set_script_timeout(30)
    sizes = chrome.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const posters = [...document.querySelectorAll('video')].map(v => v.getAttribute('poster'));
        Promise.all(posters.map(src => new Promise(resolve => {
            const image = new Image();
            image.onload = () => resolve([image.naturalWidth, image.naturalHeight]);
            image.onerror = () => resolve([0, 0]);
            image.src = src;
        }))).then(done);
    """)
    assert all(width > 0 and height > 0 for width, height in sizes), sizes
    # videos: load each and wait until a frame is decoded (readyState >= 2)
    chrome.execute_script(
        "document.querySelectorAll('video').forEach(v => { v.preload = 'auto'; v.load(); });"
    )
    WebDriverWait(chrome, 30).until(
        lambda driver: driver.execute_script(
            "return [...document.querySelectorAll('video')].every(v => v.readyState >= 2 || v.error);"
        )
    )
    states = chrome.execute_script(
        "return [...document.querySelectorAll('video')].map(v => [v.error && v.error.code, v.duration, v.videoWidth]);"
    )
    for (error, duration, width), hit in zip(states, hits.to_dict("records")):
        assert error is None and width > 0 and duration >= hit["seconds"] - 0.5, states


@pytest.mark.slow
def test_index_episodes_dir_means_what_it_says_with_the_demo_on(tiny_workdir):
    """The demo on, index.episodes_dir names a folder of one's own videos: the index plans
    those, not the demo's; an index.episodes id with no video anywhere stops naming it."""
    from conftest import planned_job_wildcards
    from front_helpers import blank_video

    (tiny_workdir / "own").mkdir()
    blank_video(tiny_workdir / "own" / "my_episode.mp4")
    config = (tiny_workdir / "config" / "tiny.yaml").read_text()
    (tiny_workdir / "config" / "own.yaml").write_text(config + "\nindex: {episodes_dir: own}\n")
    jobs = planned_job_wildcards(tiny_workdir, "index", "--configfile", "config/own.yaml")
    indexed = {wildcards["episode"] for rule, wildcards in jobs if rule == "index_episode"}
    assert indexed == {"my_episode"}
    (tiny_workdir / "config" / "missing.yaml").write_text(
        config + "\nindex: {episodes_dir: own, episodes: [my_episode, not_there]}\n"
    )
    result = run_snakemake(tiny_workdir, "-n", "index", "--configfile", "config/missing.yaml", check=False)
    assert result.returncode != 0
    assert "index.episodes: 'not_there': no video own/not_there.<" in result.stdout + result.stderr


def test_index_use_annotations_false_indexes_labelled_episodes_as_unlabelled(tiny_workdir):
    """index.use_annotations: false: no index_episode job reads the annotation CSV (the
    footage is indexed as unlabelled footage is); true (the default): every one does."""
    config = (tiny_workdir / "config" / "tiny.yaml").read_text()
    (tiny_workdir / "config" / "no_annotations.yaml").write_text(
        config + "\nindex: {use_annotations: false}\n"
    )

    def index_commands(configfile):
        result = run_snakemake(tiny_workdir, "-n", "-p", "index", "--configfile", configfile)
        commands = [line for line in result.stdout.splitlines() if "dramaemo index-episode" in line]
        assert len(commands) == len(EPISODES), result.stdout[-3000:]
        return commands

    assert all("--annotations" in command for command in index_commands("config/tiny.yaml"))
    assert not any("--annotations" in command for command in index_commands("config/no_annotations.yaml"))
    # a training episode's subtitles in index.episodes_dir are read (its video stays training's)
    (tiny_workdir / "subs").mkdir()
    (tiny_workdir / "subs" / "demo01.srt").write_text(SUBTITLES)
    (tiny_workdir / "config" / "subs.yaml").write_text(
        config + "\nindex: {episodes: [demo01], episodes_dir: subs, use_annotations: false}\n"
    )
    result = run_snakemake(tiny_workdir, "-n", "-p", "index", "--configfile", "config/subs.yaml")
    (command,) = [line for line in result.stdout.splitlines() if "dramaemo index-episode" in line]
    assert "--subtitles subs/demo01.srt" in command and "resources/demo/episodes/demo01.mp4" in command
    assert "--annotations" not in command


def test_snakemake_author_cuts_a_story_with_the_trained_text_model(indexed):
    """`snakemake author` with a story: the trained text-only model reads the scenes that
    name no emotion, the cut plays for the sum of its clips, and editing the story reruns
    the author job alone."""
    (indexed / "story.md").write_text(
        "Grace gets the promotion in the office.\n\nEileen is furious in the corridor.\n\n"
        "Grace reads the morning report.\n"
    )
    (indexed / "config" / "author.yaml").write_text("author: {story: story.md, text_model: text}\n")
    configs = (*CONFIGS, "config/author.yaml")
    run_snakemake(indexed, "author", *configs)
    folder = indexed / "results" / "author"
    scenes = pd.read_csv(folder / "scenes.csv")
    assert scenes["emotion_from"].tolist() == ["text model", "words", "text model"]
    model_columns = [column for column in scenes if column.startswith("want_")]
    assert scenes.loc[0, model_columns].sum() == pytest.approx(1.0, abs=1e-3)
    assert scenes.loc[0, model_columns].max() < 1.0  # a distribution, not a one-hot
    cut = pd.read_csv(folder / "cut.csv")
    assert len(cut) == 3 and cut["episode"].notna().all()  # the tiny index has footage for all
    info = probe_video(folder / "rough_cut.mp4")
    assert abs(info.duration - cut["cut_seconds"].sum()) <= len(cut) / info.fps
    assert planned_jobs(indexed, "author", *configs) == []  # up to date
    (indexed / "story.md").write_text("Grace gets the promotion in the office.\n")
    assert [rule for rule, _ in planned_jobs(indexed, "author", *configs)] == ["author"]


def test_the_cast_finds_the_demo_portraits_and_search_takes_their_names(indexed):
    """The demo's two real portraits come out as two characters, each in both episodes;
    a names file renames them for search only (no segment or cast job reruns)."""
    from conftest import planned_job_wildcards

    cast = pd.read_parquet(indexed / "results" / "index" / "cast.parquet")
    record = json.loads((indexed / "results" / "index" / "cast.json").read_text())
    ids = sorted(set(cast["character"]) - {""})
    assert ids == ["C01", "C02"], record
    for character in record["characters_table"]:
        assert set(EPISODES) <= set(character["episodes"]), character
        assert character["faces"] and {"episode", "second", "x", "y", "w", "h"} <= set(character["faces"][0])
    assert record["threshold"] and record["threshold_from"]
    segments = pd.read_parquet(indexed / "results" / "index" / "segments.parquet")
    assert set(segments["character"]) <= {"", *ids} and (segments["character"] != "").any()
    shares = pd.read_csv(indexed / "results" / "index" / "characters.csv")
    assert set(shares["character"]) == set(ids) and set(EPISODES) <= set(shares["episode"])
    assert (indexed / "results" / "index" / "characters.png").stat().st_size > 0
    # a names file: read by search alone
    (indexed / "config" / "names.csv").write_text("character,name\nC01,Geu-rae\nC02,Seok-yul\n")
    (indexed / "config" / "names.yaml").write_text(
        "index: {characters: {names: config/names.csv}, query: {characters: [GEU-RAE], emotions: "
        "[Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise], min_seconds: 0, limit: null}}\n"
    )
    try:
        planned = {
            rule for rule, _ in planned_job_wildcards(indexed, "search", *CONFIGS, "config/names.yaml")
        }
        assert planned == {"search"}, planned
        planned = {rule for rule, _ in planned_job_wildcards(indexed, "index", *CONFIGS, "config/names.yaml")}
        assert planned - {"index"} == {"index_timeline", "character_summary"}, planned  # what shows names
        run_snakemake(indexed, "search", *CONFIGS, "config/names.yaml")
        hits = pd.read_csv(indexed / "results" / "search" / "hits.csv", keep_default_na=False)
        assert len(hits) and set(hits["character"]) == {"C01"} and set(hits["name"]) == {"Geu-rae"}
        wanted = segments[segments["character"] == "C01"]
        assert len(hits) == len(wanted)
        unknown = subprocess.run(
            [sys.executable, "-m", "dramaemo", "search", "--emotion", "Happy", "--character", "Min-ah"]
            + ["--names", "config/names.csv"],
            cwd=indexed,
            env=snakemake_env(),
            capture_output=True,
            text=True,
        )
        assert unknown.returncode != 0
        assert "unknown character 'Min-ah'; known: Geu-rae (C01), Seok-yul (C02)" in unknown.stderr
    finally:
        (indexed / "config" / "names.yaml").unlink()


def test_a_new_episode_joins_the_named_cast_without_renumbering(indexed):
    """The cast page's edits over the indexed cast, then another episode indexed: the
    characters keep their ids (so their names), and the new episode's faces join them."""
    from dramaemo.labelling.cast_store import CastStore

    cast = pd.read_parquet(indexed / "results" / "index" / "cast.parquet")
    named = cast[cast["character"] != ""]
    members: dict[str, set] = {}
    for character, episode, track in zip(named["character"], named["episode"], named["track"]):
        members.setdefault(character, set()).add((episode, int(track)))
    # the edits file keeps C02's tracks under id C07 (as after merges on the page): a
    # rebuilt cast that numbered characters afresh would call them C02 again
    store = CastStore(members, indexed / "config" / "cast_names.csv", indexed / "config" / "cast_edits.json")
    store.name("C01", "Geu-rae")
    store.close()
    edits = json.loads((indexed / "config" / "cast_edits.json").read_text())
    edits["characters"]["C07"] = edits["characters"].pop("C02")
    (indexed / "config" / "cast_edits.json").write_text(json.dumps(edits))
    shutil.copy(
        indexed / "resources" / "demo" / "episodes" / "demo02.mp4", indexed / "unlabelled" / "extra02.mp4"
    )
    (indexed / "config" / "more.yaml").write_text(
        f"index: {{episodes: [{', '.join(EPISODES)}, {UNLABELLED}, extra02], episodes_dir: unlabelled, "
        "characters: {names: config/cast_names.csv, edits: config/cast_edits.json}}\n"
    )
    run_snakemake(indexed, "index", *CONFIGS, "config/more.yaml")
    again = pd.read_parquet(indexed / "results" / "index" / "cast.parquet")
    before = dict(zip(zip(named["episode"], named["track"]), named["character"].replace({"C02": "C07"})))
    after = dict(zip(zip(again["episode"], again["track"]), again["character"]))
    assert all(after[key] == character for key, character in before.items())  # nobody renumbered
    # extra02 is demo02 again: its tracks take the characters demo02's tracks have
    demo02 = {t: c for (e, t), c in after.items() if e == "demo02" and c}
    extra02 = {t: c for (e, t), c in after.items() if e == "extra02" and c}
    assert extra02 and set(extra02.values()) <= {"C01", "C07"}
    assert sum(extra02.get(t) == c for t, c in demo02.items()) >= len(demo02) - 1
    record = json.loads((indexed / "results" / "index" / "cast.json").read_text())
    assert record["kept"] == 2 and record["edits"]["characters"] == 2

# Input functions of the footage index rules (workflow/rules/index.smk), apart from
# common.smk so that the index stays one removable piece.
import re

from dramaemo.core.subtitle_files import find_subtitles


def index_episodes_dir():
    """Folder of the videos to index: index.episodes_dir, else training's."""
    return config["index"]["episodes_dir"] or episodes_dir()


def list_index_episodes():
    """index.episodes, each a video of index.episodes_dir or a training episode; else every
    video of index.episodes_dir (the demo on or not); else the training episodes."""
    folder = config["index"]["episodes_dir"]
    suffixes = {s.lower() for s in config["video_suffixes"]}
    if config["index"]["episodes"]:
        chosen = list(config["index"]["episodes"])
        for episode in chosen:
            try:
                episode_video(Namespace(episode=episode))
            except WorkflowError:
                where = Path(folder or episodes_dir())
                raise WorkflowError(
                    f"index.episodes: {episode!r}: no video {where / episode}.<{'|'.join(sorted(suffixes))}>"
                    f"{' (nor among the training episodes)' if folder else ''}; add the file or remove the id"
                ) from None
    elif folder:
        chosen = sorted(p.stem for p in Path(folder).glob("*") if p.suffix.lower() in suffixes)
        if not chosen:
            raise WorkflowError(
                f"index.episodes_dir {folder}: no video files ({', '.join(sorted(suffixes))})"
            )
    else:
        chosen = list(EPISODES)
    clash = sorted(set(chosen) & set(paths.INDEX_FILES))
    if clash:
        raise WorkflowError(f"episode id {clash[0]!r} is reserved under {paths.INDEX_DIR}/; rename the video")
    return chosen


# Index-only episodes get the same video check as training's (on_bad_video).
INDEX_EPISODES, SKIPPED_INDEX_VIDEOS = checked_episodes(list_index_episodes(), built=EPISODES)


def index_model_file(kind="model"):
    """model.keras of index.model (or index.fallback_model): a path from config, else the
    training run of index.split and index.seed."""
    settings = config["index"]
    name, path = settings[kind], settings[f"{kind}_path"]
    if path:
        return path
    return f"{paths.run_dir(settings['split'], name, settings['seed'])}/model.keras"


def index_text_source():
    """What index.model's text encoder reads to encode new text."""
    return text_source_of(config["index"]["model"])


def text_source_of(model):
    """What ``model``'s text encoder reads to encode new text (registry new_text_source):
    GloVe its training cache (the vocabulary), MiniLM its checkpoint; None: no text."""
    text = registry.spec(model).text
    if text is None:
        return None
    encoder = registry.TEXT_ENCODERS[text]
    return config["text"][encoder.name][encoder.new_text_source] if encoder.new_text_source else encoder.cache


def index_subtitles(episode, video):
    """The subtitle file of an index episode: in index.episodes_dir (a training episode's
    video is read where training reads it, its subtitles may sit in the index folder), else
    beside its video; None when neither has one."""
    language = config["index"]["subtitles"]["language"]
    folder = config["index"]["episodes_dir"]
    # find_subtitles looks beside a video path for files named after its stem
    places = ([Path(folder) / f"{episode}.video"] if folder else []) + [Path(video)]
    return next(filter(None, (find_subtitles(place, language) for place in places)), None)


def index_inputs(wildcards):
    """Files one index_episode job reads (text sources and fallback only when used)."""
    inputs = {
        "video": episode_video(wildcards),
        "info": paths.FRAMES_INFO.format(episode=wildcards.episode),
        "manifest": paths.MANIFEST.format(episode=wildcards.episode),
        "shots": paths.SHOTS.format(episode=wildcards.episode),
        "model": index_model_file(),
    }
    text_source = index_text_source()
    if text_source:
        inputs["text_source"] = text_source
        if config["index"]["fallback_model"]:
            inputs["fallback"] = index_model_file("fallback_model")
    annotations = [
        path
        for path in annotations_file()
        if config["index"]["use_annotations"] and (config["demo"]["activate"] or Path(path).is_file())
    ]
    if annotations:
        inputs["annotations"] = annotations
    subtitles = index_subtitles(wildcards.episode, inputs["video"])
    if subtitles:
        inputs["subtitles"] = str(subtitles)
    return inputs


def index_subtitle_settings(wildcards):
    """config index.subtitles as index-episode words, for an episode with subtitles only (so
    that editing them reruns only those). A function of the wildcards alone: Snakemake
    tracks no change of a param derived from the input."""
    if index_subtitles(wildcards.episode, episode_video(wildcards)) is None:
        return []
    settings = config["index"]["subtitles"]
    # one word each: an empty encoding ("": detected) stays a word of its own
    return [
        f"--subtitles-encoding={settings['encoding']}",
        f"--subtitles-language={settings['language']}",
        f"--subtitles-context-seconds={settings['context_seconds']}",
    ]


def index_options(wildcards, input):
    """The optional inputs of index-episode as command-line words (the rule quotes each)."""
    options = []
    for name, flag in (
        ("text_source", "--text-source"),
        ("annotations", "--annotations"),
        ("subtitles", "--subtitles"),
    ):
        if name in input.keys():
            options += [flag, *map(str, input[name] if name == "annotations" else [input[name]])]
    if "fallback" in input.keys():
        options += [
            "--fallback-model",
            config["index"]["fallback_model"],
            "--fallback-path",
            str(input.fallback),
        ]
    return options


def cast_inputs(wildcards):
    """Every index and its described tracks, and the cast page's edits when given."""
    inputs = {
        "index": expand(paths.INDEX, episode=INDEX_EPISODES),
        "tracks": expand(paths.TRACK_DESCRIPTORS, episode=INDEX_EPISODES),
    }
    if config["index"]["characters"]["edits"]:
        inputs["edits"] = config["index"]["characters"]["edits"]
    return inputs


def shots_inputs(wildcards):
    """The video, and for ffmpeg's scene score the scores extract_frames computed in its
    decode (PySceneDetect decodes the video itself)."""
    inputs = {"video": episode_video(wildcards)}
    if config["index"]["shots"]["method"] == "ffmpeg":
        inputs["scores"] = paths.SCENE_SCORES.format(episode=wildcards.episode)
    return inputs


def segments_inputs(wildcards):
    """Every index, and the cast when index.characters is on."""
    inputs = {"index": expand(paths.INDEX, episode=INDEX_EPISODES)}
    if config["index"]["characters"]["activate"]:
        inputs["cast"] = paths.CAST
    return inputs


def search_inputs(wildcards):
    """The segments, every index (clips), the cast and its names file when there are."""
    inputs = {"segments": paths.SEGMENTS, "index": expand(paths.INDEX, episode=INDEX_EPISODES)}
    return inputs | cast_and_names_inputs()


def timeline_inputs(wildcards):
    """The episode's index, and the cast and its names when index.characters is on (one
    row per character)."""
    inputs = {"index": paths.INDEX.format(episode=wildcards.episode)}
    return inputs | cast_and_names_inputs()


def character_summary_inputs(wildcards):
    return {"index": expand(paths.INDEX, episode=INDEX_EPISODES)} | cast_and_names_inputs()


def cast_and_names_inputs():
    """The cast, and its names file when config gives one (index.characters on)."""
    settings = config["index"]["characters"]
    if not settings["activate"]:
        return {}
    return {"cast": paths.CAST} | ({"names": settings["names"]} if settings["names"] else {})


def cast_options(wildcards, input):
    """--cast and --names for the inputs that have them (the rule quotes each word)."""
    return [word for name in ("cast", "names") if name in input.keys() for word in (f"--{name}", input[name])]


def index_final_output():
    """What `snakemake index` builds: every index, the segments, the report's plots, the
    cast when index.characters is on."""
    return (
        expand(paths.INDEX, episode=INDEX_EPISODES)
        + [paths.SEGMENTS, *(paths.INDEX_REPORT.format(kind=kind) for kind in ("csv", "html"))]
        + expand(paths.TIMELINE, episode=INDEX_EPISODES)
        + (
            [paths.CAST, paths.CAST_RECORD, *(paths.CHARACTER_SUMMARY.format(kind=k) for k in ("csv", "png"))]
            if config["index"]["characters"]["activate"]
            else []
        )
    )


def search_options():
    """config index.query as `dramaemo search` words (the rule quotes each)."""
    query = config["index"]["query"]
    options = [word for emotion in query["emotions"] for word in ("--emotion", emotion)]
    options += ["--min-seconds", str(query["min_seconds"]), "--min-confidence", str(query["min_confidence"])]
    for key in ("min_faces", "max_faces"):
        if query[key] is not None:
            options += [f"--{key.replace('_', '-')}", str(query[key])]
    options += ["--limit", "all" if query["limit"] is None else str(query["limit"])]
    options += [word for episode in query["episodes"] for word in ("--episode", episode)]
    options += [f"--character={character}" for character in query["characters"]]
    return options

# Helpers and input functions shared by every stage.
import gc
import shlex
import sys
from argparse import Namespace
from pathlib import Path

from snakemake.utils import validate

# The package behind the rules, importable by every job (`python -m dramaemo ...`) even
# where it is not installed, as in a `--sdm conda` environment. Jobs inherit this
# shell prefix, and cluster jobs re-read this file, so they get it too.
PACKAGE_DIR = str(Path(workflow.basedir) / "workflow" / "src")
# (Snakemake formats the prefix like a shell command: doubled braces are literal.)
sys.path.insert(0, PACKAGE_DIR)  # the same package serves this file (registry, defaults)
from dramaemo import SPLIT_STRATEGIES
from dramaemo.core import paths, registry
from dramaemo.core.config import check as check_config
from dramaemo.core.config import check_config_keys
from dramaemo.core.config import rule_resources as config_rule_resources
from dramaemo.core.episodes import check_episode_ids
from dramaemo.core.errors import UserError
from dramaemo.core.paths import draw_of
from dramaemo.video.check import check_videos

# Everything imported so far lives as long as Snakemake's process: moved out of the
# garbage collector's sight, the collections that building the DAG triggers get cheap.
# `snakemake -n` on 100 episodes: 2.03 -> 1.63 s (best of 5, alternated), +2 MB of RSS.
gc.freeze()

# Unknown keys first, with the nearest known one: jsonschema's own message for them
# ("Additional properties are not allowed") names neither the section nor the fix.
try:
    check_config_keys(config)
except UserError as error:
    raise WorkflowError(str(error)) from None
validate(config, schema="../schemas/config.schema.yaml")
# What the schema cannot say (registry model names, strategies, classes), all at once.
_config_problems = check_config(config)
if _config_problems:
    raise WorkflowError("config: " + "; ".join(_config_problems))

shell.prefix(
    "set -euo pipefail; export PYTHONPATH=%s${{PYTHONPATH:+:$PYTHONPATH}}; "
    % shlex.quote(PACKAGE_DIR)  # a checkout in "My Projects/" too
)


def episodes_dir():
    """Where the episode videos are (the demo's own folder when the demo is on)."""
    if config["demo"]["activate"]:
        return "resources/demo/episodes"
    return config["episodes_dir"]


def annotations_file():
    """The annotation CSVs, a list (the demo's own when the demo is on): config
    `annotations` is one file or a list of files, e.g. one per annotator."""
    if config["demo"]["activate"]:
        return ["resources/demo/annotations.csv"]
    files = config["annotations"]
    return [files] if isinstance(files, str) else list(files)


def list_episodes():
    """Episode ids: the video file names (without extension) in `episodes_dir`.

    The demo's episodes are built by a rule, so their ids come from config instead of
    from the directory (which does not exist before the first run).
    """
    if config["demo"]["activate"]:
        return [f"demo{i + 1:02d}" for i in range(config["demo"]["episodes"])]
    folder = Path(episodes_dir())
    if not folder.is_dir():
        raise WorkflowError(
            f"episodes_dir {folder}: no such directory; point config 'episodes_dir' at "
            "the folder holding your episode videos"
        )
    suffixes = {s.lower() for s in config["video_suffixes"]}
    videos = [p for p in folder.iterdir() if p.suffix.lower() in suffixes]
    if not videos:
        raise WorkflowError(f"episodes_dir {folder}: no video files ({', '.join(sorted(suffixes))})")
    try:  # a name that cannot be an id is named here, before any job runs
        return check_episode_ids(videos)
    except UserError as error:
        raise WorkflowError(str(error)) from None


def episode_video(wildcards):
    """The video file of one episode, whatever its suffix."""
    folder = Path(episodes_dir())
    if config["demo"]["activate"] and wildcards.episode in EPISODES:
        return f"resources/demo/episodes/{wildcards.episode}.mp4"
    # index-only episodes (workflow/rules/index.smk) may live in index.episodes_dir
    index_folder = config.get("index", {}).get("episodes_dir")
    for candidate_folder in [folder] + ([Path(index_folder)] if index_folder else []):
        for suffix in config["video_suffixes"]:
            for candidate in (suffix, suffix.upper()):
                path = candidate_folder / f"{wildcards.episode}{candidate}"
                if path.exists():
                    return str(path)
    raise WorkflowError(f"episode {wildcards.episode}: no video in {folder}")


# Where the video check keeps what it found (per file, with its size and time).
VIDEO_CHECK_CACHE = ".snakemake/dramaemo/video_check.json"


def checked_episodes(episodes, built=()):
    """(usable episode ids, skipped videos) once every video's header is probed, before
    any job: on_bad_video stop lists every bad video at once and stops; skip drops them
    (the join report lists them). Only new or changed files are probed (the cache); the
    job processes Snakemake starts on a cluster read the cache and probe nothing.
    Episodes in ``built`` (the demo's, made by a rule; ones checked already) are not."""
    probed = [episode for episode in episodes if episode not in set(built)]
    if not probed:
        return episodes, []
    videos = [episode_video(Namespace(episode=episode)) for episode in probed]
    try:
        records = check_videos(
            videos, config["on_bad_video"], cache=VIDEO_CHECK_CACHE, probe=workflow.is_main_process
        )
    except UserError as error:
        raise WorkflowError(f"{error}") from None
    skipped = [record for record in records if record["status"] != "ok"]
    dropped = {record["episode"] for record in skipped}
    return [episode for episode in episodes if episode not in dropped], skipped


EPISODES, SKIPPED_VIDEOS = checked_episodes(
    list_episodes(), built=list_episodes() if config["demo"]["activate"] else ()
)


wildcard_constraints:
    episode="[^/]+",
    split="|".join(SPLIT_STRATEGIES),


def get_final_output():
    """Inputs of rule all; each stage appends its final outputs here."""
    final = [paths.DATASET, *(paths.JOIN_REPORT.format(kind=kind) for kind in ("csv", "md")), paths.IMAGES]
    final += [path for split in config["split"]["strategies"] for path in split_files(split)]
    # the F1 tables, summary and plots (report_final_output: workflow/rules/report.smk)
    final += report_final_output()
    final += ablation_final_output()
    return final


def trained_models():
    """The models of config `models` (rows of the F1 table besides FER)."""
    return list(config["models"])


def train_seeds():
    """Seeds each model is trained with (config train.seeds)."""
    return list(config["train"]["seeds"])


def split_file(split, seed):
    """The split CSV of the draw the run with training `seed` trains and tests on
    (dramaemo.core.paths.draw_of: config split.seed, split.draw_per_seed)."""
    draw = draw_of(seed, config["split"]["seed"], config["split"]["draw_per_seed"])
    return paths.SPLIT.format(split=split, draw=draw)


def split_files(split):
    """The split CSVs of every draw the runs of a split use (one per seed, or one)."""
    return list(dict.fromkeys(split_file(split, seed) for seed in train_seeds()))


def rule_resources(rule):
    """threads, mem_mb, runtime of one rule (dramaemo.core.config.rule_resources)."""
    return config_rule_resources(config["resources"], rule)


def rule_threads(rule):
    return rule_resources(rule)["threads"]


def per_attempt(amount):
    """A resource that grows with each try (attempt 1, 2, ...): a job killed for
    memory or time gets more when Snakemake resubmits it (profiles/slurm: retries)."""
    return lambda wildcards, attempt: amount * attempt


def rule_mem_mb(rule):
    return per_attempt(rule_resources(rule)["mem_mb"])


def rule_runtime(rule):
    return per_attempt(rule_resources(rule)["runtime"])

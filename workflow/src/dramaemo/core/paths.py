"""Every results path that one rule writes and another reads, named once.

The rules (workflow/rules/*.smk), the package and the benchmarks take their paths from
here, so a folder cannot be spelled two ways. Templates hold Snakemake's wildcards
(``{episode}``, ``{split}``, ``{model}``, ``{seed}``, ``{draw}``, ``{variant}``); fill
them with ``str.format``. Light: the Snakefile imports it while parsing.
"""

from __future__ import annotations

from dramaemo.core import registry

# ---- video and faces (one per episode)
FRAMES = "results/frames/{episode}"
FRAMES_INFO = "results/frames/{episode}.info.json"
SCENE_SCORES = "results/frames/{episode}.scenes.csv"  # every frame's scene-change score, same decode
DETECTIONS = "results/faces/{episode}.detections.csv"
CROPS = "results/crops/{episode}"
MANIFEST = "results/crops/{episode}.manifest.csv"
CROPS_ROOT = "results/crops"

# ---- the dataset
DATASET = "results/dataset/dataset.csv"
JOIN_REPORT = "results/dataset/join_report.{kind}"  # csv, md, png
IMAGES = "results/dataset/images.npz"
SPLIT = "results/split/{split}/draw{draw}.csv"
SPLIT_PLOT = "results/split/{split}/draw{draw}.png"
TEXT = "results/text"  # the text encoders' caches (registry.TextEncoder.cache) and their notes

# ---- runs: each kind of run has its own rule and folder (registry kind), so no two rules
# can write one file; every run folder holds predictions.csv and run.json.
RUN_DIRS = {
    registry.TRAINED: "results/models/{split}/{model}/seed{seed}",
    registry.ZERO_SHOT: "results/{model}/{split}/seed{seed}",
    registry.FUSED: "results/{model}/{split}/seed{seed}",
}
ABLATION_RUN = "results/ablation/{split}/{variant}/{model}/seed{seed}"
METRICS = "results/eval/{split}/{model}/seed{seed}/metrics.json"

# ---- tables and plots
TABLES = "results/table/{split}"  # f1_table.*, bootstrap.csv, per-split plots
SUMMARY = "results/table/summary.{kind}"  # md, csv, tex, html
DIFFERENCES = "results/table/differences.png"
CONTACT_SHEET = "results/table/contact_sheet.png"
ABLATION_TABLE = "results/table/ablation/ablation.{kind}"  # md, csv, html, png

# ---- the footage index
SHOTS = "results/shots/{episode}.csv"
INDEX_DIR = "results/index"
INDEX = INDEX_DIR + "/{episode}.parquet"
INDEX_SUMMARY = INDEX_DIR + "/{episode}.json"
SEGMENTS = INDEX_DIR + "/segments.parquet"
INDEX_REPORT = INDEX_DIR + "/summary.{kind}"  # csv, html
TIMELINE = INDEX_DIR + "/timeline/{episode}.png"
CAST = INDEX_DIR + "/cast.parquet"  # each track's character (footage.cast)
CAST_RECORD = INDEX_DIR + "/cast.json"  # how the characters were found, and their faces
TRACK_DESCRIPTORS = "results/identity/{episode}.parquet"  # each track's identity descriptor
CHARACTER_SUMMARY = INDEX_DIR + "/characters.{kind}"  # csv, png: emotion per character and episode
INDEX_FILES = ("segments", "summary", "cast", "characters")  # names under INDEX_DIR that are not episodes
SEARCH_HITS = "results/search/hits.csv"
GALLERY = "results/search/gallery"
AUTHOR = "results/author"  # the story's rough cut, cut.csv, timelines and storyboard
AUTHOR_FILE = AUTHOR + "/{name}"  # name: one of authoring.author.OUTPUTS
AUTHOR_CHOICES = "results/author.choices.json"  # the storyboard page's picks (authoring.choices)


def draw_of(seed: int, seed_of_first_draw: int, per_seed: bool) -> int:
    """The split draw that the run trained with ``seed`` trains and tests on (config
    split.seed, split.draw_per_seed)."""
    return int(seed_of_first_draw) + int(seed) if per_seed else int(seed_of_first_draw)


def run_dir(split: str, model: str, seed) -> str:
    """Folder of one run of the main table (RUN_DIRS by the model's registry kind)."""
    return RUN_DIRS[registry.spec(model).kind].format(split=split, model=model, seed=seed)

# Helpers and input functions shared by every stage.
import gc
import json
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
from dramaemo.core import ablation
from dramaemo.core import registry
from dramaemo.core.config import check as check_config
from dramaemo.core.config import check_config_keys
from dramaemo.core.episodes import check_episode_ids
from dramaemo.core.errors import UserError
from dramaemo.core.options import BLAZEFACE, detector_options, model_settings
from dramaemo.core.paths import draw_of
from dramaemo.core.registry import KUMO_SOURCE
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


def frames_folder(path):
    """The frame folder of an episode: temporary unless frames.keep is true."""
    return directory(path) if config["frames"]["keep"] else temp(directory(path))


def detect_faces_inputs(wildcards):
    """The episode's frames, and BlazeFace's model when it is the detector (fetch_blazeface)."""
    inputs = {"frames": f"results/frames/{wildcards.episode}"}
    if config["faces"]["detector"] == BLAZEFACE:
        inputs["model"] = config["faces"]["blazeface"]["model"]
    return inputs


def label_map_json():
    """label_map as one JSON string: a rule parameter, so editing it reruns the join."""
    return json.dumps(config["label_map"], sort_keys=True)


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


def skipped_videos_json(skipped=SKIPPED_VIDEOS):
    """The skipped videos (file, reason) as JSON: a parameter of the rule that reports
    them, so a video that is repaired or goes bad reruns it."""
    return json.dumps([{key: r[key] for key in ("episode", "file", "reason")} for r in skipped])


wildcard_constraints:
    episode="[^/]+",
    split="|".join(SPLIT_STRATEGIES),


def get_final_output():
    """Inputs of rule all; each stage appends its final outputs here."""
    final = [
        "results/dataset/dataset.csv",
        "results/dataset/join_report.csv",
        "results/dataset/join_report.md",
        "results/dataset/images.npz",
    ]
    final += [path for split in config["split"]["strategies"] for path in split_files(split)]
    # the F1 tables, summary and plots (report_final_output: workflow/rules/report.smk)
    final += report_final_output()
    final += ablation_final_output()
    return final


# ---- Training side (workflow/rules/text.smk, train.smk): what each model reads comes
# from the model registry (dramaemo.core.registry).
# The stand-in ELMo module is built where the handle points when text.elmo.standin is on.
ELMO_STANDIN_DIR = (
    config["text"]["elmo"]["handle"] if config["text"]["elmo"]["standin"] else "resources/elmo_standin"
)


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
    return f"results/split/{split}/draw{draw}.csv"


def split_files(split):
    """The split CSVs of every draw the runs of a split use (one per seed, or one)."""
    return list(dict.fromkeys(split_file(split, seed) for seed in train_seeds()))


def glove_file_input():
    """The GloVe text file as an input (none when GloVe comes from the PyPI package)."""
    source = config["text"]["glove"]["source"]
    return [] if source == KUMO_SOURCE else [source]


def elmo_module_input():
    """The ELMo module directory as an input (none for a hub URL)."""
    handle = config["text"]["elmo"]["handle"]
    if config["text"]["elmo"]["standin"] or "://" not in handle:
        return [handle]
    return []


def elmo_handle(wildcards, input):
    """The module folder when it is local (an input, so it travels with the job), else the URL."""
    local = [str(path) for path in input.module] if "module" in input.keys() else []
    return local[0] if local else config["text"]["elmo"]["handle"]


def model_train_inputs(model, split, seed, train):
    """Files one training job reads: labels and its seed's split draw, plus the model's
    inputs (registry) under config `train` (which may pick the FER2013-initialised image
    branch)."""
    spec = registry.spec(model)
    inputs = {
        "dataset": "results/dataset/dataset.csv",
        "split": split_file(split, seed),
    }
    if spec.face:
        inputs["images"] = "results/dataset/images.npz"
    if spec.text:
        inputs["text_cache"] = registry.TEXT_ENCODERS[spec.text].cache
    if spec.needs_fer_weights(train):
        inputs["fer_weights"] = config["fer"]["weights"]  # rule fetch_fer
    return inputs


def train_inputs(wildcards):
    return model_train_inputs(wildcards.model, wildcards.split, wildcards.seed, config["train"])


def train_input_options(wildcards, input):
    """--images / --text-cache / --fer-weights for the inputs this model reads."""
    names = {"images": "--images", "text_cache": "--text-cache", "fer_weights": "--fer-weights"}
    return " ".join(
        f"{flag} {shlex.quote(str(input[name]))}" for name, flag in names.items() if name in input.keys()
    )


def train_options(wildcards):
    """The config train settings `wildcards.model` reads (dramaemo.core.options), as JSON:
    a param, so editing one model's settings reruns only that model."""
    return json.dumps(model_settings(wildcards.model, config["train"]), sort_keys=True)


# ---- Ablation (workflow/rules/ablation.smk, dramaemo.evaluation.ablation).
ABLATION = config["ablation"]


def ablation_train_inputs(wildcards):
    return model_train_inputs(
        wildcards.model,
        wildcards.split,
        wildcards.seed,
        ablation.variant_train(ABLATION, wildcards.variant, config["train"]),
    )


def ablation_train_options(wildcards):
    """The settings variant `wildcards.variant` trains with, as JSON (a param: editing a
    variant reruns only its runs)."""
    return json.dumps(ablation.variant_settings(ABLATION, wildcards.variant, config["train"]), sort_keys=True)


def main_run_files(split, model, seed):
    """metrics.json and predictions.csv of a run of the main table."""
    return {
        "metrics": f"results/eval/{split}/{model}/seed{seed}/metrics.json",
        "predictions": f"{run_dir(split, model, seed)}/predictions.csv",
    }


def ablation_run_files(variant, seed):
    """metrics.json and predictions.csv of one run of a variant: the main table's run when
    the variant's settings equal it, else the variant's own run."""
    split = ABLATION["split"]
    reused = ablation.reused_model(ABLATION, variant, config)
    if reused:
        return main_run_files(split, reused, seed)
    folder = f"results/ablation/{split}/{variant}/{ablation.variant_model(ABLATION, variant)}/seed{seed}"
    return {"metrics": f"{folder}/metrics.json", "predictions": f"{folder}/predictions.csv"}


def ablation_runs_json():
    """--runs of dramaemo ablation-table: each row's change, metrics and predictions files,
    the chosen configuration (config train for ablation.model) first."""
    split, seeds = ABLATION["split"], train_seeds()
    rows = {
        ablation.CHOSEN: ("config train", [main_run_files(split, ABLATION["model"], seed) for seed in seeds])
    }
    for variant in ablation.variant_names(ABLATION):
        rows[variant] = (
            ablation.describe(ABLATION["variants"][variant]),
            [ablation_run_files(variant, seed) for seed in seeds],
        )
    return json.dumps(
        {
            name: {
                "change": change,
                **{kind: [files[kind] for files in runs] for kind in ("metrics", "predictions")},
            }
            for name, (change, runs) in rows.items()
        }
    )


def ablation_input_files():
    """Every metrics and predictions file the ablation table reads."""
    rows = json.loads(ablation_runs_json()).values()
    return [path for row in rows for kind in ("metrics", "predictions") for path in row[kind]]


def ablation_final_output():
    """The ablation table and plot (rule all), when config ablation.activate is on."""
    if not ABLATION["activate"]:
        return []
    return [f"results/table/ablation/ablation.{kind}" for kind in ("md", "csv", "html", "png")]


# ---- Evaluation and report side (workflow/rules/evaluate.smk, report.smk).
def fer_active():
    return config["fer"]["activate"]


def late_fusion_active():
    """Late fusion is on and both of its models are trained (a config that trains
    neither the image nor the text model has nothing to fuse, so no column)."""
    late = config["late_fusion"]
    fused = {late["image_model"], late["text_model"]}
    return late["activate"] and fused <= set(trained_models())


def late_fusion_input(kind, name):
    """A file of the fused run's image or text model run, same split and seed."""
    model = config["late_fusion"][f"{kind}_model"]
    return f"results/models/{{split}}/{model}/seed{{seed}}/{name}"


def run_dir(split, model, seed):
    """Folder of a run's predictions.csv and run.json: each kind of run has its own rule
    (registry kind), and each rule its own folder, so no two rules can write one file."""
    kind = registry.spec(model).kind
    if kind in (registry.ZERO_SHOT, registry.FUSED):
        return f"results/{model}/{split}/seed{seed}"
    return f"results/models/{split}/{model}/seed{seed}"


def run_list(split):
    """(model, seed) of every run evaluated on a split: trained models, late fusion and
    FER, each once per seed (FER is deterministic: one run per seed's split draw)."""
    models = (
        trained_models()
        + ([registry.LATE] if late_fusion_active() else [])
        + ([registry.FER] if fer_active() else [])
    )
    return [(model, seed) for model in models for seed in train_seeds()]


def run_files(split, name):
    """`name` (predictions.csv, run.json) of every run evaluated on a split."""
    return [f"{run_dir(split, model, seed)}/{name}" for model, seed in run_list(split)]


def metrics_files(split):
    """metrics.json of every run evaluated on a split."""
    return [f"results/eval/{split}/{model}/seed{seed}/metrics.json" for model, seed in run_list(split)]


def evaluated_run(wildcards):
    """The predictions and run.json that rule evaluate reads for one run, and its draw's split."""
    folder = run_dir(wildcards.split, wildcards.model, wildcards.seed)
    return {
        "predictions": f"{folder}/predictions.csv",
        "run": f"{folder}/run.json",
        "split": split_file(wildcards.split, wildcards.seed),
    }


def seed_split(wildcards):
    """The split CSV of the draw of the run with `wildcards.seed`."""
    return split_file(wildcards.split, wildcards.seed)


def model_labels_json():
    """Display names of the trained and fused models (dramaemo.core.registry) for the report's
    --labels: a parameter, so renaming a model redraws the tables and plots."""
    standin = config["text"]["elmo"]["standin"]
    models = trained_models() + ([registry.LATE] if late_fusion_active() else [])
    return json.dumps({model: registry.model_label(model, standin) for model in models})


def has_baseline():
    """Differences to the baseline need a baseline (and at least one other model)."""
    compared = len(trained_models()) + int(fer_active()) + int(late_fusion_active())
    return registry.BASELINE in trained_models() and compared > 1


def elmo_standin_flag():
    """--elmo-standin when the ELMo handle is the offline stand-in (labels say so)."""
    return "--elmo-standin" if config["text"]["elmo"]["standin"] else ""


def history_files(wildcards, name="history.csv"):
    """history.csv (or, with `name`, the run.json beside it) of every trained run of a split."""
    return [
        f"results/models/{wildcards.split}/{model}/seed{seed}/{name}"
        for model in trained_models()
        for seed in train_seeds()
    ]


def report_final_output():
    """The tables and plots that rule all asks for (appended in get_final_output)."""
    strategies = config["split"]["strategies"]
    final = expand(
        "results/table/{split}/{name}",
        split=strategies,
        name=[
            "f1_table.md",
            "f1_table.csv",
            "f1_table.tex",
            "f1_table.html",
            "confusion_matrices.png",
            "f1_per_class.png",
        ],
    )
    if trained_models():
        final += expand("results/table/{split}/training_curves.png", split=strategies)
    final += [f"results/table/summary.{kind}" for kind in ("md", "csv", "tex", "html")]
    if has_baseline():
        final += ["results/table/differences.png"]
    final += ["results/table/contact_sheet.png"]
    return final


def table_report(path, name, split=True):
    """A table file marked for the report under "F1 table" (per split or "all splits")."""
    return report(
        path,
        caption="../report/f1_table.rst" if split else "../report/f1_summary.rst",
        category="F1 table",
        subcategory="{split}" if split else "all splits",
        labels={"split": "{split}" if split else "all", "file": name},
    )


def rule_resources(rule):
    """Config `resources` of one rule (threads, mem_mb, runtime; config/config.yaml)."""
    try:
        return config["resources"][rule]
    except KeyError:
        raise WorkflowError(
            f"config resources: no entry for rule {rule}; add "
            f"`{rule}: {{threads: 1, mem_mb: 1000, runtime: 10}}` under `resources`"
        )


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

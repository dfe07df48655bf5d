# Train each model of config `models` on each split, once per seed of `train.seeds`;
# what a model reads (inputs, settings) comes from the model registry (dramaemo.core.registry,
# through workflow/rules/train_common.smk). The test part's predictions and the run's identity
# (run.json) feed the evaluation (workflow/rules/evaluate.smk).


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

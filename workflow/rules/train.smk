# Train each model of config `models` on each split, once per seed of `train.seeds`;
# the test part's predictions feed the evaluation (workflow/rules/report.smk).


rule train_model:
    input:
        unpack(train_inputs),
    output:
        model="results/models/{split}/{model}/seed{seed}/model.keras",
        history="results/models/{split}/{model}/seed{seed}/history.csv",
        summary="results/models/{split}/{model}/seed{seed}/training.json",
        predictions="results/eval/{split}/{model}/seed{seed}/predictions.csv",
    log:
        "logs/train_model/{split}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train_model/{split}/{model}/seed{seed}.tsv"
    params:
        # Only the settings this model uses, so editing one model's settings reruns only it.
        options=train_options,
    threads: config["train"]["threads"]
    resources:
        mem_mb=per_attempt(config["train"]["mem_mb"]),
        runtime=per_attempt(config["train"]["runtime"]),
        gpu=config["train"]["gpus"],
    conda:
        "../../envs/tensorflow.yaml"
    shell:
        "python -m dramaemo train --model {wildcards.model} --seed {wildcards.seed} "
        "--dataset {input.dataset} --split-csv {input.split} {params.options} --threads {threads} "
        "--model-out {output.model} --history-out {output.history} --summary-out {output.summary} "
        "--predictions-out {output.predictions} > {log} 2>&1"

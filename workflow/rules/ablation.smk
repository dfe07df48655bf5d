# Ablation of the training defaults (config ablation, dramaemo.evaluation.ablation): each variant is
# trained and evaluated like a main-table run, by the same rules (`use rule`), into its
# own folder; variants equal to a main-table run reuse it (ablation_run_files).


use rule train_model as train_ablation with:
    input:
        unpack(ablation_train_inputs),
    output:
        model=f"{paths.ABLATION_RUN}/model.keras",
        history=f"{paths.ABLATION_RUN}/history.csv",
        summary=f"{paths.ABLATION_RUN}/training.json",
        predictions=f"{paths.ABLATION_RUN}/predictions.csv",
        run=f"{paths.ABLATION_RUN}/run.json",
    log:
        "logs/train_ablation/{split}/{variant}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train_ablation/{split}/{variant}/{model}/seed{seed}.tsv"
    wildcard_constraints:
        model="|".join(registry.TRAINED_MODELS),
        variant="|".join(ablation.variant_names(ABLATION)) or "(?!)",
    params:
        options=ablation_train_options,
        inputs=train_input_options,


use rule evaluate as evaluate_ablation with:
    input:
        predictions=f"{paths.ABLATION_RUN}/predictions.csv",
        run=f"{paths.ABLATION_RUN}/run.json",
        split=seed_split,
        dataset=paths.DATASET,
    output:
        f"{paths.ABLATION_RUN}/metrics.json",
    log:
        "logs/evaluate_ablation/{split}/{variant}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/evaluate_ablation/{split}/{variant}/{model}/seed{seed}.tsv"
    wildcard_constraints:
        variant="|".join(ablation.variant_names(ABLATION)) or "(?!)",


rule ablation_table:
    input:
        runs=ablation_input_files(),
        split=split_files(ABLATION["split"]),
    output:
        md=paths.ABLATION_TABLE.format(kind="md"),
        csv=paths.ABLATION_TABLE.format(kind="csv"),
        html=report(
            paths.ABLATION_TABLE.format(kind="html"),
            caption="../report/ablation.rst",
            category="Ablation",
            labels={"file": "ablation table"},
        ),
        plot=report(
            paths.ABLATION_TABLE.format(kind="png"),
            caption="../report/ablation.rst",
            category="Ablation",
            labels={"file": "macro-F1 change per variant"},
        ),
    log:
        "logs/ablation_table/ablation_table.log",
    benchmark:
        "benchmarks/ablation_table/ablation_table.tsv"
    conda:
        "../../envs/report.yaml"
    threads: rule_threads("ablation_table")
    resources:
        mem_mb=rule_mem_mb("ablation_table"),
        runtime=rule_runtime("ablation_table"),
    params:
        runs=ablation_runs_json(),
        decimals=config["evaluation"]["decimals"],
        resamples=config["evaluation"]["bootstrap"]["resamples"],
        seed=config["evaluation"]["bootstrap"]["seed"],
        ci_level=config["evaluation"]["bootstrap"]["ci_level"],
        resample_by=config["evaluation"]["bootstrap"]["resample_by"],
    shell:
        "python -m dramaemo ablation-table --runs {params.runs:q} --decimals {params.decimals:q}"
        " --split {input.split:q} --resamples {params.resamples:q} --seed {params.seed:q}"
        " --ci-level {params.ci_level:q} --resample-by {params.resample_by:q}"
        " --md {output.md:q} --csv {output.csv:q} --html {output.html:q} --plot {output.plot:q}"
        " > {log:q} 2>&1"

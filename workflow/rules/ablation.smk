# Ablation of the training defaults (config ablation, dramaemo.evaluation.ablation): each variant is
# trained and evaluated like a main-table run, by the same rules (`use rule`), into its
# own folder; variants equal to a main-table run reuse it (ablation_run_files).
import json

from dramaemo.core import ablation

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

# Input functions of the evaluation, the tables and the report's plots (evaluate.smk,
# report.smk): every run folder is named in dramaemo.core.paths.
import json


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
    return f"{paths.run_dir('{split}', model, '{seed}')}/{name}"


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
    return [f"{paths.run_dir(split, model, seed)}/{name}" for model, seed in run_list(split)]


def metrics_files(split):
    """metrics.json of every run evaluated on a split."""
    return [paths.METRICS.format(split=split, model=model, seed=seed) for model, seed in run_list(split)]


def evaluated_run(wildcards):
    """The predictions and run.json that rule evaluate reads for one run, and its draw's split."""
    folder = paths.run_dir(wildcards.split, wildcards.model, wildcards.seed)
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
        f"{paths.run_dir(wildcards.split, model, seed)}/{name}"
        for model in trained_models()
        for seed in train_seeds()
    ]


def report_final_output():
    """The tables and plots that rule all asks for (appended in get_final_output)."""
    strategies = config["split"]["strategies"]
    final = expand(
        f"{paths.TABLES}/{{name}}",
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
        final += expand(f"{paths.TABLES}/training_curves.png", split=strategies)
    final += [paths.SUMMARY.format(kind=kind) for kind in ("md", "csv", "tex", "html")]
    if has_baseline():
        final += [paths.DIFFERENCES]
    final += [paths.CONTACT_SHEET]
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

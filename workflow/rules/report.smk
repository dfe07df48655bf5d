# The F1 comparison table (the paper's Table II) per split, the cross-split summary with
# bootstrap CIs, and the report's plots (dramaemo.evaluation.f1tables, dramaemo.evaluation.plots).


rule f1_table:
    input:
        metrics=lambda wildcards: metrics_files(wildcards.split),
    output:
        md=table_report(f"{paths.TABLES}/f1_table.md", "F1 table (Markdown)"),
        csv=table_report(f"{paths.TABLES}/f1_table.csv", "F1 table (CSV)"),
        tex=table_report(f"{paths.TABLES}/f1_table.tex", "F1 table (LaTeX)"),
        html=table_report(f"{paths.TABLES}/f1_table.html", "F1 table"),
    log:
        "logs/f1_table/{split}.log",
    benchmark:
        "benchmarks/f1_table/{split}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: rule_threads("f1_table")
    resources:
        mem_mb=rule_mem_mb("f1_table"),
        runtime=rule_runtime("f1_table"),
    params:
        elmo_standin=elmo_standin_flag(),
        labels=model_labels_json(),
        decimals=config["evaluation"]["decimals"],
    shell:
        "python -m dramaemo f1-table --metrics {input.metrics:q}"
        " {params.elmo_standin} --labels {params.labels:q}"
        " --decimals {params.decimals} --md {output.md:q} --csv {output.csv:q}"
        " --tex {output.tex:q} --html {output.html:q} > {log:q} 2>&1"


rule summary_table:
    input:
        metrics=[path for split in config["split"]["strategies"] for path in metrics_files(split)],
        bootstrap=expand(
            f"{paths.TABLES}/bootstrap.csv",
            split=config["split"]["strategies"] if has_baseline() else [],
        ),
    output:
        md=table_report(paths.SUMMARY.format(kind="md"), "summary (Markdown)", split=False),
        csv=table_report(paths.SUMMARY.format(kind="csv"), "summary (CSV)", split=False),
        tex=table_report(paths.SUMMARY.format(kind="tex"), "summary (LaTeX)", split=False),
        html=table_report(paths.SUMMARY.format(kind="html"), "summary", split=False),
    log:
        "logs/summary_table/summary_table.log",
    benchmark:
        "benchmarks/summary_table/summary_table.tsv"
    conda:
        "../../envs/report.yaml"
    threads: rule_threads("summary_table")
    resources:
        mem_mb=rule_mem_mb("summary_table"),
        runtime=rule_runtime("summary_table"),
    params:
        strategies=config["split"]["strategies"],
        elmo_standin=elmo_standin_flag(),
        labels=model_labels_json(),
        decimals=config["evaluation"]["decimals"],
    shell:
        "python -m dramaemo summary-table --metrics {input.metrics:q} --bootstrap {input.bootstrap:q}"
        " --strategies {params.strategies} {params.elmo_standin} --labels {params.labels:q}"
        " --decimals {params.decimals} --md {output.md:q} --csv {output.csv:q}"
        " --tex {output.tex:q} --html {output.html:q} > {log:q} 2>&1"


rule plot_differences:
    input:
        expand(f"{paths.TABLES}/bootstrap.csv", split=config["split"]["strategies"]),
    output:
        report(
            paths.DIFFERENCES,
            caption="../report/differences.rst",
            category="F1 table",
            subcategory="all splits",
            labels={"split": "all", "file": "differences to the baseline"},
        ),
    log:
        "logs/plot_differences/plot_differences.log",
    benchmark:
        "benchmarks/plot_differences/plot_differences.tsv"
    conda:
        "../../envs/report.yaml"
    threads: rule_threads("plot_differences")
    resources:
        mem_mb=rule_mem_mb("plot_differences"),
        runtime=rule_runtime("plot_differences"),
    params:
        strategies=config["split"]["strategies"],
        elmo_standin=elmo_standin_flag(),
        labels=model_labels_json(),
    shell:
        "python -m dramaemo plot-differences --bootstrap {input:q} --strategies {params.strategies}"
        " {params.elmo_standin} --labels {params.labels:q} --output {output:q} > {log:q} 2>&1"


rule plot_confusion:
    input:
        metrics=lambda wildcards: metrics_files(wildcards.split),
    output:
        report(
            f"{paths.TABLES}/confusion_matrices.png",
            caption="../report/confusion.rst",
            category="Plots",
            subcategory="{split}",
            labels={"split": "{split}", "plot": "confusion matrices"},
        ),
    log:
        "logs/plot_confusion/{split}.log",
    benchmark:
        "benchmarks/plot_confusion/{split}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: rule_threads("plot_confusion")
    resources:
        mem_mb=rule_mem_mb("plot_confusion"),
        runtime=rule_runtime("plot_confusion"),
    params:
        elmo_standin=elmo_standin_flag(),
        labels=model_labels_json(),
    shell:
        "python -m dramaemo plot-confusion --metrics {input.metrics:q}"
        " {params.elmo_standin} --labels {params.labels:q}"
        " --output {output:q} > {log:q} 2>&1"


rule plot_f1:
    input:
        metrics=lambda wildcards: metrics_files(wildcards.split),
    output:
        report(
            f"{paths.TABLES}/f1_per_class.png",
            caption="../report/f1_bars.rst",
            category="Plots",
            subcategory="{split}",
            labels={"split": "{split}", "plot": "per-class F1"},
        ),
    log:
        "logs/plot_f1/{split}.log",
    benchmark:
        "benchmarks/plot_f1/{split}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: rule_threads("plot_f1")
    resources:
        mem_mb=rule_mem_mb("plot_f1"),
        runtime=rule_runtime("plot_f1"),
    params:
        elmo_standin=elmo_standin_flag(),
        labels=model_labels_json(),
    shell:
        "python -m dramaemo plot-f1 --metrics {input.metrics:q}"
        " {params.elmo_standin} --labels {params.labels:q}"
        " --output {output:q} > {log:q} 2>&1"


rule plot_training:
    input:
        history=history_files,
        runs=lambda wildcards: history_files(wildcards, "run.json"),
    output:
        report(
            f"{paths.TABLES}/training_curves.png",
            caption="../report/training_curves.rst",
            category="Plots",
            subcategory="{split}",
            labels={"split": "{split}", "plot": "training curves"},
        ),
    log:
        "logs/plot_training/{split}.log",
    benchmark:
        "benchmarks/plot_training/{split}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: rule_threads("plot_training")
    resources:
        mem_mb=rule_mem_mb("plot_training"),
        runtime=rule_runtime("plot_training"),
    params:
        elmo_standin=elmo_standin_flag(),
        labels=model_labels_json(),
    shell:
        "python -m dramaemo plot-training --history {input.history:q}"
        " {params.elmo_standin} --labels {params.labels:q}"
        " --output {output:q} > {log:q} 2>&1"


rule contact_sheet:
    input:
        dataset=paths.DATASET,
    output:
        report(
            paths.CONTACT_SHEET,
            caption="../report/contact_sheet.rst",
            category="Dataset",
            labels={"plot": "sample crops per class"},
        ),
    log:
        "logs/contact_sheet/contact_sheet.log",
    benchmark:
        "benchmarks/contact_sheet/contact_sheet.tsv"
    conda:
        "../../envs/report.yaml"
    threads: rule_threads("contact_sheet")
    resources:
        mem_mb=rule_mem_mb("contact_sheet"),
        runtime=rule_runtime("contact_sheet"),
    params:
        per_class=config["evaluation"]["contact_sheet"]["per_class"],
        seed=config["evaluation"]["contact_sheet"]["seed"],
    shell:
        "python -m dramaemo contact-sheet --dataset {input.dataset:q} --per-class {params.per_class}"
        " --seed {params.seed} --output {output:q} > {log:q} 2>&1"

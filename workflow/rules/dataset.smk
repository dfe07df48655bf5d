# The labelled face dataset: crops joined with the annotation CSV (+ join report), the
# crops packed for training, and one train/test split per strategy.


rule join_annotations:
    input:
        annotations=annotations_file(),
        manifests=expand(paths.MANIFEST, episode=EPISODES),
        infos=expand(paths.FRAMES_INFO, episode=EPISODES),
    output:
        dataset=paths.DATASET,
        report_csv=report(
            paths.JOIN_REPORT.format(kind="csv"),
            caption="../report/join_report.rst",
            category="Dataset",
        ),
        report_md=paths.JOIN_REPORT.format(kind="md"),
        plot=report(
            paths.JOIN_REPORT.format(kind="png"),
            caption="../report/join_report.rst",
            category="Dataset",
        ),
    log:
        "logs/join_annotations/join_annotations.log",
    benchmark:
        "benchmarks/join_annotations/join_annotations.tsv"
    conda:
        "../../envs/dataset.yaml"
    threads: rule_threads("join_annotations")
    resources:
        mem_mb=rule_mem_mb("join_annotations"),
        runtime=rule_runtime("join_annotations"),
    params:
        label_map=label_map_json(),
        skipped_videos=skipped_videos_json(),
    shell:
        "python -m dramaemo join-annotations --annotations {input.annotations:q}"
        " --manifests {input.manifests:q} --infos {input.infos:q}"
        " --label-map {params.label_map:q} --skipped-videos {params.skipped_videos:q}"
        " --output {output.dataset:q}"
        " --report-csv {output.report_csv:q} --report-md {output.report_md:q}"
        " --plot {output.plot:q} > {log:q} 2>&1"


rule pack_images:
    input:
        dataset=paths.DATASET,
    output:
        paths.IMAGES,
    log:
        "logs/pack_images/pack_images.log",
    benchmark:
        "benchmarks/pack_images/pack_images.tsv"
    conda:
        "../../envs/dataset.yaml"
    threads: rule_threads("pack_images")
    resources:
        mem_mb=rule_mem_mb("pack_images"),
        runtime=rule_runtime("pack_images"),
    params:
        image_size=config["crops"]["image_size"],
    shell:
        "python -m dramaemo pack-images --dataset {input.dataset:q} --image-size {params.image_size:q}"
        " --output {output:q} > {log:q} 2>&1"


rule split:
    input:
        dataset=paths.DATASET,
    output:
        table=paths.SPLIT,
        plot=report(
            paths.SPLIT_PLOT,
            caption="../report/split.rst",
            category="Dataset",
            subcategory="Splits",
            labels={"split": "{split}", "draw": "{draw}"},
        ),
    log:
        "logs/split/{split}/draw{draw}.log",
    benchmark:
        "benchmarks/split/{split}/draw{draw}.tsv"
    wildcard_constraints:
        draw=r"\d+",
    conda:
        "../../envs/dataset.yaml"
    threads: rule_threads("split")
    resources:
        mem_mb=rule_mem_mb("split"),
        runtime=rule_runtime("split"),
    params:
        test_fraction=config["split"]["test_fraction"],
    shell:
        "python -m dramaemo split --dataset {input.dataset:q} --strategy {wildcards.split:q}"
        " --test-fraction {params.test_fraction:q} --seed {wildcards.draw:q}"
        " --output {output.table:q} --plot {output.plot:q} > {log:q} 2>&1"

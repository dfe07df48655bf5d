# The labelling page (`dramaemo label`): serves the face crops of every episode on
# http://127.0.0.1:8000/ until Ctrl+C; each annotator's labels go to
# <label.out_dir>/<annotator>.csv, an annotation CSV the pipeline reads (README,
# "Labelling: making the annotation CSV"). Run it by name: `snakemake label --cores 1`.
#
# No output files on purpose: the rule runs whenever it is named, is never part of
# `all`, and Snakemake cannot delete the labels of a job stopped with Ctrl+C (the labels
# are on disk as they are made). No benchmark: it is interactive.


localrules:
    label,


rule label:
    input:
        manifests=expand(paths.MANIFEST, episode=EPISODES),
    log:
        "logs/label/label.log",
    conda:
        "../../envs/label.yaml"
    threads: 1
    params:
        # the folder of the manifests: nothing outside it is served
        crops_root=lambda wildcards, input: os.path.dirname(input.manifests[0]),
        out_dir=config["label"]["out_dir"],
        annotator=config["label"]["annotator"],
        host=config["label"]["host"],
        port=config["label"]["port"],
        max_description=config["label"]["max_description"],
        compare=config["label"]["compare"],
        label_map=label_map_json(),
    message:
        "Labelling page on http://{params.host}:{params.port}/ (Ctrl+C stops it; log: {log})"
    shell:
        "python -m dramaemo label --manifest {input.manifests:q} --crops-root {params.crops_root:q}"
        " --out-dir {params.out_dir:q} --annotator={params.annotator:q}"
        " --host {params.host:q} --port {params.port} --max-description {params.max_description}"
        " --compare {params.compare:q} --label-map {params.label_map:q} > {log:q} 2>&1"

# Face detection on every frame of an episode (BlazeFace or the paper's Haar cascade,
# config faces.detector), then grayscale square crops.


rule fetch_blazeface:
    output:
        config["faces"]["blazeface"]["model"],
    log:
        "logs/fetch_blazeface/fetch_blazeface.log",
    benchmark:
        "benchmarks/fetch_blazeface/fetch_blazeface.tsv"
    # Downloads from PyPI: on a cluster, run it where the network is.
    localrule: True
    conda:
        "../../envs/video.yaml"
    threads: rule_threads("fetch_blazeface")
    resources:
        mem_mb=rule_mem_mb("fetch_blazeface"),
        runtime=rule_runtime("fetch_blazeface"),
    params:
        version=config["faces"]["blazeface"]["version"],
    shell:
        "python -m dramaemo fetch-blazeface --version {params.version:q} --output {output:q} > {log:q} 2>&1"


rule detect_faces:
    input:
        unpack(detect_faces_inputs),
    output:
        paths.DETECTIONS,
    log:
        "logs/detect_faces/{episode}.log",
    benchmark:
        "benchmarks/detect_faces/{episode}.tsv"
    conda:
        "../../envs/video.yaml"
    threads: rule_threads("detect_faces")
    resources:
        mem_mb=rule_mem_mb("detect_faces"),
        runtime=rule_runtime("detect_faces"),
    params:
        # only the settings of the chosen detector: editing the other's reruns nothing
        options=detector_options(config["faces"]),
    shell:
        "python -m dramaemo detect-faces --frames {input.frames:q} --episode {wildcards.episode:q}"
        " --output {output:q} {params.options:q} --threads {threads} > {log:q} 2>&1"


rule crop_faces:
    input:
        frames=paths.FRAMES,
        detections=paths.DETECTIONS,
    output:
        # update: kept when the job reruns, so that crop_faces recuts only changed boxes
        crops=update(directory(paths.CROPS)),
        manifest=paths.MANIFEST,
    log:
        "logs/crop_faces/{episode}.log",
    benchmark:
        "benchmarks/crop_faces/{episode}.tsv"
    conda:
        "../../envs/video.yaml"
    threads: rule_threads("crop_faces")
    resources:
        mem_mb=rule_mem_mb("crop_faces"),
        runtime=rule_runtime("crop_faces"),
    params:
        margin=config["crops"]["margin"],
        image_size=config["crops"]["image_size"],
    shell:
        "python -m dramaemo crop-faces --frames {input.frames:q} --detections {input.detections:q}"
        " --outdir {output.crops:q} --manifest {output.manifest:q} --margin {params.margin:q}"
        " --image-size {params.image_size:q} > {log:q} 2>&1"

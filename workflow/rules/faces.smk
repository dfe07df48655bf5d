# Haar face detection on every frame of an episode, then grayscale square crops.


rule detect_faces:
    input:
        frames="results/frames/{episode}",
    output:
        "results/faces/{episode}.detections.csv",
    log:
        "logs/detect_faces/{episode}.log",
    benchmark:
        "benchmarks/detect_faces/{episode}.tsv"
    params:
        cascade=config["faces"]["cascade"],
        scale_factor=config["faces"]["scale_factor"],
        min_neighbors=config["faces"]["min_neighbors"],
        min_size=config["faces"]["min_size"],
        detection_scale=config["faces"]["detection_scale"],
    threads: rule_threads("detect_faces")
    resources:
        mem_mb=rule_mem_mb("detect_faces"),
        runtime=rule_runtime("detect_faces"),
    conda:
        "../../envs/video.yaml"
    shell:
        "python -m dramaemo detect-faces --frames {input.frames:q} --episode {wildcards.episode:q}"
        " --output {output:q} --cascade {params.cascade:q}"
        " --scale-factor {params.scale_factor} --min-neighbors {params.min_neighbors}"
        " --min-size {params.min_size} --detection-scale {params.detection_scale}"
        " --threads {threads} > {log:q} 2>&1"


rule crop_faces:
    input:
        frames="results/frames/{episode}",
        detections="results/faces/{episode}.detections.csv",
    output:
        # update: kept when the job reruns, so that crop_faces recuts only changed boxes
        crops=update(directory("results/crops/{episode}")),
        manifest="results/crops/{episode}.manifest.csv",
    log:
        "logs/crop_faces/{episode}.log",
    benchmark:
        "benchmarks/crop_faces/{episode}.tsv"
    params:
        margin=config["crops"]["margin"],
        image_size=config["crops"]["image_size"],
    threads: rule_threads("crop_faces")
    resources:
        mem_mb=rule_mem_mb("crop_faces"),
        runtime=rule_runtime("crop_faces"),
    conda:
        "../../envs/video.yaml"
    shell:
        "python -m dramaemo crop-faces --frames {input.frames:q} --detections {input.detections:q}"
        " --outdir {output.crops:q} --manifest {output.manifest:q} --margin {params.margin}"
        " --image-size {params.image_size} > {log:q} 2>&1"

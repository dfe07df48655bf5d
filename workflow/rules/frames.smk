# One frame per second of each episode (ffmpeg): second k is the frame nearest to
# k + frames.offset seconds; in the same decode, every frame's scene-change score, from
# which detect_shots cuts the shots (no second decode).


rule extract_frames:
    input:
        video=episode_video,
    output:
        frames=frames_folder(paths.FRAMES),
        info=paths.FRAMES_INFO,
        scores=paths.SCENE_SCORES,
    log:
        "logs/extract_frames/{episode}.log",
    benchmark:
        "benchmarks/extract_frames/{episode}.tsv"
    conda:
        "../../envs/video.yaml"
    threads: rule_threads("extract_frames")
    resources:
        mem_mb=rule_mem_mb("extract_frames"),
        runtime=rule_runtime("extract_frames"),
    params:
        offset=config["frames"]["offset"],
        jpeg_quality=config["frames"]["jpeg_quality"],
        decoding="--fast-decode" if config["frames"]["fast_decode"] else "--no-fast-decode",
    shell:
        "python -m dramaemo extract-frames --video {input.video:q} --outdir {output.frames:q}"
        " --info {output.info:q} --scene-scores {output.scores:q} --offset {params.offset}"
        " --jpeg-quality {params.jpeg_quality} {params.decoding} --threads {threads} > {log:q} 2>&1"

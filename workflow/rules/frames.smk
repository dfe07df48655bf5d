# One frame per second of each episode (ffmpeg): second k is the frame nearest to
# k + frames.offset seconds.


rule extract_frames:
    input:
        video=episode_video,
    output:
        frames=frames_folder("results/frames/{episode}"),
        info="results/frames/{episode}.info.json",
    log:
        "logs/extract_frames/{episode}.log",
    benchmark:
        "benchmarks/extract_frames/{episode}.tsv"
    params:
        offset=config["frames"]["offset"],
        jpeg_quality=config["frames"]["jpeg_quality"],
    threads: 2
    resources:
        mem_mb=1000,
        runtime=60,
    conda:
        "../../envs/video.yaml"
    shell:
        "{DRAMAEMO} extract-frames --video {input.video} --outdir {output.frames}"
        " --info {output.info} --offset {params.offset}"
        " --jpeg-quality {params.jpeg_quality} --threads {threads} > {log} 2>&1"

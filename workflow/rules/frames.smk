# One frame per second of each episode (ffmpeg): second k is the frame nearest to
# k + frames.offset seconds.


# Every episode video is probed (its header only) before any heavy work, so that all bad
# videos are listed at once; on_bad_video: skip goes on without them (their frame folder
# is empty and the join report lists them).
rule check_videos:
    input:
        videos=episode_videos(),
    output:
        report(
            "results/videos/check.csv",
            caption="../report/check_videos.rst",
            category="Dataset",
            labels={"file": "video check"},
        ),
    log:
        "logs/check_videos/check_videos.log",
    benchmark:
        "benchmarks/check_videos/check_videos.tsv"
    params:
        on_bad_video=config["on_bad_video"],
    threads: rule_threads("check_videos")
    resources:
        mem_mb=rule_mem_mb("check_videos"),
        runtime=rule_runtime("check_videos"),
    conda:
        "../../envs/video.yaml"
    # Milliseconds of work per video: on a cluster, not worth a job submission.
    localrule: True
    shell:
        "python -m dramaemo check-videos --videos {input.videos:q}"
        " --on-bad-video {params.on_bad_video} --output {output:q} > {log:q} 2>&1"


rule extract_frames:
    input:
        video=episode_video,
        # ancient: a new episode reruns the check, not every other episode's extraction
        check=ancient("results/videos/check.csv"),
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
    threads: rule_threads("extract_frames")
    resources:
        mem_mb=rule_mem_mb("extract_frames"),
        runtime=rule_runtime("extract_frames"),
    conda:
        "../../envs/video.yaml"
    shell:
        "python -m dramaemo extract-frames --video {input.video:q} --outdir {output.frames:q}"
        " --info {output.info:q} --offset {params.offset}"
        " --jpeg-quality {params.jpeg_quality} --threads {threads} --check {input.check:q}"
        " > {log:q} 2>&1"

# The embedded demo: episodes built from real photographs shipped in installed packages
# (matplotlib's grace_hopper.jpg, scikit-image's astronaut) and their annotation CSV.


rule build_demo:
    output:
        episodes=expand("resources/demo/episodes/{episode}.mp4", episode=EPISODES),
        annotations="resources/demo/annotations.csv",
    log:
        "logs/build_demo/build_demo.log",
    benchmark:
        "benchmarks/build_demo/build_demo.tsv"
    conda:
        "../../envs/video.yaml"
    threads: rule_threads("build_demo")
    resources:
        mem_mb=rule_mem_mb("build_demo"),
        runtime=rule_runtime("build_demo"),
    params:
        episodes=config["demo"]["episodes"],
        seconds=config["demo"]["seconds"],
        seed=config["demo"]["seed"],
        width=config["demo"]["width"],
        height=config["demo"]["height"],
        fps=config["demo"]["fps"],
    shell:
        "python -m dramaemo build-demo --outdir resources/demo/episodes"
        " --annotations {output.annotations:q} --episodes {params.episodes:q}"
        " --seconds {params.seconds:q} --seed {params.seed:q} --width {params.width:q}"
        " --height {params.height:q} --fps {params.fps:q} > {log:q} 2>&1"

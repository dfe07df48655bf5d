"""The schema as the one home of defaults, the model registry as the one home of model
facts, and the config check that refuses names neither knows."""

import json

import pytest
import yaml
from conftest import REPO

from dramaemo import EMOTIONS, SPLIT_STRATEGIES
from dramaemo.core import registry
from dramaemo.core.config import check, filled, schema_defaults, schema_node
from dramaemo.core.options import TrainOptions, model_settings


def _leaves(tree, prefix=()):
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from _leaves(value, (*prefix, key))
    else:
        yield prefix, tree


def test_config_yaml_restates_the_schema_defaults_exactly():
    """config/config.yaml documents every default; it must say what the schema says."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    defaults = dict(_leaves(schema_defaults()))
    for path, value in _leaves(config):
        if path in defaults and path[0] not in ("episodes_dir", "annotations", "video_suffixes"):
            assert value == defaults[path], (
                f"{'.'.join(path)}: config.yaml {value!r}, schema {defaults[path]!r}"
            )
    assert schema_defaults("train")["epochs"] == config["train"]["epochs"]


def test_library_functions_fill_what_is_left_out_from_the_schema():
    defaults = schema_defaults("faces")
    assert filled("faces", min_neighbors=None, scale_factor=1.3, min_size=0) == {
        "min_neighbors": defaults["min_neighbors"],
        "scale_factor": 1.3,
        "min_size": 0,
    }
    with pytest.raises(KeyError):
        filled("faces", min_neighbours=None)  # a misspelt key is an error, not a None


def test_model_settings_hold_only_what_a_model_reads():
    train = schema_defaults("train")
    train["per_model"] = {"glove": {"epochs": 9}}
    baseline, glove, text = (model_settings(m, train) for m in ("baseline", "glove", "text"))
    assert set(baseline) - set(glove) == set() and "glove_cnn" not in baseline and "fusion" not in baseline
    assert {"image", "glove_cnn", "fusion", "image_size"} <= set(glove) and glove["epochs"] == 9
    assert "image" not in text and "image_size" not in text and text["glove_cnn"] == train["glove_cnn"]
    options = TrainOptions.for_model("elmo", train)
    assert (
        options.text == train["elmo"]
        and options.image == train["image"]
        and options.epochs == train["epochs"]
    )
    json.dumps(glove)  # the rule passes it as JSON


def test_registry_entries_are_consistent():
    for name, spec in registry.MODELS.items():
        assert spec.name == name
        if spec.text:
            encoder = registry.TEXT_ENCODERS[spec.text]
            # "": a branch without settings of its own
            assert not encoder.section or encoder.section in schema_defaults("train"), (
                f"{name}: no config train.{encoder.section}"
            )
            assert callable(registry.resolve(encoder.inputs)) and callable(registry.resolve(encoder.builder))
    assert registry.BASELINE in registry.IMAGE_ONLY_MODELS and "text" in registry.TEXT_ONLY_MODELS
    assert registry.ordered_models(["fer", "zzz", "text", "baseline"]) == ["baseline", "text", "fer", "zzz"]


def test_image_branches_and_fer_weights_come_from_the_registry():
    """The schema's choices of train.joint.image_branch are the registry's, and the FER2013
    weights are an input exactly of the models whose image branch is FER-initialised."""
    assert tuple(sorted(schema_node("train", "joint", "image_branch")["enum"])) == tuple(
        sorted(registry.IMAGE_BRANCHES)
    )
    train = schema_defaults("train")
    assert train["joint"]["image_branch"] == registry.FER_INIT
    fer_models = {m for m in registry.TRAINED_MODELS if registry.MODELS[m].needs_fer_weights(train)}
    assert fer_models == {"baseline_fer", "glove", "elmo", "minilm", "tfidf"}
    scratch = {**train, "joint": {**train["joint"], "image_branch": registry.SCRATCH}}
    assert {m for m in registry.TRAINED_MODELS if registry.MODELS[m].needs_fer_weights(scratch)} == {
        "baseline_fer"
    }
    baseline_fer, minilm, text_minilm = (
        model_settings(m, train) for m in ("baseline_fer", "minilm", "text_minilm")
    )
    assert "fer_image" in baseline_fer and "image" not in baseline_fer and "joint" not in baseline_fer
    assert {"fer_image", "image", "minilm", "fusion", "joint", "augment"} <= set(minilm)
    assert (
        "joint" not in text_minilm
        and "augment" not in text_minilm
        and text_minilm["minilm"] == train["minilm"]
    )
    options = TrainOptions.for_model("minilm", scratch)
    assert (options.image_branch, options.text, options.joint) == (
        registry.SCRATCH,
        train["minilm"],
        scratch["joint"],
    )
    assert "baseline_fer" in registry.IMAGE_ONLY_MODELS and "text_minilm" in registry.TEXT_ONLY_MODELS


@pytest.mark.parametrize(
    "change, message",
    [
        ({"models": ["baseline", "bert"]}, "models: unknown model 'bert'"),
        ({"models": ["late"]}, "models: unknown model 'late'"),  # not trained: its own rule
        ({"split": {"strategies": ["scene", "by_actor"]}}, "split.strategies: unknown strategy 'by_actor'"),
        ({"label_map": {"joy": "Joyful"}}, "label_map: 'joy' maps to 'Joyful'"),
        ({"late_fusion": {"image_model": "glove", "text_model": "text"}}, "late_fusion.image_model: 'glove'"),
        ({"train": {"per_model": {"bert": {"epochs": 2}}}}, "train.per_model: unknown model 'bert'"),
        ({"index": {"model": "bert"}}, "index.model: 'bert': unknown model"),
        ({"index": {"model": "elmo"}}, "index.model: 'elmo': its text encoder cannot encode new text"),
    ],
)
def test_check_names_what_is_unknown(change, message):
    config = {
        "models": list(registry.TRAINED_MODELS),
        "split": {"strategies": list(SPLIT_STRATEGIES)},
        "label_map": {"joy": EMOTIONS[3]},
        "late_fusion": {"image_model": "baseline", "text_model": "text"},
        "train": {"per_model": {}},
    }
    assert check(config) == []
    problems = check({**config, **change})
    assert len(problems) == 1 and problems[0].startswith(message)


def test_rule_resources_are_declared_once_in_the_schema():
    """config resources.<rule> key by key over the schema's default of that rule; a rule the
    schema does not list gets $defs' default, and config.yaml restates none of them."""
    from dramaemo.core.config import rule_resources, schema

    listed = schema_node("resources")["properties"]["detect_faces"]["default"]
    assert rule_resources({}, "detect_faces") == listed
    assert rule_resources({"detect_faces": {"threads": 4}}, "detect_faces") == {**listed, "threads": 4}
    assert rule_resources({}, "embed_tfidf") == schema()["$defs"]["rule_resources"]["default"]
    config_yaml = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert config_yaml["resources"] == {}

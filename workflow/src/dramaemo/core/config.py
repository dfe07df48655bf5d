"""The configuration's schema, its defaults, and the checks of what a user names.

The schema (workflow/schemas/config.schema.yaml) is the one home of every default: the
workflow validates config against it (filling defaults), and commands run by hand take
their defaults from it through ``schema_defaults`` instead of restating them.

Before validation, ``check_config_keys`` reports every key the schema does not know
(``additionalProperties: false``), at any depth, with the nearest known key: a typo such
as ``tarin:`` for ``train:`` would otherwise be ignored silently, because the defaults of
config/config.yaml fill the real key. After it, ``check`` refuses names the schema cannot
list: registry models, split strategies, classes.
"""

from __future__ import annotations

import difflib
import functools
from pathlib import Path

import jsonschema
import yaml

from dramaemo import EMOTIONS, SPLIT_STRATEGIES
from dramaemo.core import ablation, registry
from dramaemo.core.errors import UserError

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "config.schema.yaml"


@functools.cache
def schema() -> dict:
    # libyaml's loader where PyYAML has it: the pure-Python one took ~0.1 s of every
    # Snakefile parse for this file alone (same safe constructor, same result)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(SCHEMA.read_text(encoding="utf-8"), Loader=loader)


def _defaults(node: dict):
    """The default a schema node declares, or, for an object, its properties' defaults."""
    if "default" in node and node.get("type") != "object":
        return node["default"]
    properties = node.get("properties")
    if properties is None:
        return node.get("default")
    values = {}
    for key, child in properties.items():
        value = _defaults(child)
        if value is not None or "default" in child:
            values[key] = value
    return values


def schema_defaults(*path: str):
    """Defaults of the config section at ``path`` (e.g. "train"), nested as in config."""
    return _defaults(schema_node(*path))


def filled(section: str, **given) -> dict:
    """``given`` with each None replaced by the schema's default of that key of ``section``
    (e.g. "faces"): the library functions' defaults, in the order given."""
    defaults = schema_defaults(section)
    return {key: defaults[key] if value is None else value for key, value in given.items()}


def schema_node(*path: str) -> dict:
    """The schema entry of one config key, e.g. ("evaluation", "bootstrap", "resample_by")."""
    node = schema()
    for key in path:
        node = node["properties"][key]
    return node


def check(config: dict) -> list[str]:
    """What the schema cannot say: names that must be registry models, split strategies
    or classes. Returns one message per problem (empty: fine)."""
    problems = []
    for model in config.get("models", []):
        if model not in registry.TRAINED_MODELS:
            problems.append(
                f"models: unknown model {model!r}; use some of {', '.join(registry.TRAINED_MODELS)}"
            )
    for model in config.get("train", {}).get("per_model", {}):
        if model not in registry.TRAINED_MODELS:
            problems.append(
                f"train.per_model: unknown model {model!r}; use one of {', '.join(registry.TRAINED_MODELS)}"
            )
    for strategy in config.get("split", {}).get("strategies", []):
        if strategy not in SPLIT_STRATEGIES:
            problems.append(
                f"split.strategies: unknown strategy {strategy!r}; use some of {', '.join(SPLIT_STRATEGIES)}"
            )
    for label, emotion in config.get("label_map", {}).items():
        if emotion not in EMOTIONS:
            problems.append(
                f"label_map: {label!r} maps to {emotion!r}, which is not one of {', '.join(EMOTIONS)}"
            )
    index = config.get("index", {})
    if "model" in index and index["model"] not in registry.INDEXABLE_MODELS:
        why = (
            "its text encoder cannot encode new text offline"
            if index["model"] in registry.TRAINED_MODELS
            else "unknown model"
        )
        problems.append(
            f"index.model: {index['model']!r}: {why}; use one of {', '.join(registry.INDEXABLE_MODELS)}"
        )
    if index.get("fallback_model") and index["fallback_model"] not in registry.IMAGE_ONLY_MODELS:
        problems.append(
            f"index.fallback_model: {index['fallback_model']!r} is not one of "
            f"{', '.join(registry.IMAGE_ONLY_MODELS)} (or empty)"
        )
    if "split" in index and index["split"] not in SPLIT_STRATEGIES:
        problems.append(
            f"index.split: unknown strategy {index['split']!r}; use one of {', '.join(SPLIT_STRATEGIES)}"
        )
    late = config.get("late_fusion", {})
    roles = {"image_model": registry.IMAGE_ONLY_MODELS, "text_model": registry.TEXT_ONLY_MODELS}
    for key, allowed in roles.items():
        if key in late and late[key] not in allowed:
            problems.append(f"late_fusion.{key}: {late[key]!r} is not one of {', '.join(allowed)}")
    if config.get("ablation", {}).get("activate"):
        problems += ablation.check(config, schema_node("train"))
        if config["ablation"]["split"] not in config.get("split", {}).get("strategies", []):
            problems.append(f"ablation.split: {config['ablation']['split']!r} is not in split.strategies")
    return problems


def _where(path) -> str:
    return ".".join(str(part) for part in path) or "top level"


def unknown_keys(config: dict, schema: dict) -> list[str]:
    """One message per unknown key: "unknown key 'tarin' (top level); did you mean 'train'?"."""
    messages = []
    validator = jsonschema.Draft202012Validator(schema)
    for error in validator.iter_errors(config):
        # jsonschema nests the errors of $ref'd and combined schemas in context
        for leaf in [error, *error.context]:
            if leaf.validator != "additionalProperties" or leaf.validator_value is not False:
                continue
            known = sorted(leaf.schema.get("properties", {}))
            patterns = leaf.schema.get("patternProperties", {})
            for key in sorted(set(leaf.instance) - set(known), key=str):
                if patterns:
                    continue  # not used by this schema today; keep the check conservative
                nearest = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
                hint = f"; did you mean '{nearest[0]}'?" if nearest else f"; known keys: {', '.join(known)}"
                messages.append(f"unknown key '{key}' ({_where(leaf.absolute_path)}){hint}")
    return sorted(set(messages))


def check_config_keys(config: dict) -> None:
    """UserError listing every unknown key of ``config`` (see unknown_keys)."""
    messages = unknown_keys(config, schema())
    if messages:
        raise UserError("config: " + "; ".join(messages) + " (every key is described in config/README.md)")


def rule_resources(resources: dict, rule: str) -> dict:
    """threads, mem_mb and runtime of one rule's jobs: config ``resources.<rule>`` key by key
    over the schema's default for that rule (a rule the schema does not list: the default
    of ``$defs.rule_resources``), so each rule's sizes are declared once, in the schema."""
    listed = schema_node("resources")["properties"].get(rule, {})
    return {
        **schema()["$defs"]["rule_resources"]["default"],
        **listed.get("default", {}),
        **resources.get(rule, {}),
    }

"""Ablation variants as config: what each variant trains and with which settings.

A variant is a model (``model``; default: ``ablation.model``) and overrides of config
``train`` (``train``: nested sections merged key by key, applied after ``train.per_model``).
The workflow reads this while parsing (workflow/rules/ablation.smk: which runs to train,
which to reuse from the main table); the table itself is dramaemo.evaluation.ablation.
"""

from __future__ import annotations

import copy
import json

import jsonschema

from dramaemo.core import registry
from dramaemo.core.options import model_settings

CHOSEN = "chosen"  # the row of the configuration as config train sets it


def merge(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` applied, nested dicts merged key by key (a copy)."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def variant_names(ablation: dict) -> list[str]:
    """The variants to run: config files merge ``ablation.variants`` key by key, so a
    variant of config.yaml is dropped by setting it to null."""
    return [name for name, variant in ablation["variants"].items() if variant is not None]


def variant_model(ablation: dict, name: str) -> str:
    """The registry model variant ``name`` trains."""
    return ablation["variants"][name].get("model", ablation["model"])


def variant_train(ablation: dict, name: str, train: dict) -> dict:
    """Config ``train`` as variant ``name`` sees it: its model's ``per_model`` overrides,
    then the variant's ``train`` overrides (so a variant always gets what it names)."""
    model = variant_model(ablation, name)
    merged = merge(
        {k: v for k, v in train.items() if k != "per_model"}, train.get("per_model", {}).get(model, {})
    )
    merged = merge(merged, ablation["variants"][name].get("train", {}))
    merged["per_model"] = {}
    return merged


def variant_settings(ablation: dict, name: str, train: dict) -> dict:
    """The settings variant ``name`` trains with (dramaemo.core.options.model_settings)."""
    return model_settings(variant_model(ablation, name), variant_train(ablation, name, train))


def reused_model(ablation: dict, name: str, config: dict) -> str | None:
    """The main table's model whose runs variant ``name`` reuses (same model, same
    settings), or None when the variant needs its own runs."""
    model = variant_model(ablation, name)
    if model in config["models"] and variant_settings(ablation, name, config["train"]) == model_settings(
        model, config["train"]
    ):
        return model
    return None


def describe(variant: dict) -> str:
    """What a variant changes, e.g. ``model glove; joint.image_branch scratch``."""
    parts = [f"model {variant['model']}"] if "model" in variant else []

    def walk(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                parts.append(f"{prefix}{key} {json.dumps(value)}")

    walk(variant.get("train", {}), "")
    return "; ".join(parts) or "nothing"


def check(config: dict, train_schema: dict) -> list[str]:
    """Problems of config ``ablation`` that its schema cannot see: unknown models, and
    overrides that make config ``train`` invalid (named by variant)."""
    ablation = config.get("ablation", {})
    if not ablation.get("activate"):
        return []
    problems = []
    models = [("ablation.model", ablation.get("model"))] + [
        (f"ablation.variants.{name}.model", ablation["variants"][name]["model"])
        for name in variant_names(ablation)
        if "model" in ablation["variants"][name]
    ]
    for where, model in models:
        if model not in registry.TRAINED_MODELS:
            problems.append(
                f"{where}: unknown model {model!r}; use one of {', '.join(registry.TRAINED_MODELS)}"
            )
    if problems:
        return problems
    for name in variant_names(ablation):
        try:
            jsonschema.validate(variant_train(ablation, name, config["train"]), train_schema)
        except jsonschema.ValidationError as error:
            where = ".".join(str(part) for part in error.absolute_path)
            problems.append(f"ablation.variants.{name}.train: {where + ': ' if where else ''}{error.message}")
    return problems

"""dramaemo.core.config: unknown config keys at every level; dramaemo.core.episodes: episode ids."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from dramaemo.core.config import check_config_keys, unknown_keys
from dramaemo.core.episodes import check_episode_ids, episode_id_problem
from dramaemo.core.errors import UserError

REPO = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPO / "workflow/schemas/config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_FILE.read_text())
DEFAULTS = yaml.safe_load((REPO / "config/config.yaml").read_text())
# Every config file shipped, each used on top of config/config.yaml.
CONFIG_FILES = sorted(
    [
        REPO / "config/config.yaml",
        REPO / "config/bench.yaml",
        REPO / "config/paper.yaml",
        *(REPO / "tests/data").glob("*.yaml"),
    ]
)


def merged(overrides: dict) -> dict:
    """Snakemake's merge of a --configfile onto the defaults: key by key, nested."""

    def merge(base, extra):
        out = copy.deepcopy(base)
        for key, value in extra.items():
            out[key] = (
                merge(out[key], value)
                if isinstance(value, dict) and isinstance(out.get(key), dict)
                else value
            )
        return out

    return merge(DEFAULTS, overrides)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    config = merged(yaml.safe_load(path.read_text()) or {})
    assert unknown_keys(config, SCHEMA) == []
    jsonschema.validate(config, SCHEMA)


def test_the_schema_closes_every_object():
    """Every object with named keys refuses others (maps such as label_map name none)."""

    def walk(node, where):
        if isinstance(node, dict):
            if "properties" in node:
                assert node.get("additionalProperties") is False, where
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(SCHEMA, "schema")


def test_unknown_keys_at_every_level_name_the_nearest_key():
    config = merged(
        {
            "tarin": {"epochs": 2},
            "train": {"fusion": {"dropuot": 0.1}},
            "evaluation": {"bootstrap": {"resampels": 100}},
            "resources": {"crop_faces": {"threads": 1, "mem_mb": 100, "runtime": 1, "gpu": 1}},
            "zzz": 1,
        }
    )
    assert unknown_keys(config, SCHEMA) == [
        "unknown key 'dropuot' (train.fusion); did you mean 'dropout'?",
        "unknown key 'gpu' (resources.crop_faces); known keys: mem_mb, runtime, threads",
        "unknown key 'resampels' (evaluation.bootstrap); did you mean 'resamples'?",
        "unknown key 'tarin' (top level); did you mean 'train'?",
        "unknown key 'zzz' (top level); known keys: " + ", ".join(sorted(SCHEMA["properties"])),
    ]
    with pytest.raises(UserError, match=r"^config: unknown key 'dropuot'"):
        check_config_keys(config)
    # label_map is a map: any label is a key
    assert unknown_keys(merged({"label_map": {"joy": "Happy"}}), SCHEMA) == []


def test_annotations_may_be_one_file_or_a_list():
    for value in ("labels.csv", ["alice.csv", "bob.csv"]):
        jsonschema.validate(merged({"annotations": value}), SCHEMA)
    for value in ([], ["a.csv", "a.csv"], 3):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(merged({"annotations": value}), SCHEMA)


@pytest.mark.parametrize("name", ["미생 01", "it's ep.2", "ep 01 (final)", "Ep-1_ü"])
def test_real_world_names_are_episode_ids(name):
    assert episode_id_problem(name) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        (".hidden", "starts with a dot"),
        ("._ep01", "starts with a dot"),
        ("ep\t01", "control character"),
        ("ep\x0001", "control character"),
        ("ep{1}", "braces"),
        ("", "no id"),
    ],
)
def test_names_that_cannot_work_say_why(name, problem):
    assert problem in episode_id_problem(name)


def test_every_bad_file_and_shared_id_is_listed_at_once():
    files = [
        Path("v/ep01.mp4"),
        Path("v/ep01.mkv"),
        Path("v/._ep02.mp4"),
        Path("v/ep\n3.mp4"),
        Path("v/미생 01.mp4"),
    ]
    with pytest.raises(UserError) as error:
        check_episode_ids(files)
    message = str(error.value)
    assert "v/._ep02.mp4: the name starts with a dot" in message
    assert "v/ep\n3.mp4: control character(s) '\\n'" in message
    assert "episode id 'ep01' is also the id of v/ep01.mkv" in message
    assert check_episode_ids([Path("v/미생 01.mp4"), Path("v/it's ep.2.mkv")]) == ["it's ep.2", "미생 01"]

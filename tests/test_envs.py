"""envs/*.yaml (for `--sdm conda`) stay in step with requirements.txt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_there_are_env_files():
    assert len(ENV_FILES) >= 3


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_equal_requirements(env_file):
    env = yaml.safe_load(env_file.read_text())
    dependencies = env["dependencies"]
    assert "python=3.11" in dependencies
    pip = next(d["pip"] for d in dependencies if isinstance(d, dict) and "pip" in d)
    pins = requirement_pins()
    assert pip, f"{env_file.name}: no pip packages"
    for entry in pip:
        name, version = entry.split("==")
        assert name.lower() in pins, f"{env_file.name}: {name} is not in requirements.txt"
        assert version == pins[name.lower()], (
            f"{env_file.name}: {name}=={version}, requirements.txt pins {pins[name.lower()]}"
        )


def test_every_rule_names_an_existing_env_file():
    used = set()
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        for match in re.finditer(r'conda:\s*\n\s*"([^"]+)"', rules.read_text()):
            path = (rules.parent / match.group(1)).resolve()
            assert path.is_file(), f"{rules.name}: conda env {match.group(1)} does not exist"
            used.add(path)
    assert used, "no rule declares a conda environment"

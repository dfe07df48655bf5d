"""Checks of what the user names before the workflow starts: config keys, episode ids.

``unknown_keys`` walks the config against the JSON schema and reports every key the
schema does not know (``additionalProperties: false``), at any depth, with the nearest
known key: a typo such as ``tarin:`` for ``train:`` would otherwise be ignored silently,
because the defaults of config/config.yaml fill the real key. ``check_episode_ids``
refuses file names that cannot be an episode id in paths, shells and the labelling page.
"""

from __future__ import annotations

import difflib
import unicodedata
from pathlib import Path

import jsonschema
import yaml

from dramaemo.errors import UserError


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
                hint = (f"; did you mean '{nearest[0]}'?" if nearest
                        else f"; known keys: {', '.join(known)}")
                messages.append(f"unknown key '{key}' ({_where(leaf.absolute_path)}){hint}")
    return sorted(set(messages))


def check_config_keys(config: dict, schema_file: str | Path) -> None:
    """UserError listing every unknown key of ``config`` (see unknown_keys)."""
    schema = yaml.safe_load(Path(schema_file).read_text())
    messages = unknown_keys(config, schema)
    if messages:
        raise UserError(
            "config: " + "; ".join(messages)
            + " (every key is described in config/README.md)"
        )


def episode_id_problem(episode: str) -> str | None:
    """Why ``episode`` cannot be an episode id, or None when it can.

    Spaces, non-ASCII letters, dots and apostrophes are fine (every shell path is
    quoted); a path separator, a leading dot (hidden files, macOS ``._`` copies),
    control characters (newlines, tabs) and braces (Snakemake wildcards) are not.
    """
    if not episode:
        return "the file name has no id before its suffix"
    if "/" in episode or "\\" in episode:
        return "a path separator (/ or \\) in the name"
    if episode.startswith("."):
        return "the name starts with a dot (a hidden file, e.g. a macOS '._' copy)"
    controls = sorted({repr(c) for c in episode if unicodedata.category(c)[0] == "C"})
    if controls:
        return f"control character(s) {', '.join(controls)} in the name"
    if "{" in episode or "}" in episode:
        return "braces { } in the name (Snakemake reads them as wildcards)"
    return None


def check_episode_ids(files: list[Path]) -> list[str]:
    """The episode ids (file stems) of ``files``; UserError listing every file whose
    name cannot be an id, and ids that two files share (ep01.mp4 and ep01.mkv)."""
    problems, seen = [], {}
    for path in sorted(files):
        episode = path.stem
        problem = episode_id_problem(episode)
        if problem:
            problems.append(f"{path!s}: {problem}")
        elif episode in seen:
            problems.append(f"{path!s}: episode id '{episode}' is also the id of {seen[episode]}")
        else:
            seen[episode] = path
    if problems:
        raise UserError(
            "episode video names that cannot be episode ids (rename the files): "
            + "; ".join(problems)
        )
    return sorted(seen)

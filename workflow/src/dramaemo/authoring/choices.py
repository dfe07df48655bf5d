"""A user's own picks on the storyboard, kept durably beside the outputs.

One JSON file (``{"choices": {scene number: authoring.choose.choice_of}}``), replaced
atomically after each pick (temp file + fsync + ``os.replace`` + directory fsync) under a
file lock, so two tabs, or two servers, never lose each other's picks and a killed server
leaves the last acknowledged pick on disk. ``dramaemo author`` reads it on every run, so
the picks survive a rerun (a pick that no longer matches a candidate is reported and
dropped from the cut, never applied to another clip).
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

from dramaemo.authoring.choose import choice_of
from dramaemo.core.durable import replace_text
from dramaemo.core.errors import UserError


def read_choices(path) -> dict[int, dict]:
    """{scene number: choose.choice_of} of ``path``; {} when there is no such file."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["choices"]
        return {int(scene): choice_of(entry) for scene, entry in entries.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserError(
            f"{path}: not a choices file of `dramaemo author --serve` ({error!r}); delete it to "
            "start from the automatic picks"
        ) from None


def save_choice(path, scene: int, choice: dict | None) -> dict[int, dict]:
    """Set (or, with None, clear) ``scene``'s choice in ``path``; the choices after it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # other servers' picks are read under the same lock
        choices = read_choices(path)
        if choice is None:
            choices.pop(scene, None)
        else:
            choices[scene] = choice_of(choice)
        text = json.dumps({"choices": {str(k): v for k, v in sorted(choices.items())}}, indent=1)
        replace_text(path, text + "\n")
    return choices

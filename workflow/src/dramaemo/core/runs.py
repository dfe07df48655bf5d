"""A run's identity: which split (and draw of it), model and seed made a predictions file,
and with what.

Every rule that writes predictions (train_model, predict_fer, late_fusion) writes a
``run.json`` beside them; evaluation copies the identity into ``metrics.json``, and the
tables and plots read it from there. Nothing reads a run's identity from its path, so a
rule may lay out its files as it likes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dramaemo.core.errors import UserError

RUN_FILE = "run.json"
IDENTITY = ("split", "split_draw", "model", "seed")


def settings_digest(settings) -> str:
    """A short digest of the settings that made a run (same settings, same digest)."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def write_run(path, *, split: str | None, split_draw: int, model: str, seed: int, settings=None) -> dict:
    """Write run.json: split, its draw (dramaemo.dataset.split), model, seed and the digest of the
    run's settings."""
    if not split:
        raise UserError(f"{path}: a run's identity needs its split's name (--split-name)")
    run = {
        "split": split,
        "split_draw": int(split_draw),
        "model": model,
        "seed": int(seed),
        "config_digest": settings_digest(settings if settings is not None else {}),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(run, indent=2) + "\n")
    return run


def read_run(path) -> dict:
    """A run.json, checked to name split, draw, model and seed."""
    path = Path(path)
    try:
        run = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no run.json; rerun the rule that wrote the predictions beside it") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON ({error}); rerun the rule that wrote it") from None
    missing = [key for key in IDENTITY if key not in run]
    if missing:
        raise UserError(f"{path}: lacks {', '.join(missing)}; rerun the rule that wrote it")
    run["seed"], run["split_draw"] = int(run["seed"]), int(run["split_draw"])
    return run


def run_beside(path) -> dict:
    """The identity of the run whose file ``path`` is (its run.json in the same folder)."""
    return read_run(Path(path).with_name(RUN_FILE))

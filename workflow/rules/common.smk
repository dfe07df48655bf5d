# Helpers and input functions shared by every stage.
import os
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

# Where the package behind the rules lives, so a rule can run even when the package is
# not installed (the CLI is preferred; this keeps `python -m dramaemo` working).
PACKAGE_DIR = str(Path(workflow.basedir) / "workflow" / "src")
DRAMAEMO = f"PYTHONPATH={PACKAGE_DIR}:$PYTHONPATH python -m dramaemo"


def episodes_dir():
    return config["episodes_dir"]


def list_episodes():
    """Episode ids: the video file names (without extension) in `episodes_dir`.

    The demo's episodes are built by a rule, so their ids come from config instead of
    from the directory (which does not exist before the first run).
    """
    if config["demo"]["activate"]:
        return [f"demo{i + 1:02d}" for i in range(config["demo"]["episodes"])]
    folder = Path(episodes_dir())
    if not folder.is_dir():
        raise WorkflowError(
            f"episodes_dir {folder}: no such directory; point config 'episodes_dir' at "
            "the folder holding your episode videos"
        )
    suffixes = {s.lower() for s in config["video_suffixes"]}
    found = sorted(p.stem for p in folder.iterdir() if p.suffix.lower() in suffixes)
    if not found:
        raise WorkflowError(
            f"episodes_dir {folder}: no video files ({', '.join(sorted(suffixes))})"
        )
    return found


def episode_video(wildcards):
    """The video file of one episode, whatever its suffix."""
    folder = Path(episodes_dir())
    if config["demo"]["activate"]:
        return str(folder / f"{wildcards.episode}.mp4")
    for suffix in config["video_suffixes"]:
        for candidate in (suffix, suffix.upper()):
            path = folder / f"{wildcards.episode}{candidate}"
            if path.exists():
                return str(path)
    raise WorkflowError(f"episode {wildcards.episode}: no video in {folder}")


EPISODES = list_episodes()

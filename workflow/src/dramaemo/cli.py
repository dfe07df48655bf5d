"""Command-line entry point: ``dramaemo <step> ...``.

Each step lives in its own module, which exposes ``add_parser(subparsers)``; the
parser it adds sets ``func`` to a callable taking the parsed ``argparse.Namespace``.
Rules call these commands, so the same step runs the same way by hand.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from dramaemo.core import registry
from dramaemo.core.errors import UserError

# Which module registers each sub-command, in the order of --help. A command imports
# only its own module, so light steps (ffmpeg, OpenCV, the labelling page) start in a
# second instead of importing TensorFlow through the training modules.
COMMANDS = {
    "build-demo": "dramaemo.dataset.demo",
    "extract-frames": "dramaemo.video.frames",
    "check-videos": "dramaemo.video.check",
    "fetch-blazeface": "dramaemo.faces.blazeface",
    "detect-faces": "dramaemo.faces.detection",
    "crop-faces": "dramaemo.faces.detection",
    "join-annotations": "dramaemo.dataset.annotations",
    "pack-images": "dramaemo.dataset.packing",
    "split": "dramaemo.dataset.split",
    # each text encoder's commands, from its registry entry
    **{
        command: encoder.inputs.partition(":")[0]
        for encoder in registry.TEXT_ENCODERS.values()
        for command in encoder.commands
    },
    "train": "dramaemo.models.train",
    "evaluate": "dramaemo.evaluation.evaluate",
    "compare-models": "dramaemo.evaluation.evaluate",
    "late-fusion": "dramaemo.evaluation.fusion",
    "fetch-fer": "dramaemo.models.fer",
    "fetch-identity": "dramaemo.faces.identity",
    "predict-fer": "dramaemo.models.fer",
    "f1-table": "dramaemo.evaluation.f1tables",
    "summary-table": "dramaemo.evaluation.f1tables",
    "plot-training": "dramaemo.evaluation.plots",
    "plot-differences": "dramaemo.evaluation.plots",
    "plot-f1": "dramaemo.evaluation.plots",
    "plot-confusion": "dramaemo.evaluation.plots",
    "contact-sheet": "dramaemo.evaluation.plots",
    "ablation-table": "dramaemo.evaluation.ablation",
    "label": "dramaemo.labelling.page",
    "label-agreement": "dramaemo.labelling.agreement",
    "detect-shots": "dramaemo.footage.shots",
    "index-episode": "dramaemo.footage.index",
    "describe-tracks": "dramaemo.footage.cast",
    "cast": "dramaemo.footage.cast",
    "segments": "dramaemo.footage.segments",
    "index-timeline": "dramaemo.footage.report",
    "index-summary": "dramaemo.footage.report",
    "character-summary": "dramaemo.footage.report",
    "search": "dramaemo.footage.search",
    "author": "dramaemo.authoring.author",
    "cast-page": "dramaemo.authoring.cast_page",
}


# TensorFlow's C++ start-up chatter (CUDA probes, CPU flags) buries the steps' own logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` alone when it is known, else of every sub-command."""
    parser = argparse.ArgumentParser(prog="dramaemo", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    modules = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    for name in dict.fromkeys(modules):  # each module once, in order
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv and not argv[0].startswith("-") else None
    args = build_parser(command).parse_args(argv)
    try:
        args.func(args)
    except UserError as error:
        print(f"dramaemo {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

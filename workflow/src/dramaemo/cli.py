"""Command-line entry point: ``dramaemo <step> ...``.

Each step lives in its own module, which exposes ``add_parser(subparsers)``; the
parser it adds sets ``func`` to a callable taking the parsed ``argparse.Namespace``.
Rules call these commands, so the same step runs the same way by hand.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from dramaemo.errors import UserError

# Modules that contribute sub-commands, in the order they appear in --help.
STEP_MODULES = (
    "dramaemo.demo",
    "dramaemo.video",
    "dramaemo.faces",
    "dramaemo.annotations",
    "dramaemo.split",
    "dramaemo.text",
    "dramaemo.elmo",
    "dramaemo.train",
    "dramaemo.evaluate",
    "dramaemo.fer",
    "dramaemo.report",
    "dramaemo.label",
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """All sub-commands, or only up to the module that registers ``command``.

    Stopping early keeps light steps (ffmpeg, OpenCV) from importing TensorFlow through
    the modules listed after them.
    """
    parser = argparse.ArgumentParser(prog="dramaemo", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in STEP_MODULES:
        if command is not None and command in subparsers.choices:
            break
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:  # step not written yet
                continue
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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

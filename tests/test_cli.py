"""The CLI's command map: every command a step registers is reachable, and light
commands do not import TensorFlow."""

import subprocess
import sys

from dramaemo.cli import COMMANDS, build_parser


def registered_commands(parser) -> set[str]:
    return set(parser._subparsers._group_actions[0].choices)


def test_every_registered_command_is_in_the_map():
    assert registered_commands(build_parser()) == set(COMMANDS)


def test_a_command_builds_only_its_own_module():
    assert registered_commands(build_parser("split")) == {"split"}


def test_light_commands_do_not_import_tensorflow():
    code = (
        "import sys\nfrom dramaemo.cli import build_parser\n"
        "for c in ('extract-frames', 'detect-faces', 'join-annotations', 'label'):\n"
        "    build_parser(c)\n"
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"

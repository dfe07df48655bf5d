"""The workflow passes Snakemake's own linter (rule structure, logs, params, paths)."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_snakemake_lint_is_clean(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--lint",
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(tmp_path),
            "--configfile",
            str(REPO / "config" / "config.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Lints for" not in output, output


# Paths (and episode ids, which may hold spaces and quotes) reach the shell quoted.
# So do the option lists of detect_faces, index_episode and search: words the rule quotes one
# by one.
UNQUOTED = re.compile(r"\{(input|output|log|wildcards\.episode|params\.(?:options|query))(\.\w+)?\}")


def shell_blocks(text: str):
    """(first line number, text) of each rule's `shell:` section."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.strip() == "shell:":
            indent = len(line) - len(line.lstrip())
            block = []
            for following in lines[number + 1 :]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                block.append(following)
            yield number + 1, "\n".join(block)


def test_every_path_in_a_shell_command_is_quoted():
    unquoted = [
        f"{rules.name}:{number}: {match.group(0)}"
        for rules in sorted((REPO / "workflow" / "rules").glob("*.smk"))
        for number, block in shell_blocks(rules.read_text())
        for match in UNQUOTED.finditer(block)
    ]
    blocks = sum(
        1 for rules in (REPO / "workflow" / "rules").glob("*.smk") for _ in shell_blocks(rules.read_text())
    )
    assert blocks > 20  # the parser found the rules' shell sections
    assert not unquoted, unquoted

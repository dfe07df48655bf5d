"""The package's layers: import-linter's contracts (pyproject.toml) hold, a forbidden import
breaks them, and parsing the Snakefile loads nothing heavy."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(source_root: Path) -> subprocess.CompletedProcess:
    """lint-imports with the project's contracts over the package under ``source_root``."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(REPO / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(source_root)},
    )


def test_the_import_contracts_hold():
    result = lint_imports(REPO / "workflow" / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout, result.stdout


@pytest.mark.parametrize(
    "module, line, contract",
    [
        # a stage importing a stage above it
        (
            "faces/heavy_test.py",
            "from dramaemo.evaluation import evaluate",
            "Stages import only the stages below",
        ),
        # the core (read while the Snakefile parses) importing NumPy
        ("core/heavy_test.py", "import numpy", "What the Snakefile imports while parsing is light"),
        # evaluation importing TensorFlow
        ("evaluation/heavy_test.py", "import tensorflow", "Evaluation reads predictions without TensorFlow"),
        # a cycle between two footage modules
        ("footage/tables.py", "from dramaemo.footage import index", "No import cycles"),
        # anything importing the labelling page, which sits on top
        (
            "footage/heavy_test.py",
            "from dramaemo.labelling import page",
            "Stages import only the stages below",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, line, contract):
    shutil.copytree(
        REPO / "workflow" / "src" / "dramaemo",
        tmp_path / "dramaemo",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    target = tmp_path / "dramaemo" / module
    text = target.read_text() if target.exists() else '"""A test module."""\n'
    target.write_text(text + f"\n{line}  # added by the test\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [line for line in result.stdout.splitlines() if line.endswith(" BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout
    assert line.split("  #")[0].split()[-1] in result.stdout.split("Broken contracts")[1], result.stdout


# What a job or the Snakefile must not pay for while Snakemake parses and plans: Snakemake
# itself loads NumPy, pandas and pyarrow, so those are not counted here.
HEAVY = ("sklearn", "scipy", "tensorflow", "keras", "cv2", "matplotlib", "skimage", "ffmpeg", "flask")
PARSE = """
import atexit, json, sys
atexit.register(lambda: print("MODULES=" + json.dumps(sorted(sys.modules)), file=sys.stderr))
from snakemake.cli import main
repo, workdir = sys.argv[1:3]
sys.argv = ["snakemake", "--dry-run", "--quiet", "--cores", "1", "-s", repo + "/Snakefile", "-d", workdir,
            "--configfile", repo + "/config/config.yaml"]
main()
"""


@pytest.mark.slow
def test_parsing_the_snakefile_loads_no_heavy_module(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PARSE, str(REPO), str(tmp_path)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules = json.loads(result.stderr.rsplit("MODULES=", 1)[1].splitlines()[0])
    assert "dramaemo.core.registry" in modules  # the Snakefile did read the package
    heavy = [name for name in modules if name.split(".")[0] in HEAVY]
    assert not heavy, heavy
    stages = {name for name in modules if name.startswith("dramaemo.")} - {
        "dramaemo.video",
        "dramaemo.video.check",
    }
    assert all(name.startswith("dramaemo.core") for name in stages), sorted(stages)

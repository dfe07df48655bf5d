"""Crash and resume: the tiny workflow killed with SIGKILL (Snakemake, its jobs and their
children, as when the machine dies) during frame extraction and during training, then
the README's resume command (`snakemake --unlock`, then the same command again; the
workflow profile adds --rerun-incomplete). The resumed run must finish, redo the killed
job instead of trusting its partial output, and end with the same F1 table as an
uninterrupted run (training is deterministic on CPU for a fixed seed)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_snakemake, snakemake_env

pytestmark = pytest.mark.slow

TABLE = "results/table/scene/f1_table.csv"
PREDICTIONS = "results/models/scene/baseline/seed0/predictions.csv"
# One model, no late fusion: the smallest DAG that ends with the F1 table.
SETTINGS = "\nmodels: [baseline]\nlate_fusion: {activate: false}\n"


def fault_workdir(front: Path, folder: Path) -> Path:
    """A copy of the tiny front half (timestamps kept) set up for the fault runs."""
    shutil.copytree(front, folder, symlinks=True)
    tiny = folder / "config/tiny.yaml"
    tiny.write_text(tiny.read_text() + SETTINGS)
    return folder


@pytest.fixture(scope="module")
def uninterrupted(tiny_front, tmp_path_factory) -> Path:
    work = fault_workdir(tiny_front, tmp_path_factory.mktemp("faults") / "uninterrupted")
    run_snakemake(work, TABLE)
    return work


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc), whatever its process group."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def run_and_kill(work: Path, started, timeout: float = 240) -> None:
    """Start the workflow towards the F1 table; when ``started(work)`` says the job to
    interrupt is running, SIGKILL Snakemake's process group and every process below it."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        "config/tiny.yaml",
        "--cores",
        "2",
        TABLE,
    ]
    process = subprocess.Popen(
        command,
        cwd=work,
        env=snakemake_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while not started(work):
            assert process.poll() is None, "the workflow ended before the job to kill ran"
            assert time.monotonic() < deadline, "the job to kill did not start in time"
            time.sleep(0.01)
    finally:
        victims = descendants(process.pid)
        for kill, target in [(os.killpg, process.pid)] + [(os.kill, p) for p in victims]:
            try:
                kill(target, signal.SIGKILL)
            except ProcessLookupError:  # already gone
                pass
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def resume(work: Path) -> None:
    """The README's resume command: the lock is left behind, so unlock, then rerun."""
    locked = run_snakemake(work, TABLE, check=False)
    assert locked.returncode != 0
    assert "--unlock" in locked.stdout + locked.stderr
    run_snakemake(work, "--unlock", TABLE)
    run_snakemake(work, TABLE)


def assert_same_results(work: Path, uninterrupted: Path) -> None:
    for path in (TABLE, PREDICTIONS, "results/dataset/dataset.csv"):
        assert (work / path).read_bytes() == (uninterrupted / path).read_bytes(), path


def log_says(path: str, text: str):
    """The job's log (written by this run: none exists before) shows ``text``."""

    def started(work: Path) -> bool:
        log = work / path
        return log.exists() and text in log.read_text(errors="replace")

    return started


def test_killed_during_frame_extraction_resumes_to_the_same_table(tiny_front, uninterrupted, tmp_path):
    work = fault_workdir(tiny_front, tmp_path / "work")
    # As if the first run had died after demo01: demo02's frames and all that follows
    # are still to be made (Snakemake keeps a missing intermediate file missing while
    # what it feeds is there, so all of it goes).
    for folder in ("results/frames/demo02", "results/crops/demo02", "results/dataset", "results/split"):
        shutil.rmtree(work / folder)
    for path in [*work.glob("results/*/demo02.*"), work / "logs/extract_frames/demo02.log"]:
        path.unlink()
    # killed once ffmpeg is started: the frame folder exists, partly written at most
    run_and_kill(work, log_says("logs/extract_frames/demo02.log", "ffmpeg"))
    assert not (work / "results/frames/demo02.info.json").exists()
    resume(work)
    frames = sorted((work / "results/frames/demo02").glob("*.jpg"))
    assert [f.read_bytes() for f in frames] == [
        f.read_bytes() for f in sorted((tiny_front / "results/frames/demo02").glob("*.jpg"))
    ]
    assert_same_results(work, uninterrupted)


def test_killed_during_training_resumes_to_the_same_table(tiny_front, uninterrupted, tmp_path):
    work = fault_workdir(tiny_front, tmp_path / "work")
    assert not (work / "logs/train_model").exists()
    # killed once TensorFlow trains (the log names its devices), before the model is saved
    run_and_kill(work, log_says("logs/train_model/scene/baseline/seed0.log", "devices:"))
    assert not (work / PREDICTIONS).exists()
    resume(work)
    assert_same_results(work, uninterrupted)

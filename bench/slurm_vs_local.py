"""Wall time of the same tiny workflow run locally and on a one-node SLURM cluster.

Starts the test cluster of tests/slurm_cluster.py (root, Debian's slurm-wlm and munge),
then runs the tiny workflow (tests/data/tiny.yaml) from scratch twice, in fresh work
folders: with profiles/default on this machine, and with profiles/slurm through the
scheduler. Prints both wall times and the SLURM overhead. The default target set is the
one tests/test_slurm.py runs (front half + one training + its evaluation); --all runs
the whole tiny DAG.

    sudo .venv/bin/python bench/slurm_vs_local.py [--all] [--poll 2]

Both runs use 2 cores (the test node has the machine's CPUs). SLURM adds per job a
submission, a `python -m snakemake` job step on the node, and status polling; --poll
sets the seconds before the first status check (the profile's default is 40, which
suits a busy cluster and dominates on a tiny workflow).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import FRONT_TARGETS, make_workdir, snakemake_env  # noqa: E402
from slurm_cluster import start_cluster  # noqa: E402

TRAINED = ("results/eval/scene/baseline/seed0/metrics.json",)


def run(workdir: Path, profile: str, env: dict, targets: tuple, extra: tuple) -> float:
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        "config/tiny.yaml",
        "--profile",
        str(REPO / "profiles" / profile),
        "--cores",
        "2",
        *extra,
        *targets,
    ]
    start = time.monotonic()
    with open(workdir / f"{profile}.log", "w") as log:
        process = subprocess.run(command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - start
    if process.returncode:
        sys.exit(f"{profile} run failed ({process.returncode}), see {log.name}")
    return seconds


def count_jobs(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.startswith(("rule ", "localrule ")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="the whole tiny DAG")
    parser.add_argument("--poll", type=int, default=2, help="seconds before the first SLURM status check")
    args = parser.parse_args()
    targets = () if args.all else (*FRONT_TARGETS, *TRAINED)

    with tempfile.TemporaryDirectory(prefix="dramaemo-bench-") as scratch:
        scratch = Path(scratch)
        local_dir = make_workdir(scratch / "local")
        local_s = run(local_dir, "default", snakemake_env(), targets, ())
        print(
            f"local: {local_s:7.1f} s wall, {count_jobs(local_dir / 'default.log')} "
            "jobs (profiles/default, --cores 2)",
            flush=True,
        )

        cluster_dir = Path(tempfile.mkdtemp(prefix="dramaemo-slurm-"))
        cluster = start_cluster(cluster_dir)
        try:
            slurm_dir = make_workdir(scratch / "slurm")
            slurm_s = run(
                slurm_dir,
                "slurm",
                cluster.environ(snakemake_env()),
                targets,
                ("--slurm-init-seconds-before-status-checks", str(args.poll)),
            )
        finally:
            cluster.stop()
            shutil.rmtree(cluster_dir, ignore_errors=True)
        print(
            f"SLURM: {slurm_s:7.1f} s wall, {count_jobs(slurm_dir / 'slurm.log')} "
            f"jobs (profiles/slurm, one node, first status check after "
            f"{args.poll} s)"
        )
        print(f"SLURM / local: {slurm_s / local_s:.2f}x (+{slurm_s - local_s:.1f} s)")


if __name__ == "__main__":
    main()

"""The workflow on a real one-node SLURM cluster (tests/slurm_cluster.py)."""

import time

import pytest

from slurm_cluster import slurm_cluster  # noqa: F401  (the session fixture)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def test_cluster_runs_a_gpu_job(slurm_cluster, tmp_path):  # noqa: F811
    """The bare cluster schedules a batch job with a GPU request and a job step."""
    out = tmp_path / "job.out"
    job_id = slurm_cluster.run(
        "sbatch", "--parsable", "--gpus=1", "--mem=100", f"--output={out}",
        "--wrap", "echo job=$SLURM_JOB_ID gpus=$CUDA_VISIBLE_DEVICES; srun hostname",
    ).stdout.strip()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        (job,) = [j for j in slurm_cluster.jobs() if j["id"] == job_id]
        if job["state"] not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
            break
        time.sleep(0.5)
    assert job["state"] == "COMPLETED", f"{job}\n{slurm_cluster.logs()}"
    assert job["gpus"] == "gres:gpu:1"
    lines = out.read_text().splitlines()
    assert lines[0] == f"job={job_id} gpus=0"
    assert len(lines) == 2 and lines[1], "srun inside the job printed no host name"

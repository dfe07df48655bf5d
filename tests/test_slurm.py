"""The workflow on a real one-node SLURM cluster (tests/slurm_cluster.py).

The tiny workflow's front half plus one training and its evaluation (12 jobs) runs on
the cluster with profiles/slurm. It first meets a corrupt episode: the run must fail
and name the rule's log; after the episode is repaired, a rerun must finish without
redoing what was already done. Every job of the cluster runs must have gone through
the scheduler (the training one with its GPU request), and the deterministic outputs
must equal the local run's (conftest's `tiny_front`). Wall times are printed
(pytest -s); bench/slurm_vs_local.py measures local against SLURM on its own.
"""

import filecmp
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FRONT_TARGETS, REPO, make_workdir, snakemake_env
from slurm_cluster import slurm_cluster  # noqa: F401  (the session fixture)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# One training (it asks for a GPU when train.gpus is set) and its evaluation.
TRAINED = ("results/eval/scene/baseline/seed0/metrics.json",)
CORRUPT_EPISODE = "resources/demo/episodes/demo02.mp4"
# The profile waits 40 s before its first status check, as suits a busy cluster; this
# cluster answers at once, so the tests poll every few seconds instead.
FAST_POLLING = ("--slurm-init-seconds-before-status-checks", "2")
# Deterministic outputs, compared byte for byte between the local and the SLURM run.
# (Trained weights and anything holding timings or absolute paths are left out.)
DETERMINISTIC = (
    "resources/demo/annotations.csv",
    "results/faces/*.detections.csv",
    "results/crops/*.manifest.csv",
    "results/dataset/dataset.csv",
    "results/dataset/join_report.csv",
    "results/split/*/*.csv",
)
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (.+?)\)")
RUN_ID = re.compile(r"SLURM run ID: (\S+)")
JOB_BLOCK = re.compile(r"^(local)?rule (\w+):\n((?:    .*\n)*)", re.M)
FINISHED = re.compile(r"^Finished jobid: (\d+) ", re.M)
# A failed job's logs, which Snakemake prints (show-failed-logs) between two rulers; the
# SLURM log among them holds the job step's own "rule ...:" lines.
SHOWN_LOG = re.compile(r"^Logfile [^\n]*:\n(=+)\n.*?^\1$", re.M | re.S)
# The training job asks for a GPU (train.gpus), which the slurm executor maps to --gpus.
GPU_CONFIG = "train:\n  gpus: 1\n"
CONFIGFILES = ("config/tiny.yaml", "config/gpu.yaml")


def snakemake(workdir: Path, profile: str, cluster=None, *extra: str):
    """Run the tiny workflow in `workdir` with a profile (on `cluster`, if given);
    return (process, seconds)."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        *CONFIGFILES,
        "--profile",
        str(REPO / "profiles" / profile),
        "--cores",
        "2",
        *extra,
    ]
    # The jobs inherit this environment (the slurm executor submits with --export=ALL).
    env = cluster.environ(snakemake_env()) if cluster else snakemake_env()
    start = time.monotonic()
    process = subprocess.run(command, env=env, text=True, capture_output=True, cwd=workdir)
    return process, time.monotonic() - start


def output_times(workdir: Path) -> dict[str, float]:
    """Every file under results/ and resources/ with its modification time."""
    return {
        str(path.relative_to(workdir)): path.stat().st_mtime
        for top in ("results", "resources")
        for path in (workdir / top).rglob("*")
        if path.is_file()
    }


def started_jobs(log: str) -> list[dict]:
    """Each job Snakemake started (one entry per attempt), as its log lists them:
    rule, jobid, wildcards, outputs, and whether it ran locally (a localrule)."""
    jobs = []
    for local, rule, body in JOB_BLOCK.findall(SHOWN_LOG.sub("", log)):
        fields = dict(re.findall(r"^    (\w+): (.*)$", body, re.M))
        jobs.append(
            {
                "rule": rule,
                "local": bool(local),
                "jobid": fields.get("jobid"),
                "wildcards": fields.get("wildcards", ""),
                # Snakemake marks flagged outputs, e.g. "results/crops/demo01 (update)"
                "outputs": [
                    re.sub(r" \(\w+\)$", "", output) for output in fields.get("output", "").split(", ")
                ]
                if "output" in fields
                else [],
                "name": f"{rule}[{fields.get('wildcards', '')}]",
            }
        )
    return jobs


def finished_jobs(log: str) -> list[dict]:
    """The jobs Snakemake reported finished (what a rerun must not redo)."""
    done = set(FINISHED.findall(SHOWN_LOG.sub("", log)))
    return [job for job in started_jobs(log) if job["jobid"] in done]


def scheduled_jobs(cluster, log: str) -> dict[str, dict]:
    """The run's jobs as the scheduler saw them, by SLURM job id."""
    (run_id,) = RUN_ID.findall(log)
    return {job["id"]: job for job in cluster.jobs(name=run_id)}


def memory_mb(squeue_memory: str) -> float:
    """squeue's MinMemory ("2000M", "4G") in MB."""
    return float(squeue_memory[:-1]) * {"M": 1, "G": 1024, "T": 1024**2}[squeue_memory[-1]]


@pytest.fixture(scope="module")
def tiny_runs(slurm_cluster, tiny_front, tmp_path_factory):  # noqa: F811
    """The SLURM runs: the demo episodes, the failing run, the resumed run."""
    slurm_dir = make_workdir(tmp_path_factory.mktemp("slurm_workflow"))
    (slurm_dir / "config" / "gpu.yaml").write_text(GPU_CONFIG)
    targets = (*FRONT_TARGETS, *TRAINED)
    # The demo episodes first (on the cluster), then one of them is broken.
    built, built_s = snakemake(slurm_dir, "slurm", slurm_cluster, *FAST_POLLING, CORRUPT_EPISODE)
    assert built.returncode == 0, built.stderr[-5000:]
    episode = slurm_dir / CORRUPT_EPISODE
    intact = episode.read_bytes()
    # Damaged bytes inside the video data: the header probe of check_videos passes
    # (a truncated file would stop the run there, before any job), decoding fails.
    middle = len(intact) // 3
    episode.write_bytes(intact[:middle] + bytes(range(256)) * 8 + intact[middle + 2048 :])
    failed, failed_s = snakemake(slurm_dir, "slurm", slurm_cluster, *FAST_POLLING, *targets)
    after_failure = output_times(slurm_dir)

    episode.write_bytes(intact)
    resumed, resumed_s = snakemake(slurm_dir, "slurm", slurm_cluster, *FAST_POLLING, *targets)
    assert resumed.returncode == 0, resumed.stderr[-5000:]
    print(
        f"\nSLURM wall time: {built_s:.1f} s (demo episodes) + {failed_s:.1f} s "
        f"(failing run) + {resumed_s:.1f} s (resumed run)"
    )
    return {
        "cluster": slurm_cluster,
        "local_dir": tiny_front,
        "slurm_dir": slurm_dir,
        "built": built,
        "failed": failed,
        "resumed": resumed,
        "after_failure": after_failure,
    }


def test_corrupt_episode_fails_the_run_naming_the_rule_log(tiny_runs):
    failed = tiny_runs["failed"]
    log = failed.stderr
    assert failed.returncode != 0, log[-5000:]
    assert "Error in rule extract_frames" in log, log[-5000:]
    assert "logs/extract_frames/demo02.log" in log
    # ... and shows it: the reason, naming the file.
    assert re.search(r"demo02\.mp4: .*(corrupt|truncated|invalid)", log, re.I), log[-5000:]
    # Each retry asked the scheduler for more memory than the one before.
    attempts = sorted(
        (int(job["id"]), memory_mb(job["memory"]))
        for job in scheduled_jobs(tiny_runs["cluster"], log).values()
        if job["comment"] == "rule_extract_frames_wildcards_demo02"
    )
    memory = [mb for _, mb in attempts]
    assert len(memory) == 3 and memory == sorted(set(memory)), attempts  # retries: 2
    # The failure came from the cluster job, and its SLURM log is named too.
    assert re.search(r"SLURM-job '\d+' failed", log), log[-5000:]
    assert re.search(r"\.snakemake/slurm_logs/rule_extract_frames/demo02/\d+\.log", log)


def test_rerun_resumes_without_redoing_finished_jobs(tiny_runs):
    slurm_dir = tiny_runs["slurm_dir"]
    finished = finished_jobs(tiny_runs["built"].stderr) + finished_jobs(tiny_runs["failed"].stderr)
    assert any(job["rule"] == "extract_frames" for job in finished), (
        "no episode was finished before the failure; nothing shows a resume"
    )
    rerun = {job["name"] for job in started_jobs(tiny_runs["resumed"].stderr)}
    redone = rerun & {job["name"] for job in finished if not job["local"]}
    assert not redone, f"jobs finished before the failure were run again: {redone}"
    assert "extract_frames[episode=demo02]" in rerun
    # ... and their outputs were left as they were.
    before, after = tiny_runs["after_failure"], output_times(slurm_dir)
    for job in finished:
        for output in job["outputs"]:
            if output == CORRUPT_EPISODE:
                continue
            files = [name for name in before if name == output or name.startswith(output.rstrip("/") + "/")]
            assert files, f"{output} of {job['name']} is missing after the failure"
            assert all(after[name] == before[name] for name in files), output


@pytest.mark.parametrize("run", ["built", "failed", "resumed"])
def test_every_job_went_through_the_scheduler(tiny_runs, run):
    log = tiny_runs[run].stderr
    submitted = dict(SUBMITTED.findall(log))
    jobs = scheduled_jobs(tiny_runs["cluster"], log)
    assert submitted, f"no job was submitted to SLURM:\n{log[-3000:]}"
    # Each job (attempt) Snakemake started outside a localrule is a SLURM job of this
    # run, and the scheduler knows each of them.
    remote = [job for job in started_jobs(log) if not job["local"]]
    assert len(remote) == len(submitted), (remote, submitted)
    assert set(submitted) == set(jobs), (submitted, jobs)
    assert {f"rule_{job['rule']}" for job in remote} == {
        job["comment"].split("_wildcards")[0] for job in jobs.values()
    }
    if run != "failed":
        assert all(job["state"] == "COMPLETED" for job in jobs.values()), jobs
    for job in jobs.values():
        assert 0 < memory_mb(job["memory"]) <= tiny_runs["cluster"].memory_mb, job
        if job["comment"].startswith("rule_train_model"):
            assert job["gpus"] == "gres:gpu:1", job
    if run == "resumed":
        assert any(j["comment"].startswith("rule_train_model") for j in jobs.values())


def test_outputs_equal_the_local_run(tiny_runs):
    local_dir, slurm_dir = tiny_runs["local_dir"], tiny_runs["slurm_dir"]
    local_files = set(output_times(local_dir))
    slurm_files = set(output_times(slurm_dir))
    assert local_files <= slurm_files, local_files - slurm_files
    compared = 0
    for pattern in DETERMINISTIC:
        for local_file in sorted(local_dir.glob(pattern)):
            relative = local_file.relative_to(local_dir)
            assert filecmp.cmp(local_file, slurm_dir / relative, shallow=False), relative
            compared += 1
    assert compared >= len(DETERMINISTIC)
    # The packed crops: same pixels, same order (the archive's bytes hold zip times).
    with (
        np.load(local_dir / "results/dataset/images.npz") as local,
        np.load(slurm_dir / "results/dataset/images.npz") as slurm,
    ):
        assert sorted(local.files) == sorted(slurm.files)
        for name in local.files:
            np.testing.assert_array_equal(local[name], slurm[name], err_msg=name)


def test_cluster_runs_a_gpu_job(slurm_cluster, tmp_path):  # noqa: F811
    """The bare cluster schedules a batch job with a GPU request and a job step."""
    out = tmp_path / "job.out"
    job_id = slurm_cluster.run(
        "sbatch",
        "--parsable",
        "--gpus=1",
        "--mem=100",
        f"--output={out}",
        "--wrap",
        "echo job=$SLURM_JOB_ID gpus=$CUDA_VISIBLE_DEVICES; srun hostname",
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

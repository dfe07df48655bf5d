"""A real one-node SLURM cluster on localhost, as a session-scoped pytest fixture.

`slurm_cluster` installs Debian's slurm-wlm and munge when they are missing (root only,
as in CI), writes a munge key and a `slurm.conf` into a temporary directory, starts
`munged`, `slurmctld` and `slurmd` there (on free ports, nothing under /etc or /run),
waits until the node is idle, and at the end stops exactly the three daemons it
started, by their pids. Without root (or without the packages) the tests that use it
skip with the reason; under CI=true they fail instead, because CI must run everything.

Use it in a test module with `from slurm_cluster import slurm_cluster  # noqa: F401`
and pass `slurm_cluster.env` to every subprocess that talks to the cluster.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

NODE = "localhost"
PARTITION = "debug"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "srun", "scancel", "sinfo", "scontrol")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STARTUP_TIMEOUT_S = 60

SLURM_CONF = """\
# One-node test cluster written by tests/slurm_cluster.py.
ClusterName=dramaemo-test
SlurmctldHost={node}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# No slurmdbd: jobs are followed with squeue, which shows a finished job for MinJobAge s.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=900
MpiDefault=none
ReturnToService=2
# Take CPUs/memory from this file, whatever the machine's topology looks like.
SlurmdParameters=config_overrides
# One pretend GPU (gres.conf maps it to /dev/null): a job asking for --gpus=1 is
# scheduled and gets CUDA_VISIBLE_DEVICES; TensorFlow finds no device and uses the CPU.
GresTypes=gpu
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} Gres=gpu:1 State=UNKNOWN
PartitionName={partition} Default=YES Nodes={node} MaxTime=INFINITE State=UP
"""

# The slurm executor's job step removes every SLURM_* variable (SLURM_CONF included)
# before it calls `srun` inside the job. A real cluster keeps its configuration at
# /etc/slurm/slurm.conf, where no variable is needed; this cluster must not touch /etc,
# so `srun` on the jobs' PATH is the real one with SLURM_CONF set again.
SRUN_WRAPPER = """\
#!/bin/sh
SLURM_CONF={conf}
export SLURM_CONF
exec {srun} "$@"
"""


def _which(name: str) -> str | None:
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:{SYSTEM_PATH}")


def _missing_binaries() -> list[str]:
    return [name for name in DAEMONS + CLIENTS if _which(name) is None]


def _unavailable(reason: str):
    """Skip with the reason; under CI=true fail instead (CI must run every test)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"SLURM test cluster unavailable under CI: {reason}")
    pytest.skip(f"SLURM test cluster unavailable: {reason}")


def _ensure_installed(log_path: Path) -> None:
    missing = _missing_binaries()
    if not missing:
        return
    if os.geteuid() != 0:
        _unavailable(
            f"missing {', '.join(missing)}; install Debian's slurm-wlm and munge "
            "(tests/setup_system.sh does it as root)"
        )
    with open(log_path, "w") as log:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "slurm-wlm", "munge"],
        ):
            if subprocess.run(command, stdout=log, stderr=log, env=env).returncode:
                _unavailable(f"`{' '.join(command)}` failed, see {log_path}")
    still_missing = _missing_binaries()
    if still_missing:
        _unavailable(f"still missing after apt-get: {', '.join(still_missing)}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _memory_mb() -> int:
    """90% of this machine's memory, as SLURM's RealMemory (MB)."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(int(line.split()[1]) / 1024 * 0.9)
    raise RuntimeError("/proc/meminfo: no MemTotal line")


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class SlurmCluster:
    """A running test cluster: its directory, config and the environment to use it."""

    root: Path
    conf: Path
    env: dict[str, str]
    cpus: int
    memory_mb: int
    partition: str = PARTITION
    daemons: dict[str, subprocess.Popen] = field(default_factory=dict)

    def environ(self, base: dict[str, str]) -> dict[str, str]:
        """`base` plus what this cluster's clients and jobs need (its SLURM_CONF, the
        srun wrapper first on PATH, the sbin directories last)."""
        return {
            **base,
            "SLURM_CONF": str(self.conf),
            "PATH": f"{self.root / 'bin'}:{base.get('PATH', '')}:{SYSTEM_PATH}",
        }

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a SLURM client command (sbatch, squeue, ...) against this cluster."""
        return subprocess.run(list(command), env=self.env, text=True, capture_output=True, check=check)

    def jobs(self, name: str | None = None) -> list[dict[str, str]]:
        """Every job slurmctld still knows (MinJobAge keeps finished ones), optionally
        only those named `name` (the slurm executor names a run's jobs by its run id).
        Each is a dict: id, name, state, comment (the executor puts the rule and its
        wildcards there), gpus (TRES per job, e.g. gres:gpu:1), memory, cpus, time."""
        fields = ("JobID", "Name", "State", "Comment", "tres-per-job", "MinMemory", "NumCPUs", "TimeLimit")
        command = ["squeue", "--states=all", "--noheader", "--Format=" + ",".join(f"{f}:|" for f in fields)]
        if name:
            command += ["--name", name]
        keys = ("id", "name", "state", "comment", "gpus", "memory", "cpus", "time")
        return [
            dict(zip(keys, line.rstrip("|").split("|")))
            for line in self.run(*command).stdout.splitlines()
            if line.strip()
        ]

    def logs(self) -> str:
        """The daemons' log tails, for a failure message."""
        return "\n".join(
            f"--- {path.name} ---\n{_tail(path)}" for path in sorted((self.root / "log").glob("*"))
        )

    def stop(self) -> None:
        """Stop the daemons this fixture started (by pid), newest first."""
        for name in reversed(list(self.daemons)):
            process = self.daemons[name]
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        self.daemons.clear()


def _start_daemon(cluster: SlurmCluster, name: str, *args: str) -> None:
    log = open(cluster.root / "log" / f"{name}.stderr", "w")
    # Foreground mode (-F/-D): the pid we hold is the daemon's own, nothing forks away.
    cluster.daemons[name] = subprocess.Popen(
        [_which(name), *args],
        env=cluster.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()


def _wait_for(cluster: SlurmCluster, what: str, ready) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        for name, process in cluster.daemons.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode} while waiting for {what}\n{cluster.logs()}"
                )
        if ready():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {STARTUP_TIMEOUT_S} s waiting for {what}\n{cluster.logs()}")


def start_cluster(root: Path) -> SlurmCluster:
    """Write the configuration under `root` and start munged, slurmctld and slurmd."""
    # munged wants its socket's directories searchable by everyone (mkdtemp gives 0700).
    root.chmod(0o755)
    for sub in ("munge", "state", "spool", "log", "bin"):
        (root / sub).mkdir(mode=0o755, parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    # At least 2: the widest rule (extract_frames) asks for 2 CPUs, and a node with
    # fewer would make sbatch refuse the job outright.
    cpus = max(os.cpu_count() or 1, 2)
    memory_mb = _memory_mb()
    conf.write_text(
        SLURM_CONF.format(
            node=NODE,
            partition=PARTITION,
            root=root,
            cpus=cpus,
            memory_mb=memory_mb,
            ctld_port=_free_port(),
            slurmd_port=_free_port(),
        )
    )
    (root / "gres.conf").write_text(f"NodeName={NODE} Name=gpu File=/dev/null\n")
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    srun = root / "bin" / "srun"
    srun.write_text(SRUN_WRAPPER.format(conf=conf, srun=_which("srun")))
    srun.chmod(0o755)

    cluster = SlurmCluster(root=root, conf=conf, env={}, cpus=cpus, memory_mb=memory_mb)
    cluster.env = cluster.environ(dict(os.environ))
    socket_path = root / "munge" / "munge.socket"
    try:
        _start_daemon(
            cluster,
            "munged",
            "--foreground",
            f"--socket={socket_path}",
            f"--key-file={key}",
            f"--pid-file={root / 'munge' / 'munged.pid'}",
            f"--log-file={root / 'log' / 'munged.log'}",
            f"--seed-file={root / 'munge' / 'munged.seed'}",
        )
        _wait_for(cluster, "the munge socket", socket_path.exists)
        _start_daemon(cluster, "slurmctld", "-D", "-f", str(conf))
        _wait_for(cluster, "slurmctld", lambda: cluster.run("sinfo", "-h", check=False).returncode == 0)
        _start_daemon(cluster, "slurmd", "-D", "-N", NODE, "-f", str(conf))
        _wait_for(
            cluster,
            f"node {NODE} idle",
            lambda: (
                cluster.run("sinfo", "-h", "-N", "-o", "%N %t", check=False).stdout.split() == [NODE, "idle"]
            ),
        )
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running one-node SLURM cluster (see the module docstring)."""
    root = Path(tempfile.mkdtemp(prefix="dramaemo-slurm-"))  # short: a socket lives here
    _ensure_installed(root / "apt-get.log")
    if os.geteuid() != 0:
        _unavailable("slurmd must run as root to start jobs; run the tests as root")
    try:
        cluster = start_cluster(root)
    except RuntimeError as error:
        pytest.fail(f"could not start the SLURM test cluster in {root}: {error}")
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)

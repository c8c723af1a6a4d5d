"""What the production image installs, and that the app runs without the embedded backends and the dev tools."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.blocked_imports import without_packages
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]

EMBEDDED = {"moto", "fakeredis", "lupa", "flask", "werkzeug", "responses"}  # the backends and what only they pull in
DEV = {"pytest", "pytest-asyncio", "pytest-selenium", "pytest-timeout", "hypothesis", "playwright", "mypy", "ruff"}
DEV |= {"boto3-stubs", "schemathesis"}


def uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")  # `uv run` tells its children where it is
    if found is None:
        pytest.fail("uv is not installed: the project is managed with uv (pip install uv)", pytrace=False)
    return found


def exported(*options: str) -> set[str]:
    """The names of the packages that ``uv sync --locked <options>`` installs, read from the lock file."""
    result = subprocess.run(
        [uv(), "export", "--locked", "--no-hashes", "--no-emit-project", "--format", "requirements-txt", *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    names = (re.match(r"[A-Za-z0-9._-]+", line) for line in result.stdout.splitlines() if line[:1].isalnum())
    return {re.sub(r"[._]", "-", m.group(0)).lower() for m in names if m}


def image_sync_options() -> list[str]:
    """The options of the Dockerfile's ``uv sync``."""
    (line,) = [line for line in (REPO / "Dockerfile").read_text().splitlines() if "uv sync" in line]
    return line.split("uv sync", 1)[1].split()


def test_the_image_installs_neither_the_embedded_backends_nor_dev_tools() -> None:
    options = image_sync_options()
    assert "--locked" in options
    production = exported(*(o for o in options if o not in ("--locked", "--no-install-project")))
    assert {"nicegui", "boto3", "redis"} <= production
    assert production.isdisjoint(EMBEDDED | DEV), sorted(production & (EMBEDDED | DEV))


def test_a_clone_installs_the_embedded_backends_and_dev_tools_by_default() -> None:
    # `uv run main.py` and `uv run pytest` on a fresh clone sync the default groups: zero configuration works
    default = exported()
    assert {"moto", "fakeredis", "lupa", "pytest", "mypy"} <= default


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_", "PYTEST_", "NICEGUI_"))}


def test_the_app_builds_against_real_services_without_moto_and_fakeredis(tmp_path: Path) -> None:
    env = without_packages(["moto", "fakeredis", "lupa"], directory=tmp_path / "shim", env=clean_env())
    env.update(
        CHAT_REDIS_URL="redis://127.0.0.1:1/0",  # nothing is contacted: building connects to nothing
        CHAT_DYNAMODB_ENDPOINT="http://127.0.0.1:1",
        CHAT_STORAGE_SECRET="packaging-test-secret-0123456789-abcdefghij",
    )
    code = """
import importlib, pkgutil
import chat, components, main
for package in (chat, components):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
from chat.runtime import Runtime
from chat.settings import Settings
runtime = Runtime(Settings.from_env())
assert runtime.embedded is None
print("built")
"""
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "built"


def test_embedded_mode_without_its_packages_says_how_to_go_on(tmp_path: Path) -> None:
    env = without_packages(["moto", "fakeredis"], directory=tmp_path / "shim", env=clean_env())
    env["CHAT_PORT"] = str(free_port())  # were it to start after all, on a port of its own until the timeout
    result = subprocess.run(
        [sys.executable, "main.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "CHAT_REDIS_URL" in result.stderr
    assert "uv sync --group embedded" in result.stderr

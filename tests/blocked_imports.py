"""Python as if some packages were not installed, for a child process: what a smaller installation would see."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path


def without_packages(packages: Iterable[str], *, directory: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for a Python child in which importing any of ``packages`` (or their modules) fails as if missing.

    A ``sitecustomize`` on PYTHONPATH puts None in ``sys.modules`` for each: ``import`` then raises
    ModuleNotFoundError and ``importlib.util.find_spec`` answers None, in the child and in any process it spawns.
    """
    directory.mkdir(parents=True, exist_ok=True)
    blocked = f"import sys\nsys.modules.update(dict.fromkeys({sorted(packages)!r}))\n"
    (directory / "sitecustomize.py").write_text(blocked)
    path = [str(directory), *filter(None, [env.get("PYTHONPATH")])]
    return {**env, "PYTHONPATH": os.pathsep.join(path)}

"""The layers as the README draws them: the domain never imports the UI, and the UI never reaches past the services."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, by its full dotted name (relative imports resolved)."""
    package = ".".join(path.relative_to(REPO).parent.parts)
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def reaches(names: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("path", sorted((REPO / "chat").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_the_domain_imports_nothing_of_the_ui(path: Path) -> None:
    assert not reaches(imported(path), ("nicegui", "components", "main"))


@pytest.mark.parametrize("path", sorted((REPO / "components").glob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_components_get_services_and_callbacks_never_the_runtime_or_a_backend(path: Path) -> None:
    assert not reaches(imported(path), ("chat.runtime", "chat.embedded", "boto3", "botocore", "redis", "main"))

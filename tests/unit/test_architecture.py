"""The rooms of the architecture stay separate (README, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def _python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_the_domain_package_exists_and_has_modules() -> None:
    files = _python_files("include/ibmi_resync")
    assert len(files) >= 5, files


@pytest.mark.parametrize("path", _python_files("include"), ids=lambda p: p.name)
def test_domain_package_never_imports_airflow(path: Path) -> None:
    offending = {m for m in _imported_modules(path) if m.split(".")[0] == "airflow"}
    assert not offending, f"{path.relative_to(ROOT)} imports {sorted(offending)}"


@pytest.mark.parametrize(
    "path",
    _python_files("include") + _python_files("plugins") + _python_files("dags"),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_product_never_imports_the_simulator(path: Path) -> None:
    offending = {m for m in _imported_modules(path) if m.split(".")[0] == "ibmi_sim"}
    assert not offending, f"{path.relative_to(ROOT)} imports the simulator: {sorted(offending)}"


def test_the_import_check_would_catch_an_airflow_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import os\nfrom airflow.sdk import dag\n", encoding="utf-8")
    assert "airflow.sdk" in _imported_modules(sample)

"""Dependencies are pinned and the Dockerfile agrees with them (no Docker engine runs here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)")


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: {raw!r} is not pinned with =="
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_every_direct_dependency_is_pinned_and_in_the_constraints() -> None:
    constraints = _pins(ROOT / "constraints.txt")
    for requirements in ("requirements.txt", "requirements-dev.txt"):
        for name, version in _pins(ROOT / requirements).items():
            assert constraints.get(name) == version, (
                f"{requirements} pins {name}=={version}, constraints.txt has "
                f"{constraints.get(name)}; run `make constraints`"
            )


def test_the_issue_named_packages_are_required() -> None:
    names = set(_pins(ROOT / "requirements.txt")) | set(_pins(ROOT / "requirements-dev.txt"))
    for needed in (
        "apache-airflow",
        "apache-airflow-providers-ssh",
        "apache-airflow-providers-sftp",
        "apache-airflow-providers-odbc",
        "apache-airflow-providers-standard",
        "pyodbc",
        "pydantic",
        "pytest",
        "hypothesis",
        "ruff",
    ):
        assert needed in names, needed


def test_dockerfile_uses_the_pinned_airflow_and_the_constraints() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    airflow = _pins(ROOT / "requirements.txt")["apache-airflow"]
    base = re.search(r"^FROM apache/airflow:(\S+)", dockerfile, re.MULTILINE)
    assert base, "the image must start FROM the official apache/airflow image"
    assert base.group(1) == f"{airflow}-python3.11", base.group(1)
    assert re.search(
        r"pip install .*-r \S*requirements\.txt\s*\\?\s*-c \S*constraints\.txt",
        dockerfile.replace("\\\n", " "),
    ), "pip must install with the constraints"
    for package in ("unixodbc", "odbc-postgresql", "ibm-iaccess"):
        assert package in dockerfile, package
    for folder in ("include/", "plugins/", "dags/", "config/"):
        assert f"COPY --chown=airflow:root {folder}" in dockerfile, folder
    assert "PYTHONPATH=/opt/airflow/include:/opt/airflow/plugins" in dockerfile


def test_the_python_version_of_the_image_is_the_one_we_test_on() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'requires-python = ">=3.11"' in pyproject
    assert 'target-version = "py311"' in pyproject

"""docker-compose.yml and the Dockerfile agree with the project and with `make demo`.

No Docker engine runs on our machines, so these tests read the files. The Dockerfile's base
image, constraints, copied folders and PYTHONPATH are checked in tests/unit/test_packaging.py;
here: the compose file's services, paths, environment and their agreement with the Dockerfile
and with scripts/deployment.py (the settings `make demo` gives the same components).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import deployment as d

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = ("airflow-init", *d.AIRFLOW_COMPONENTS)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")


def _dockerfile_env(dockerfile: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", dockerfile, re.MULTILINE):
        for name, value in re.findall(r"(\w+)=(\S+)", line):
            env[name] = value
    return env


def _copied(dockerfile: str) -> dict[str, str]:
    """Project folder -> where the image has it (COPY ... src/ dest/)."""
    return {
        src.rstrip("/"): dest.rstrip("/")
        for src, dest in re.findall(r"^COPY (?:--\S+ )*(\S+)/ (\S+)/$", dockerfile, re.MULTILINE)
    }


def _env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {k: str(v) for k, v in environment.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def _code_env_names() -> set[str]:
    """IBMI_RESYNC_* variables that the product (dags, plugins, include) reads."""
    names: set[str] = set()
    for folder in ("dags", "plugins", "include"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r"[\"'](IBMI_RESYNC_[A-Z_]+)[\"']", path.read_text()))
    return names


def test_every_component_that_make_demo_starts_is_a_service(compose) -> None:
    services = compose["services"]
    settings = d.Settings.from_env({})
    for component in d.AIRFLOW_COMPONENTS:
        assert component in services, component
        started = d.component_command(settings, component)
        if started[0] == settings.python:  # a module of ours: `python -m ...` in the image too
            assert _command(services[component]) == ["python", *started[1:]], component
        else:
            assert started[:2] == [settings.airflow, component]
            assert _command(services[component]) == [component], services[component]
    for other in ("postgres", "airflow-init", "sim"):
        assert other in services, other


def test_the_airflow_services_run_the_image_built_from_the_dockerfile(compose) -> None:
    for name in (*AIRFLOW_SERVICES, "sim"):
        service = compose["services"][name]
        build = service.get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context == ".", f"{name} must build the Dockerfile of this folder"
        assert (ROOT / "Dockerfile").is_file()
    airflow = re.search(r"^apache-airflow==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert airflow and compose["services"]["api-server"]["image"].endswith(airflow.group(1))


def test_the_product_env_names_are_set_where_the_code_reads_them(compose) -> None:
    names = _code_env_names()
    assert {"IBMI_RESYNC_PLAN", "IBMI_RESYNC_REPORTS"} <= names, names
    for service in AIRFLOW_SERVICES:
        env = _env(compose["services"][service])
        missing = names - set(env)
        assert not missing, f"{service}: {sorted(missing)} not set"


def test_the_paths_in_the_environment_exist_in_the_image(compose, dockerfile) -> None:
    copied = _copied(dockerfile)
    assert {"include", "plugins", "dags", "config"} <= set(copied), copied
    env = _env(compose["services"]["scheduler"])
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == copied["dags"]
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == copied["plugins"]
    for name, value in (("compose", env["IBMI_RESYNC_PLAN"]),):
        assert value.startswith(copied["config"] + "/"), (name, value)
        assert (ROOT / "config" / value.removeprefix(copied["config"] + "/")).is_file()
    image_env = _dockerfile_env(dockerfile)
    assert image_env["IBMI_RESYNC_PLAN"] == env["IBMI_RESYNC_PLAN"]
    pythonpath = image_env["PYTHONPATH"].split(":")
    # the domain package, the Airflow package (the triggerer imports the trigger's classpath)
    # and the folder holding ibmi_sim (mounted there for the sim service)
    assert [copied["include"], copied["plugins"]] == pythonpath[:2]
    sim_mount = [v for v in compose["services"]["sim"]["volumes"] if "ibmi_sim" in v]
    assert sim_mount and sim_mount[0].split(":")[1].rsplit("/", 1)[0] in pythonpath


def test_state_reports_and_logs_are_on_the_shared_volume(compose) -> None:
    for service in (*AIRFLOW_SERVICES, "sim"):
        mounts = compose["services"][service]["volumes"]
        assert "resync-state:/opt/airflow/state" in mounts, service
        env = _env(compose["services"][service])
        for name in ("IBMI_RESYNC_REPORTS", "AIRFLOW__LOGGING__BASE_LOG_FOLDER"):
            assert env[name].startswith("/opt/airflow/state/"), (service, name)
    assert "resync-state" in compose["volumes"]


def test_compose_gives_the_components_the_settings_of_make_demo(compose, tmp_path) -> None:
    demo = {
        k: v
        for k, v in d.env(d.Settings(state=tmp_path), base={}).items()
        if k.startswith("AIRFLOW__")
    }
    env = _env(compose["services"]["scheduler"])
    assert set(demo) == {k for k in env if k.startswith("AIRFLOW__")}, (
        "docker-compose.yml and scripts/deployment.py set different Airflow options"
    )
    # Values that do not depend on the machine are the same.
    same = (
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__CORE__PARALLELISM",
        "AIRFLOW__CORE__LOAD_EXAMPLES",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME",
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
    )
    for name in same:
        assert env[name] == demo[name], name
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://api-server:8080/execution/"
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"].split(":-", 1)[-1]) >= 64


def test_the_metadata_database_driver_is_a_requirement(compose) -> None:
    url = _env(compose["services"]["scheduler"])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert url.startswith("postgresql+psycopg2://")
    assert "psycopg2-binary==" in (ROOT / "requirements.txt").read_text()
    postgres = compose["services"]["postgres"]["environment"]
    assert url.endswith(f"@postgres:5432/{postgres['POSTGRES_DB']}")


def test_the_services_start_in_order(compose) -> None:
    services = compose["services"]
    init = services["airflow-init"]["depends_on"]
    assert init["sim"]["condition"] == "service_healthy"
    assert init["postgres"]["condition"] == "service_healthy"
    for component in d.AIRFLOW_COMPONENTS:
        needs = services[component]["depends_on"]
        assert needs["airflow-init"]["condition"] == "service_completed_successfully"
    assert _command(services["airflow-init"])[-3:] == ["compose-init", "--sim-host", "sim"]
    for service in ("sim", "airflow-init"):
        script = _command(services[service])[1]
        mounted = {v.split(":")[1]: v.split(":")[0] for v in services[service]["volumes"]}
        folder = str(Path(script).parent)
        assert folder in mounted and (ROOT / mounted[folder] / Path(script).name).is_file()

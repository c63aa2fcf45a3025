"""The deployment's DAG bundle is Airflow's default one, whose `initialize` (run by the
dag-processor before it forks its parses) imports what the DAG files import
(plugins/icluster_resync/bundles.py)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from icluster_resync.preload import preload_dag_imports
from scripts import deployment as d


def test_the_deployment_keeps_the_default_bundle_name_with_the_preloading_class() -> None:
    (bundle,) = json.loads(d.DAG_BUNDLES)
    assert bundle["name"] == "dags-folder"  # Airflow's default: runs and versions stay put
    module, _, cls = bundle["classpath"].rpartition(".")
    bundle_class = getattr(__import__(module, fromlist=[cls]), cls)
    assert bundle_class.__name__ == "PreloadedDagsFolder"
    assert any(base.__name__ == "LocalDagBundle" for base in bundle_class.__mro__)


def test_airflow_builds_it_from_the_deployment_config_and_it_preloads_on_initialize(
    tmp_path: Path,
) -> None:
    """In a fresh interpreter, as the dag-processor does: Airflow's bundle manager builds the
    bundle from the deployment's option; `initialize` imports the DAG file's modules, and one
    that cannot be imported is only logged (the parse reports it). ``from email import mime``
    takes a subpackage that ``import email`` alone does not load: taken as the statement
    would take it."""
    (tmp_path / "dag.py").write_text(
        "from email import mime\nimport icluster_resync.transfer\nimport no_such_module\n"
    )
    script = (
        "import sys\n"
        "from airflow.dag_processing.bundles.manager import DagBundlesManager\n"
        "bundle = DagBundlesManager().get_bundle('dags-folder')\n"
        "print(type(bundle).__name__, bundle.path)\n"
        "assert 'asyncssh' not in sys.modules and 'email.mime' not in sys.modules\n"
        "bundle.initialize()\n"
        "print(sorted(m for m in sys.modules"
        " if m in ('icluster_resync.transfer', 'asyncssh', 'no_such_module', 'email.mime')))\n"
    )
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": d.DAG_BUNDLES,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert f"PreloadedDagsFolder {tmp_path}" in lines
    assert lines[-1] == "['asyncssh', 'email.mime', 'icluster_resync.transfer']"
    assert "no_such_module" in done.stdout + done.stderr


def test_the_preload_runs_once_a_process_and_a_later_call_returns_its_result(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Airflow runs the bundle's `initialize` in every task process too; a task process
    inherits its worker's preload, so reading the DAG files again there is work for nothing."""
    (tmp_path / "dag.py").write_text("import json\n")
    with caplog.at_level(logging.INFO, logger="icluster_resync.preload"):
        first = preload_dag_imports(tmp_path, purpose="the task processes")
        (tmp_path / "dag.py").write_text("import json\nimport no_such_module\n")
        again = preload_dag_imports(tmp_path, purpose="the DAG file parses")
    assert first == again == ("json",)
    assert [r.getMessage() for r in caplog.records] == ["preloaded for the task processes: json"]

"""Session-wide settings: Airflow keeps its home, config and logs out of the user's ~/airflow."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_HOME = tempfile.mkdtemp(prefix="icluster-resync-airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# Airflow reads the DAGs folder once, when it is first imported (settings.DAGS_FOLDER), and any
# test module may import it at collection: set it here, before them all. dag.test() serializes
# the DAG into the bundle of this folder; a folder that does not exist leaves the DAG
# unserialized ("Cannot create DagRun ... dag is not serialized").
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A metadata database for `dag.test()`: SQLite under the session's AIRFLOW_HOME."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )
    return Path(os.environ["AIRFLOW_HOME"])

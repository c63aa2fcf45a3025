"""The simulated pair of config/sim-pair.yaml, started once per test session for the
end-to-end tests, with the product's Airflow connections pointing at it.

The pair runs on free ports with its own state directory and databases
(``ibmi_sim_r<pid>_primary``/``_backup``, removed at the end; a killed session's leftovers are
dropped by the next one). Its clock runs faster than the demo's so a full resync takes seconds.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ibmi_sim.testing import SimPair, drop_stale_test_databases, start_pair, stop_pair, unique_tag
from icluster_resync.transport import SharedOdbcDatabase

ROOT = Path(__file__).resolve().parents[2]
DEMO_PLAN = ROOT / "config" / "demo-plan.yaml"


def e2e_pair_config(tag: str, *, time_scale: float = 0.01) -> dict[str, Any]:
    """config/sim-pair.yaml with databases of this session and a faster clock."""
    config = yaml.safe_load((ROOT / "config" / "sim-pair.yaml").read_text())
    config["time_scale"] = time_scale
    for key in ("primary", "backup"):
        config["nodes"][key]["database"] = f"ibmi_sim_{tag}_{key}"
    return config


@contextlib.contextmanager
def running_pair(state: Path, tag: str) -> Iterator[SimPair]:
    """A pair of config/sim-pair.yaml; while it runs, the process environment carries its four
    Airflow connections (and the demo plan), restored afterwards."""
    pair = start_pair(state, e2e_pair_config(tag))
    names = [*pair.airflow_env(), "IBMI_RESYNC_PLAN"]
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(pair.airflow_env())
    os.environ["IBMI_RESYNC_PLAN"] = str(DEMO_PLAN)
    try:
        yield pair
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        stop_pair(pair, drop_databases=True)


@pytest.fixture(autouse=True)
def shared_connections_of_this_test() -> Iterator[None]:
    """The triggers' shared ODBC connections (`SharedOdbcDatabase`) are the process's; a test
    that starts a pair of its own must not leave them open to it for the next test."""
    yield
    SharedOdbcDatabase.close_all()


@pytest.fixture(scope="session")
def demo_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPair]:
    """The running pair shared by the session's end-to-end tests."""
    drop_stale_test_databases()
    with running_pair(tmp_path_factory.mktemp("e2e_sim_state"), unique_tag("r")) as pair:
        yield pair

"""The simulated pair of config/sim-pair.yaml, started once per test session for the
end-to-end tests, with the product's Airflow connections pointing at it.

The pair runs on free ports with its own state directory and databases
(``ibmi_sim_r<pid>_primary``/``_backup``, removed at the end; a killed session's leftovers are
dropped by the next one). Its clock runs faster than the demo's so a full resync takes seconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ibmi_sim.testing import SimPair, drop_stale_test_databases, start_pair, stop_pair

ROOT = Path(__file__).resolve().parents[2]
DEMO_PLAN = ROOT / "config" / "demo-plan.yaml"


def e2e_pair_config(tag: str, *, time_scale: float = 0.01) -> dict[str, Any]:
    """config/sim-pair.yaml with databases of this session and a faster clock."""
    config = yaml.safe_load((ROOT / "config" / "sim-pair.yaml").read_text())
    config["time_scale"] = time_scale
    for key in ("primary", "backup"):
        config["nodes"][key]["database"] = f"ibmi_sim_{tag}_{key}"
    return config


@pytest.fixture(scope="session")
def demo_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPair]:
    """The running pair; the process environment carries its four Airflow connections."""
    drop_stale_test_databases()
    state = tmp_path_factory.mktemp("e2e_sim_state")
    pair = start_pair(state, e2e_pair_config(f"r{os.getpid()}"))
    saved = {name: os.environ.get(name) for name in pair.airflow_env()}
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

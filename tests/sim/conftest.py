"""Fixtures for the simulator's own tests: one throw-away pair per test session.

The pair is started through the real command line (``python -m ibmi_sim up``) on free ports, with
its own state directory and databases named ``ibmi_sim_t<pid>_<node>``, and stopped with
``down --drop-databases`` so nothing is left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ibmi_sim.testing import (
    SimPair,
    drop_stale_test_databases,
    fast_test_config,
    start_pair,
    stop_pair,
    unique_tag,
)


@pytest.fixture(scope="session")
def sim_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPair]:
    """A running PRIMARY/BACKUP pair for the whole session (shared: tests use own objects)."""
    drop_stale_test_databases()
    state: Path = tmp_path_factory.mktemp("ibmi_sim_state")
    pair = start_pair(state, fast_test_config(unique_tag("t")))
    try:
        yield pair
    finally:
        stop_pair(pair, drop_databases=True)

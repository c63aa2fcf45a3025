"""Application jobs hold locks while their subsystem is active; a save of a locked library is
partial (CPF3761 per object, then CPF3771), as the runbook's step 1 exists to prevent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ibmi_sim.savf import read_archive
from ibmi_sim.testing import SimPair, fast_test_config, start_pair, stop_pair, unique_tag, wait_for

pytestmark = pytest.mark.integration


def locks_config(tag: str) -> dict[str, Any]:
    cfg = fast_test_config(tag)
    cfg["libraries"] = [
        {"name": "ORDLIB", "objects": 10, "data_mb": 5},
        {"name": "BILLIB", "objects": 6, "data_mb": 2},
        {"name": "SAVFLIB", "objects": 0, "data_mb": 0},
        {"name": "QGPL", "objects": 0, "data_mb": 0},
    ]
    cfg["subsystems"] = [
        {"name": n} for n in ("QCTL", "QBATCH", "QINTER", "QUSRWRK", "QSYSWRK")
    ] + [
        {
            "name": "APPSBS",
            "library": "QGPL",
            "active_on": ["primary"],
            "jobs": [
                {"name": "ORDENTRY", "user": "APPUSER", "locks": ["ORDLIB"]},
                {"name": "BILLRUN", "locks": ["BILLIB"]},
            ],
        }
    ]
    cfg["replication_groups"] = []
    return cfg


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPair]:
    state: Path = tmp_path_factory.mktemp("ibmi_sim_locks")
    started = start_pair(state, locks_config(unique_tag("r")))
    try:
        yield started
    finally:
        stop_pair(started, drop_databases=True)


def _pfs(pair: SimPair, node: str, lib: str) -> list[str]:
    return [
        r[0]
        for r in pair.query(
            node,
            "SELECT name FROM objects WHERE library = %s AND obj_type = '*FILE'"
            " AND attribute = 'PF' ORDER BY name",
            lib,
        )
    ]


def _locks(pair: SimPair, node: str, lib: str) -> list[tuple[Any, ...]]:
    return pair.query(
        node,
        "SELECT system_object_name, object_type, lock_state, job_name_short"
        " FROM qsys2.object_lock_info WHERE system_object_schema = %s"
        " ORDER BY system_object_name",
        lib,
    )


def _app_jobs(pair: SimPair, node: str) -> list[tuple[Any, ...]]:
    return pair.query(
        node,
        "SELECT job_name, job_type, subsystem FROM"
        " qsys2.active_job_info(subsystem_list_filter => 'APPSBS')"
        " WHERE job_type NOT IN ('SBS', 'SYS') ORDER BY job_name",
    )


def _status(pair: SimPair, node: str) -> str:
    return str(pair.query(node, "SELECT status FROM subsystems WHERE name = 'APPSBS'")[0][0])


def test_application_jobs_run_and_hold_locks_while_active(pair: SimPair) -> None:
    jobs = _app_jobs(pair, "primary")
    assert sorted((re.sub(r"^\d{6}/", "", j[0]), j[1], j[2]) for j in jobs) == [
        ("APPUSER/BILLRUN", "BCH", "APPSBS"),
        ("APPUSER/ORDENTRY", "BCH", "APPSBS"),
    ]
    assert _locks(pair, "primary", "ORDLIB") == [
        (name, "*FILE", "*SHRUPD", "ORDENTRY") for name in _pfs(pair, "primary", "ORDLIB")
    ]
    assert _app_jobs(pair, "backup") == [] and _locks(pair, "backup", "ORDLIB") == []
    active = pair.query(
        "primary",
        "SELECT current_active_jobs FROM qsys2.subsystem_info"
        " WHERE subsystem_description = 'APPSBS'",
    )
    assert active == [(2,)]


def test_save_of_a_locked_library_is_partial(pair: SimPair, tmp_path: Path) -> None:
    pfs = _pfs(pair, "primary", "ORDLIB")
    assert pair.system("primary", "CRTSAVF FILE(SAVFLIB/ORDLIB)").rc == 0
    done = pair.system("primary", "SAVLIB LIB(ORDLIB) DEV(*SAVF) SAVF(SAVFLIB/ORDLIB) SAVACT(*NO)")
    lines = done.stderr.splitlines()
    assert done.rc == 255
    assert lines[:-1] == [f"CPF3761: *FILE {n} in ORDLIB not saved. Object in use." for n in pfs]
    assert lines[-1] == f"CPF3771: {10 - len(pfs)} objects saved from ORDLIB. {len(pfs)} not saved."
    local = tmp_path / "ORDLIB.FILE"
    with pair.sftp("primary") as sftp:
        sftp.get("/QSYS.LIB/SAVFLIB.LIB/ORDLIB.FILE", str(local))
    saved = {o.name for o in read_archive(local).objects}
    assert len(saved) == 10 - len(pfs) and not saved & set(pfs)
    # Save-while-active waits for a checkpoint instead: *SHRUPD does not stop it [G].
    active = pair.system(
        "primary",
        "SAVLIB LIB(ORDLIB) DEV(*SAVF) SAVF(SAVFLIB/ORDLIB) SAVACT(*LIB) CLEAR(*ALL)",
    )
    assert (active.rc, active.stdout) == (0, "CPC3722: 10 objects saved from library ORDLIB.\n")


def test_endsbs_ends_the_jobs_and_releases_the_locks_strsbs_restarts(pair: SimPair) -> None:
    assert pair.system("primary", "ENDSBS SBS(APPSBS) OPTION(*IMMED)").rc == 0
    assert _locks(pair, "primary", "ORDLIB") != []  # still ENDING: the jobs still run
    wait_for(lambda: _status(pair, "primary") == "INACTIVE", timeout=10)
    assert _app_jobs(pair, "primary") == []
    assert _locks(pair, "primary", "ORDLIB") == [] and _locks(pair, "primary", "BILLIB") == []
    ended = pair.query(
        "primary",
        "SELECT status, completion_status FROM jobs WHERE job_name = 'ORDENTRY'",
    )
    assert ended == [("*OUTQ", "*NORMAL")]
    done = pair.system(
        "primary", "SAVLIB LIB(ORDLIB) DEV(*SAVF) SAVF(SAVFLIB/ORDLIB) SAVACT(*NO) CLEAR(*ALL)"
    )
    assert (done.rc, done.stdout) == (0, "CPC3722: 10 objects saved from library ORDLIB.\n")

    assert pair.system("primary", "STRSBS SBSD(QGPL/APPSBS)").rc == 0
    assert len(_app_jobs(pair, "primary")) == 2
    assert len(_locks(pair, "primary", "BILLIB")) == len(_pfs(pair, "primary", "BILLIB"))
    assert pair.system("primary", "STRSBS SBSD(QGPL/APPSBS)").rc == 255  # CPF1010
    assert len(_app_jobs(pair, "primary")) == 2

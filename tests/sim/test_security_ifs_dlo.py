"""SAVSECDTA/RSTUSRPRF/RSTAUT, SAV/RST (IFS) and SAVDLO/RSTDLO between the nodes.

The commands are sent exactly as the product sends them (golden dry run, phases 3 and 6): inside
SBMJOB, through PASE ``system`` with the product's shell quoting, and judged by the batch job log.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ibmi_sim.testing import SimPair, fast_test_config, start_pair, stop_pair, unique_tag, wait_for

pytestmark = pytest.mark.integration

JOB_RE = re.compile(r"\d{6}/[A-Za-z0-9#_$@]{1,10}/[A-Za-z0-9#_$@]{1,10}")
SECDTA, IFS, DLO = "#SECDTA", "#IH6KIS2B5", "#DPQXYW3JL"

CONTRACT = {
    "savsecdta": f"QSYS/SAVSECDTA DEV(*SAVF) SAVF(RSYNCSAVF/{SECDTA})",
    "sav": f"QSYS/SAV DEV('/QSYS.LIB/RSYNCSAVF.LIB/{IFS}.FILE')"
    " OBJ(('/home/orders/exports' *INCLUDE)) SUBTREE(*ALL) SAVACT(*NO)",
    "savdlo": f"QSYS/SAVDLO DLO(*ALL) FLR('INVOICES') DEV(*SAVF) SAVF(RSYNCSAVF/{DLO})",
    "rstusrprf": f"QSYS/RSTUSRPRF DEV(*SAVF) SAVF(RSYNCSAVF/{SECDTA}) USRPRF(APPOWNER APPUSER)",
    "rst": f"QSYS/RST DEV('/QSYS.LIB/RSYNCSAVF.LIB/{IFS}.FILE')"
    " OBJ(('/home/orders/exports' *INCLUDE)) SUBTREE(*ALL) OPTION(*ALL) ALWOBJDIF(*ALL)",
    "rstdlo": f"QSYS/RSTDLO DLO(*ALL) SAVFLR('INVOICES') DEV(*SAVF) SAVF(RSYNCSAVF/{DLO})",
    "rstaut": "QSYS/RSTAUT USRPRF(APPOWNER APPUSER)",
}


def security_config(tag: str) -> dict[str, Any]:
    """The test pair plus what these commands need: profiles, owners, IFS, DLO, RSYNCSAVF."""
    cfg = fast_test_config(tag)
    cfg["libraries"] = [
        {
            "name": "ORDLIB",
            "objects": 10,
            "data_mb": 5,
            "owner": "APPOWNER",
            "authorities": {"APPUSER": "*CHANGE"},
        },
        {"name": "RSYNCSAVF", "objects": 0, "data_mb": 0},
        {"name": "QGPL", "objects": 0, "data_mb": 0},
    ]
    cfg["user_profiles"] = [
        {"name": "QSECOFR", "user_class": "*SECOFR", "special_authorities": ["*ALLOBJ"]},
        {"name": "SIMUSER", "user_class": "*SECOFR", "special_authorities": ["*ALLOBJ"]},
        {"name": "APPOWNER", "text": "Owner"},
        {"name": "APPUSER", "library_authorities": {"ORDLIB": "*CHANGE"}},
    ]
    cfg["ifs"] = [{"path": "/home/orders/exports", "files": 5, "data_mb": 2, "owner": "APPOWNER"}]
    cfg["dlo_folders"] = [{"name": "INVOICES", "documents": 4, "data_mb": 1, "owner": "APPOWNER"}]
    cfg["replication_groups"] = []
    return cfg


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPair]:
    state: Path = tmp_path_factory.mktemp("ibmi_sim_security")
    started = start_pair(state, security_config(unique_tag("r")))
    try:
        yield started
    finally:
        stop_pair(started, drop_databases=True)


def run_cl(pair: SimPair, node: str, cl: str) -> Any:
    """``system '<cl>'`` quoted as the product quotes it (shlex, ibmi.md §2.4)."""
    return pair.run(node, f"system {shlex.quote(cl)}")


def sbmjob(pair: SimPair, node: str, cl: str, name: str) -> list[tuple[str | None, str, str]]:
    """SBMJOB the command, wait for the job to end, return its log (id, type, text)."""
    done = run_cl(pair, node, f"QSYS/SBMJOB CMD({cl}) JOB({name}) LOG(4 00 *SECLVL)")
    assert done.rc == 0, done.stderr
    match = JOB_RE.search(done.stdout)
    assert match, done.stdout
    job = match.group(0)
    wait_for(
        lambda: (
            pair.query(node, "SELECT status FROM jobs WHERE qualified_name = %s", job)[0][0]
            == "*OUTQ"
        ),
        timeout=30,
    )
    return [
        (r[0], r[1], r[2])
        for r in pair.query(
            node,
            "SELECT l.message_id, l.message_type, l.message_text FROM job_log l"
            " JOIN jobs j USING (job_number) WHERE j.qualified_name = %s"
            " ORDER BY l.ordinal_position",
            job,
        )
    ]


def ids(log: list[tuple[str | None, str, str]]) -> list[str]:
    return [m[0] for m in log if m[0]]


def _ifs(pair: SimPair, node: str) -> list[tuple[Any, ...]]:
    return pair.query(
        node,
        "SELECT path, obj_type, size_bytes, content_hash, owner FROM ifs_objects"
        " WHERE path LIKE '/home/orders/exports%%' ORDER BY path",
    )


def _dlo(pair: SimPair, node: str) -> list[tuple[Any, ...]]:
    return pair.query(
        node,
        "SELECT folder, name, obj_type, size_bytes, content_hash, owner FROM dlo_objects"
        " ORDER BY folder, name",
    )


def _auth(pair: SimPair, node: str) -> list[tuple[Any, ...]]:
    return pair.query(
        node,
        "SELECT library, object_name, obj_type, user_profile, authority FROM authorities"
        " WHERE library = 'ORDLIB' ORDER BY 1, 2, 3, 4",
    )


def _transfer(pair: SimPair, savf: str, tmp_path: Path) -> None:
    path = f"/QSYS.LIB/RSYNCSAVF.LIB/{savf}.FILE"
    run_cl(pair, "backup", f"QSYS/CRTSAVF FILE(RSYNCSAVF/{savf})")
    run_cl(pair, "backup", f"QSYS/CLRSAVF FILE(RSYNCSAVF/{savf})")
    local = tmp_path / f"{savf}.FILE"
    with pair.sftp("primary") as sftp:
        sftp.get(path, str(local))
    with pair.sftp("backup") as sftp:
        sftp.put(str(local), path)


def test_seeded_ifs_dlo_owners_and_authorities(pair: SimPair) -> None:
    ifs = _ifs(pair, "primary")
    assert [r[1] for r in ifs].count("*STMF") == 5 and ifs[0][0] == "/home/orders/exports"
    assert pair.query("primary", "SELECT count(*) FROM ifs_objects WHERE path = '/home'")[0][0]
    assert len(_dlo(pair, "primary")) == 5
    assert {
        o[0] for o in pair.query("primary", "SELECT owner FROM objects WHERE library = 'ORDLIB'")
    } == {"APPOWNER"}
    assert len(_auth(pair, "primary")) == 10
    assert _ifs(pair, "primary") == _ifs(pair, "backup")


def test_contract_commands_save_transfer_restore(pair: SimPair, tmp_path: Path) -> None:
    for savf in (SECDTA, IFS, DLO, "ORDLIB"):
        assert run_cl(pair, "primary", f"QSYS/CRTSAVF FILE(RSYNCSAVF/{savf})").rc == 0
    log = sbmjob(pair, "primary", CONTRACT["savsecdta"], "SSTEST")
    assert ("CPC3722", "COMPLETION", "4 objects saved from library QSYS.") in log
    assert ids(log)[-1] == "CPF1241"
    log = sbmjob(pair, "primary", CONTRACT["sav"], "SITEST")
    assert ("CPC370C", "COMPLETION", "6 objects saved.") in log
    log = sbmjob(pair, "primary", CONTRACT["savdlo"], "SDTEST")
    assert ("CPC9063", "COMPLETION", "5 document library objects saved.") in log
    log = sbmjob(
        pair,
        "primary",
        "QSYS/SAVLIB LIB(ORDLIB) DEV(*SAVF) SAVF(RSYNCSAVF/ORDLIB) SAVACT(*NO)",
        "SVTEST",
    )
    assert ("CPC3722", "COMPLETION", "10 objects saved from library ORDLIB.") in log
    for savf in (SECDTA, IFS, DLO, "ORDLIB"):
        _transfer(pair, savf, tmp_path)

    # BACKUP drifted: files gone or changed, documents gone, the library cleared.
    pair.query("backup", "DELETE FROM ifs_objects WHERE path LIKE '%%EXP00001.CSV'")
    pair.query("backup", "UPDATE ifs_objects SET size_bytes = 1 WHERE path LIKE '%%EXP00002.CSV'")
    pair.query("backup", "DELETE FROM dlo_objects WHERE obj_type = '*DOC'")
    assert run_cl(pair, "backup", "QSYS/CLRLIB LIB(ORDLIB)").rc == 0
    assert _auth(pair, "backup") == []

    log = sbmjob(pair, "backup", CONTRACT["rstusrprf"], "RPTEST")
    assert ("CPC3705", "COMPLETION", "2 user profiles restored.") in log
    qhst = pair.query("backup", "SELECT message_id FROM ibm_catalog_data.history_log")
    assert ("CPC3705",) in qhst
    log = sbmjob(
        pair,
        "backup",
        "QSYS/RSTLIB SAVLIB(ORDLIB) DEV(*SAVF) SAVF(RSYNCSAVF/ORDLIB) ALWOBJDIF(*ALL)",
        "RLTEST",
    )
    assert "CPC3703" in ids(log)
    log = sbmjob(pair, "backup", CONTRACT["rst"], "RITEST")
    assert ("CPC370F", "COMPLETION", "6 objects restored.") in log
    log = sbmjob(pair, "backup", CONTRACT["rstdlo"], "RDTEST")
    assert ("CPC9053", "COMPLETION", "5 document library objects restored.") in log
    log = sbmjob(pair, "backup", CONTRACT["rstaut"], "RATEST")
    assert ("CPC3706", "COMPLETION", "0 authorities restored for user profile APPOWNER.") in log
    assert ("CPC3706", "COMPLETION", "11 authorities restored for user profile APPUSER.") in log
    assert ids(log)[-1] == "CPF1241"

    assert _ifs(pair, "backup") == _ifs(pair, "primary")
    assert _dlo(pair, "backup") == _dlo(pair, "primary")
    assert _auth(pair, "backup") == _auth(pair, "primary")
    assert pair.objects("backup", "ORDLIB") == pair.objects("primary", "ORDLIB")


def test_rstaut_before_the_objects_exist_is_partial(pair: SimPair) -> None:
    """RSTAUT only means something after profiles and objects exist (ibmi.md §5.2)."""
    assert run_cl(pair, "primary", f"QSYS/CLRSAVF FILE(RSYNCSAVF/{SECDTA})").rc == 0
    assert run_cl(pair, "primary", CONTRACT["savsecdta"]).rc == 0
    assert run_cl(pair, "backup", "QSYS/CLRLIB LIB(ORDLIB)").rc == 0
    assert run_cl(pair, "backup", CONTRACT["rstusrprf"]).rc == 0
    early = run_cl(pair, "backup", CONTRACT["rstaut"])
    assert early.rc == 255
    lines = early.stderr.splitlines()
    assert lines.count("CPF3736: Authority not restored for user APPUSER.") == 10
    assert "CPF3845: Some authorities not restored for user profile APPUSER." in lines
    assert lines[-1] == "CPF3846: Not all user profiles had all authorities restored."
    assert _auth(pair, "backup") == []
    restored = run_cl(
        pair,
        "backup",
        "QSYS/RSTLIB SAVLIB(ORDLIB) DEV(*SAVF) SAVF(RSYNCSAVF/ORDLIB) ALWOBJDIF(*ALL)",
    )
    assert restored.rc == 0, restored.stderr
    # The failed grants stayed in the authority reference table: RSTAUT can run again.
    again = run_cl(pair, "backup", CONTRACT["rstaut"])
    assert again.rc == 0, again.stderr
    assert "CPC3706: 10 authorities restored for user profile APPUSER." in again.stdout
    assert _auth(pair, "backup") == _auth(pair, "primary")


def test_wrong_kind_of_save_file_and_profile_errors(pair: SimPair) -> None:
    wrong = run_cl(
        pair, "backup", f"QSYS/RSTLIB SAVLIB(ORDLIB) DEV(*SAVF) SAVF(RSYNCSAVF/{SECDTA})"
    )
    assert (wrong.rc, wrong.stderr) == (
        255,
        "CPF3780: Specified file for library ORDLIB not found.\n",
    )
    wrong = run_cl(
        pair,
        "backup",
        "QSYS/RST DEV('/QSYS.LIB/RSYNCSAVF.LIB/ORDLIB.FILE') OBJ(('/home/orders/exports'))",
    )
    assert wrong.stderr == "CPF3806: Objects from save file ORDLIB in RSYNCSAVF not restored.\n"
    wrong = run_cl(
        pair, "backup", f"QSYS/RSTUSRPRF DEV(*SAVF) SAVF(RSYNCSAVF/{DLO}) USRPRF(APPUSER)"
    )
    assert wrong.stderr == f"CPF3806: Objects from save file {DLO} in RSYNCSAVF not restored.\n"
    wrong = run_cl(
        pair,
        "backup",
        f"QSYS/RSTDLO DLO(*ALL) SAVFLR('INVOICES') DEV(*SAVF) SAVF(RSYNCSAVF/{SECDTA})",
    )
    assert wrong.rc == 255 and "CPF3806" in wrong.stderr
    every = run_cl(pair, "backup", f"QSYS/RSTUSRPRF DEV(*SAVF) SAVF(RSYNCSAVF/{SECDTA})")
    assert every.stderr == "CPF3785: Not all subsystems ended.\n"
    some = run_cl(
        pair, "backup", f"QSYS/RSTUSRPRF DEV(*SAVF) SAVF(RSYNCSAVF/{SECDTA}) USRPRF(APPUSER NOSUCH)"
    )
    assert (some.rc, some.stderr) == (
        255,
        "CPF3776: User profile NOSUCH not found on the save media.\n"
        "CPF3775: 1 user profiles restored. 1 not restored.\n",
    )
    missing = run_cl(
        pair,
        "primary",
        f"QSYS/SAV DEV('/QSYS.LIB/RSYNCSAVF.LIB/{IFS}.FILE') OBJ(('/nowhere' *INCLUDE))"
        " CLEAR(*ALL)",
    )
    assert missing.stderr == "CPFA0A9: Object not found.  Object is /nowhere.\n"
    full = run_cl(pair, "primary", CONTRACT["sav"])
    assert full.rc == 255 and "CPA4067" in full.stderr  # the save file holds data
    folder = run_cl(
        pair,
        "primary",
        f"QSYS/SAVDLO DLO(*ALL) FLR('NOFLR') DEV(*SAVF) SAVF(RSYNCSAVF/{DLO}) CLEAR(*ALL)",
    )
    assert folder.stderr == "CPF8A16: Folder NOFLR not found.\n"


def test_damaged_ifs_save_file_fails_on_restore(pair: SimPair, tmp_path: Path) -> None:
    path = f"/QSYS.LIB/RSYNCSAVF.LIB/{IFS}.FILE"
    with pair.sftp("backup") as sftp:
        with sftp.open(path) as remote:
            data = bytearray(remote.read())
        data[100] ^= 0xFF
        with sftp.open(path, "w") as remote:
            remote.write(bytes(data))
    broken = run_cl(pair, "backup", CONTRACT["rst"])
    assert (broken.rc, broken.stderr) == (
        255,
        "CPF3743: File cannot be restored, displayed, or listed.\n"
        "CPF3794: Save or restore operation ended unsuccessfully.\n",
    )

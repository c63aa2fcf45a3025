"""Library and save-file commands: the remaining completion and escape messages."""

from __future__ import annotations

import pytest

from ibmi_sim.testing import SimPair

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("cl", "stderr"),
    [
        ("CLRLIB LIB(NOSUCHLIB)", "CPF2110: Library NOSUCHLIB not found.\n"),
        ("DLTLIB LIB(NOSUCHLIB)", "CPF2110: Library NOSUCHLIB not found.\n"),
        ("CRTLIB LIB(APPLIB1)", "CPF2111: Library APPLIB1 already exists.\n"),
        ("CRTSAVF FILE(NOSUCHLIB/X)", "CPF9810: Library NOSUCHLIB not found.\n"),
        ("CLRSAVF FILE(SAVFLIB/NOSUCH)", "CPF9812: File NOSUCH in library SAVFLIB not found.\n"),
        ("CLRSAVF FILE(APPLIB1/F00001)", "CPF3782: File F00001 in APPLIB1 not a save file.\n"),
        ("DLTF FILE(SAVFLIB/NOSUCH)", "CPF2105: Object NOSUCH in SAVFLIB type *FILE not found.\n"),
        ("CHKOBJ OBJ(QSYS/NOSUCHLIB) OBJTYPE(*LIB)", "CPF9810: Library NOSUCHLIB not found.\n"),
        ("SAVLIB LIB(APPLIB1) DEV(TAP01)", "CPF9814: Device TAP01 not found.\n"),
        (
            "SAVLIB LIB(APPLIB1 APPLIB2) DEV(*SAVF) SAVF(SAVFLIB/X)",
            "CPF3737: Only one library allowed with DEV(*SAVF).\n",
        ),
        ("SAVLIB LIB(NOSUCHLIB) DEV(*SAVF) SAVF(SAVFLIB/NOPE)", None),
        (
            "NOSUCHCMD",
            "CPD0030: Command NOSUCHCMD in library *LIBL not found.\n"
            "CPF0001: Error found on NOSUCHCMD command.\n",
        ),
    ],
)
def test_escapes(sim_pair: SimPair, cl: str, stderr: str | None) -> None:
    done = sim_pair.system("primary", cl)
    assert (done.rc, done.stdout) == (255, "")
    if stderr is not None:
        assert done.stderr == stderr


def test_library_life_cycle(sim_pair: SimPair) -> None:
    created = sim_pair.system("backup", "CRTLIB LIB(LIFE) TEXT('Life cycle')")
    assert created.stdout == "CPC2102: Library LIFE created.\n"
    assert sim_pair.system("backup", "CHKOBJ OBJ(QSYS/LIFE) OBJTYPE(*LIB)").rc == 0
    assert sim_pair.system("backup", "CRTSAVF FILE(LIFE/S1)").rc == 0
    assert sim_pair.system("backup", "CHKOBJ OBJ(LIFE/S1) OBJTYPE(*FILE)").rc == 0
    deleted = sim_pair.system("backup", "DLTLIB LIB(LIFE)")
    assert deleted.stdout == "CPC2194: Library LIFE deleted.\n"
    assert sim_pair.query("backup", "SELECT count(*) FROM objects WHERE library = 'LIFE'") == [(0,)]
    assert not (sim_pair.state_dir / "nodes/backup/root/QSYS.LIB/LIFE.LIB").exists()


def test_rstlib_into_another_library_and_option_new(sim_pair: SimPair) -> None:
    assert sim_pair.system("primary", "CRTSAVF FILE(SAVFLIB/COPY3)").rc == 0
    assert sim_pair.system("primary", "SAVLIB LIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/COPY3)").rc == 0
    copied = sim_pair.system(
        "primary", "RSTLIB SAVLIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/COPY3) RSTLIB(COPYLIB3)"
    )
    assert copied.stdout == "CPC3703: 8 objects restored from APPLIB3 to COPYLIB3.\n"
    assert sim_pair.objects("primary", "COPYLIB3") == sim_pair.objects("primary", "APPLIB3")
    again = sim_pair.system(
        "primary",
        "RSTLIB SAVLIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/COPY3) RSTLIB(COPYLIB3) OPTION(*NEW)",
    )
    assert again.stdout == "CPC3703: 0 objects restored from APPLIB3 to COPYLIB3.\n"


def test_command_log_records_node_role_and_status(sim_pair: SimPair) -> None:
    sim_pair.system("backup", "CHKOBJ OBJ(QSYS/APPLIB2) OBJTYPE(*LIB)")
    rows = sim_pair.query(
        "backup",
        "SELECT node, role, user_name, exit_status, escape_id FROM command_log"
        " WHERE command = 'CHKOBJ OBJ(QSYS/APPLIB2) OBJTYPE(*LIB)'",
    )
    assert rows[-1] == ("backup", "BACKUP", "SIMUSER", 0, None)
    roles = [
        sim_pair.query(n, "SELECT value FROM node_info WHERE key = 'role'")
        for n in ("primary", "backup")
    ]
    assert roles == [[("PRIMARY",)], [("BACKUP",)]]


def test_savlib_omitobj_leaves_objects_out(sim_pair: SimPair) -> None:
    assert sim_pair.system("primary", "CRTSAVF FILE(SAVFLIB/OMIT3)").rc == 0
    dtaaras = [o for o in sim_pair.objects("primary", "APPLIB3") if o[1] == "*DTAARA"]
    done = sim_pair.system(
        "primary",
        "SAVLIB LIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/OMIT3) OMITOBJ((APPLIB3/D* *DTAARA))",
    )
    assert done.stdout == f"CPC3722: {8 - len(dtaaras)} objects saved from library APPLIB3.\n"
    assert dtaaras


def test_savobj_and_rstobj_select_objects(sim_pair: SimPair) -> None:
    assert sim_pair.system("primary", "CRTSAVF FILE(SAVFLIB/SOBJ)").rc == 0
    programs = [o for o in sim_pair.objects("primary", "APPLIB2") if o[1] == "*PGM"]
    saved = sim_pair.system(
        "primary", "SAVOBJ OBJ(P*) LIB(APPLIB2) DEV(*SAVF) OBJTYPE(*PGM) SAVF(SAVFLIB/SOBJ)"
    )
    assert saved.stdout == f"CPC3722: {len(programs)} objects saved from library APPLIB2.\n"
    assert sim_pair.system("primary", "CRTLIB LIB(PGMCOPY)").rc == 0
    one = programs[0][0]
    restored = sim_pair.system(
        "primary",
        f"RSTOBJ OBJ({one}) SAVLIB(APPLIB2) DEV(*SAVF) SAVF(SAVFLIB/SOBJ) RSTLIB(PGMCOPY)",
    )
    assert restored.stdout == "CPC3703: 1 objects restored from APPLIB2 to PGMCOPY.\n"
    assert sim_pair.objects("primary", "PGMCOPY") == [programs[0]]
    none = sim_pair.system(
        "primary",
        "RSTOBJ OBJ(NOSUCH) SAVLIB(APPLIB2) DEV(*SAVF) SAVF(SAVFLIB/SOBJ) RSTLIB(PGMCOPY)",
    )
    assert none.stderr == "CPF3770: No objects saved or restored for library APPLIB2.\n"
    by_rstlib = sim_pair.system("primary", "RSTLIB SAVLIB(APPLIB2) DEV(*SAVF) SAVF(SAVFLIB/SOBJ)")
    assert by_rstlib.stderr == "CPF3780: Specified file for library APPLIB2 not found.\n"
    nothing = sim_pair.system(
        "primary", "SAVOBJ OBJ(NOSUCH) LIB(APPLIB2) DEV(*SAVF) SAVF(SAVFLIB/SOBJ) CLEAR(*ALL)"
    )
    assert nothing.stderr == "CPF3770: No objects saved or restored for library APPLIB2.\n"
    missing = sim_pair.system(
        "primary", "RSTOBJ OBJ(*ALL) SAVLIB(APPLIB2) DEV(*SAVF) SAVF(SAVFLIB/SOBJ) RSTLIB(NOLIB)"
    )
    assert missing.stderr == "CPF3781: Library NOLIB not found.\n"

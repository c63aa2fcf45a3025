"""SAVLIB -> SFTP get -> SFTP put -> RSTLIB between the nodes, and what breaks it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ibmi_sim.seed import content_hash
from ibmi_sim.testing import SimPair

pytestmark = pytest.mark.integration


def _savf_path(lib: str, name: str) -> str:
    return f"/QSYS.LIB/{lib}.LIB/{name}.FILE"


def _save(pair: SimPair, library: str, savf: str) -> bytes:
    """CRTSAVF + SAVLIB on PRIMARY, then the save file's bytes over SFTP."""
    assert pair.system("primary", f"CRTSAVF FILE(SAVFLIB/{savf})").rc == 0
    done = pair.system("primary", f"SAVLIB LIB({library}) DEV(*SAVF) SAVF(SAVFLIB/{savf})")
    assert done.rc == 0, done.stderr
    with pair.sftp("primary") as sftp, sftp.open(_savf_path("SAVFLIB", savf)) as remote:
        return remote.read()


def _put(pair: SimPair, savf: str, data: bytes, tmp_path: Path) -> None:
    """CRTSAVF on BACKUP, then SFTP put (method A, ibmi.md §6)."""
    assert pair.system("backup", f"CRTSAVF FILE(SAVFLIB/{savf})").rc == 0
    local = tmp_path / f"{savf}.FILE"
    local.write_bytes(data)
    with pair.sftp("backup") as sftp:
        sftp.put(str(local), _savf_path("SAVFLIB", savf))


def test_save_transfer_clear_restore_leaves_the_library_in_sync(
    sim_pair: SimPair, tmp_path: Path
) -> None:
    # The application changed an object on PRIMARY since the last sync.
    sim_pair.query(
        "primary",
        "UPDATE objects SET version = 2, content_hash = %s"
        " WHERE library = 'APPLIB1' AND name = 'F00001'",
        content_hash("APPLIB1", "F00001", "*FILE", 2),
    )
    assert sim_pair.objects("primary", "APPLIB1") != sim_pair.objects("backup", "APPLIB1")

    data = _save(sim_pair, "APPLIB1", "APPLIB1")
    _put(sim_pair, "APPLIB1", data, tmp_path)
    sums = {
        n: sim_pair.run(n, "sha256sum /QSYS.LIB/SAVFLIB.LIB/APPLIB1.FILE")
        for n in ("primary", "backup")
    }
    assert sums["primary"].stdout == sums["backup"].stdout
    assert sums["primary"].stdout.split()[0] == hashlib.sha256(data).hexdigest()
    savf_rows = {
        n: [o for o in sim_pair.objects(n, "SAVFLIB") if o[0] == "APPLIB1"]
        for n in ("primary", "backup")
    }
    assert savf_rows["backup"][0][3] == len(data)  # the SFTP write updated the *FILE object
    assert (
        savf_rows["backup"][0][5] == savf_rows["primary"][0][5] == hashlib.sha256(data).hexdigest()
    )

    cleared = sim_pair.system("backup", "CLRLIB LIB(APPLIB1)")
    assert (cleared.rc, cleared.stdout) == (0, "CPC2195: Library APPLIB1 cleared.\n")
    assert sim_pair.objects("backup", "APPLIB1") == []

    restored = sim_pair.system(
        "backup",
        "RSTLIB SAVLIB(APPLIB1) DEV(*SAVF) SAVF(SAVFLIB/APPLIB1) MBROPT(*ALL) ALWOBJDIF(*ALL)",
    )
    assert (restored.rc, restored.stdout, restored.stderr) == (
        0,
        "CPC3703: 30 objects restored from APPLIB1 to APPLIB1.\n",
        "",
    )
    assert sim_pair.objects("backup", "APPLIB1") == sim_pair.objects("primary", "APPLIB1")


def test_restore_without_clear_keeps_objects_the_primary_no_longer_has(
    sim_pair: SimPair, tmp_path: Path
) -> None:
    sim_pair.query(
        "backup",
        "INSERT INTO objects (library, name, obj_type, attribute, size_bytes, content_hash)"
        " VALUES ('APPLIB3', 'STALE', '*DTAARA', '', 4096, %s)",
        content_hash("APPLIB3", "STALE", "*DTAARA", 1),
    )
    _put(sim_pair, "APPLIB3", _save(sim_pair, "APPLIB3", "APPLIB3"), tmp_path)
    done = sim_pair.system("backup", "RSTLIB SAVLIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/APPLIB3)")
    assert done.stdout == "CPC3703: 8 objects restored from APPLIB3 to APPLIB3.\n"
    backup = sim_pair.objects("backup", "APPLIB3")
    primary = sim_pair.objects("primary", "APPLIB3")
    assert [o for o in backup if o not in primary] == [
        ("STALE", "*DTAARA", "", 4096, 1, content_hash("APPLIB3", "STALE", "*DTAARA", 1))
    ]


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_transfer_fails_on_restore(sim_pair: SimPair, tmp_path: Path, damage: str) -> None:
    savf = f"DMG{damage[:4].upper()}"
    data = bytearray(_save(sim_pair, "APPLIB2", savf))
    if damage == "flip":
        data[len(data) // 3] ^= 0x40
    else:
        data = data[: len(data) - 528]
    _put(sim_pair, savf, bytes(data), tmp_path)
    before = sim_pair.objects("backup", "APPLIB2")
    done = sim_pair.system("backup", f"RSTLIB SAVLIB(APPLIB2) DEV(*SAVF) SAVF(SAVFLIB/{savf})")
    assert (done.rc, done.stdout, done.stderr) == (
        255,
        "",
        "CPF3743: File cannot be restored, displayed, or listed.\n"
        "CPF3794: Save or restore operation ended unsuccessfully.\n",
    )
    assert sim_pair.objects("backup", "APPLIB2") == before


def test_restore_from_empty_or_wrong_save_file(sim_pair: SimPair) -> None:
    assert sim_pair.system("backup", "CRTSAVF FILE(SAVFLIB/EMPTY)").rc == 0
    empty = sim_pair.system("backup", "RSTLIB SAVLIB(APPLIB2) DEV(*SAVF) SAVF(SAVFLIB/EMPTY)")
    assert (empty.rc, empty.stderr) == (
        255,
        "CPF3780: Specified file for library APPLIB2 not found.\n",
    )
    missing = sim_pair.system("backup", "RSTLIB SAVLIB(APPLIB2) DEV(*SAVF) SAVF(SAVFLIB/NOPE)")
    assert missing.stderr == "CPF9812: File NOPE in library SAVFLIB not found.\n"
    _save(sim_pair, "APPLIB2", "WRONGLIB")
    wrong = sim_pair.system("primary", "RSTLIB SAVLIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/WRONGLIB)")
    assert wrong.stderr == "CPF3780: Specified file for library APPLIB3 not found.\n"


def test_savlib_into_a_save_file_with_data_needs_clear(sim_pair: SimPair) -> None:
    _save(sim_pair, "APPLIB3", "FULL")
    again = sim_pair.system("primary", "SAVLIB LIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/FULL)")
    assert again.rc == 255
    assert (
        again.stderr.splitlines()[-1] == "CPF3794: Save or restore operation ended unsuccessfully."
    )
    assert sim_pair.system("primary", "CLRSAVF FILE(SAVFLIB/FULL)").rc == 0
    assert sim_pair.system("primary", "SAVLIB LIB(APPLIB3) DEV(*SAVF) SAVF(SAVFLIB/FULL)").rc == 0
    deleted = sim_pair.system("primary", "DLTF FILE(SAVFLIB/FULL)")
    assert deleted.stdout == "CPC2191: Object FULL in SAVFLIB type *FILE deleted.\n"
    gone = sim_pair.run("primary", "sha256sum /QSYS.LIB/SAVFLIB.LIB/FULL.FILE")
    assert gone.rc == 1


class TestSftp:
    def test_put_needs_crtsavf_first(self, sim_pair: SimPair, tmp_path: Path) -> None:
        local = tmp_path / "x.bin"
        local.write_bytes(b"x" * 528)
        with sim_pair.sftp("backup") as sftp, pytest.raises(OSError):
            sftp.put(str(local), "/QSYS.LIB/SAVFLIB.LIB/NOTMADE.FILE")

    def test_qsys_names_are_case_insensitive(self, sim_pair: SimPair) -> None:
        data = _save(sim_pair, "APPLIB3", "CASES")
        with sim_pair.sftp("primary") as sftp, sftp.open("/qsys.lib/savflib.lib/cases.file") as f:
            assert f.read() == data

    def test_no_creating_or_removing_in_qsys_lib(self, sim_pair: SimPair) -> None:
        with sim_pair.sftp("primary") as sftp:
            with pytest.raises(OSError):
                sftp.mkdir("/QSYS.LIB/NEW.LIB")
            with pytest.raises(OSError):
                sftp.remove("/QSYS.LIB/SAVFLIB.LIB/CASES.FILE")

    def test_scratch_directory_and_no_escape(self, sim_pair: SimPair) -> None:
        with sim_pair.sftp("primary") as sftp:
            with sftp.open("/tmp/scratch.txt", "w") as f:
                f.write(b"hello")
            assert sftp.stat("/tmp/scratch.txt").st_size == 5
            assert sorted(sftp.listdir("/../../..")) == sorted(sftp.listdir("/"))
            assert "QSYS.LIB" in sftp.listdir("/")
            with sftp.open("/../../../tmp/escaped.txt", "w") as f:
                f.write(b"inside")
            assert sftp.stat("/tmp/escaped.txt").st_size == 6
            with sftp.open("relative.txt", "w") as f:
                f.write(b"home")
            assert sftp.normalize(".") == "/home/simuser"
            assert sftp.stat("/home/simuser/relative.txt").st_size == 4


def test_owner_without_profile_on_target_becomes_qdftown(sim_pair: SimPair, tmp_path: Path) -> None:
    """ibmi.md §5.2: restoring before the owner's profile exists gives the object to QDFTOWN."""
    assert sim_pair.system("primary", "CRTLIB LIB(OWNLIB)").rc == 0
    sim_pair.query(
        "primary",
        "INSERT INTO objects (library, name, obj_type, attribute, size_bytes, content_hash, owner)"
        " VALUES ('OWNLIB', 'ORPHAN', '*DTAARA', '', 4096, %s, 'GHOST'),"
        " ('OWNLIB', 'OWNED', '*DTAARA', '', 4096, %s, 'APPUSER')",
        content_hash("OWNLIB", "ORPHAN", "*DTAARA", 1),
        content_hash("OWNLIB", "OWNED", "*DTAARA", 1),
    )
    _put(sim_pair, "OWNLIB", _save(sim_pair, "OWNLIB", "OWNLIB"), tmp_path)
    done = sim_pair.system("backup", "RSTLIB SAVLIB(OWNLIB) DEV(*SAVF) SAVF(SAVFLIB/OWNLIB)")
    assert done.stdout == "CPC3703: 2 objects restored from OWNLIB to OWNLIB.\n"
    owners = sim_pair.query(
        "backup", "SELECT name, owner FROM objects WHERE library = 'OWNLIB' ORDER BY name"
    )
    assert owners == [("ORPHAN", "QDFTOWN"), ("OWNED", "APPUSER")]


def test_object_recreated_on_target_is_not_restored_without_alwobjdif(
    sim_pair: SimPair, tmp_path: Path
) -> None:
    """A partial restore: CPF3756 per object, then CPF3773 with counts (ibmi.md §5.4)."""
    insert = (
        "INSERT INTO objects (library, name, obj_type, attribute, size_bytes, content_hash,"
        " created_at) VALUES ('DIFLIB', %s, '*FILE', 'PF', 4096, %s, %s)"
    )
    for node in ("primary", "backup"):
        assert sim_pair.system(node, "CRTLIB LIB(DIFLIB)").rc == 0
        sim_pair.query(node, insert, "SAME", "a" * 64, "2026-01-01T00:00:00+00:00")
    sim_pair.query("primary", insert, "RECREATED", "b" * 64, "2026-01-01T00:00:00+00:00")
    sim_pair.query("backup", insert, "RECREATED", "c" * 64, "2026-02-01T00:00:00+00:00")
    _put(sim_pair, "DIFLIB", _save(sim_pair, "DIFLIB", "DIFLIB"), tmp_path)

    partial = sim_pair.system("backup", "RSTLIB SAVLIB(DIFLIB) DEV(*SAVF) SAVF(SAVFLIB/DIFLIB)")
    assert (partial.rc, partial.stdout, partial.stderr) == (
        255,
        "",
        "CPF3756: *FILE RECREATED not restored to DIFLIB.\n"
        "CPF3773: 1 objects restored. 1 not restored to DIFLIB.\n",
    )
    assert sim_pair.objects("backup", "DIFLIB") != sim_pair.objects("primary", "DIFLIB")

    forced = sim_pair.system(
        "backup", "RSTLIB SAVLIB(DIFLIB) DEV(*SAVF) SAVF(SAVFLIB/DIFLIB) ALWOBJDIF(*ALL)"
    )
    assert forced.stdout == "CPC3703: 2 objects restored from DIFLIB to DIFLIB.\n"
    assert sim_pair.objects("backup", "DIFLIB") == sim_pair.objects("primary", "DIFLIB")

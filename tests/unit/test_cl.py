"""Tests for ibmi_resync.cl: exact rendering of every builder, refusals, and a golden file.

Rendered commands are asserted as whole strings (style.md §2). Parameter choices come from
ibmi.md §5.1 (SAVLIB/RSTLIB/SAV/RST/SAVDLO/RSTDLO/RSTUSRPRF/RSTAUT/CLRLIB) and §7.1
(ENDSBS/STRSBS/SBMJOB). The golden file tests/golden/cl_commands.txt holds one representative
call of every builder with its SSH exec line; regenerate it with UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibmi_resync import cl
from ibmi_resync.cl import (
    ClCommand,
    build_chkobj_command,
    build_clrlib_command,
    build_clrsavf_command,
    build_crtlib_command,
    build_crtsavf_command,
    build_dltf_command,
    build_endsbs_command,
    build_rst_command,
    build_rstaut_command,
    build_rstdlo_command,
    build_rstlib_command,
    build_rstusrprf_command,
    build_sav_command,
    build_savdlo_command,
    build_savlib_command,
    build_savsecdta_command,
    build_sbmjob_command,
    build_strsbs_command,
)
from ibmi_resync.names import IbmiInputError, QualifiedName
from ibmi_resync.quoting import check_cl_shape, shell_line

GOLDEN_FILE = Path(__file__).resolve().parents[1] / "golden" / "cl_commands.txt"
BUILDER_NAMES = sorted(name for name in cl.__all__ if name.startswith("build_"))

SAVF = QualifiedName("RESYNC", "APPLIB")
SECDTA = QualifiedName("RESYNC", "SECDTA")
IFS_SAVF = QualifiedName("RESYNC", "IFS1")
DLO_SAVF = QualifiedName("RESYNC", "DLO1")

SAVLIB_APPLIB = (
    "QSYS/SAVLIB LIB(APPLIB) DEV(*SAVF) SAVF(RESYNC/APPLIB) TGTRLS(*CURRENT) UPDHST(*YES) "
    "SAVACT(*NO) DTACPR(*NO)"
)


# ---- ClCommand ---------------------------------------------------------------------------


def test_cl_command_renders_library_qualified_head_and_parameters_in_order() -> None:
    command = ClCommand("DSPLIB", (("LIB", "APPLIB"), ("OUTPUT", "*PRINT")))
    assert command.render() == "QSYS/DSPLIB LIB(APPLIB) OUTPUT(*PRINT)"
    assert str(command) == command.render()
    assert command.changes_node is True
    assert command.library == "QSYS"


def test_cl_command_without_parameters_or_library() -> None:
    assert ClCommand("DSPLIBL").render() == "QSYS/DSPLIBL"
    assert ClCommand("DSPLIBL", library=None).render() == "DSPLIBL"
    assert (
        ClCommand("CALL", (("PGM", "APPLIB/PGM1"),), library="").render() == "CALL PGM(APPLIB/PGM1)"
    )


def test_cl_command_is_frozen_and_comparable() -> None:
    command = build_clrlib_command("applib")
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.command = "DLTLIB"  # type: ignore[misc]
    assert command == build_clrlib_command("APPLIB")
    assert hash(command) == hash(build_clrlib_command("APPLIB"))


@pytest.mark.parametrize("value", ["(A", "A)", "'A", "A\nB"])
def test_cl_command_render_runs_the_shape_check(value: str) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        ClCommand("X", (("KWD", value),)).render()
    assert excinfo.value.field == "command"


# ---- every builder: exact whole-string rendering -------------------------------------------

RENDER_CASES: list[tuple[str, Callable[[], ClCommand], str]] = [
    (
        "endsbs-default",
        lambda: build_endsbs_command("qbatch"),
        "QSYS/ENDSBS SBS(QBATCH) OPTION(*CNTRLD) DELAY(*NOLIMIT)",
    ),
    (
        "endsbs-delay",
        lambda: build_endsbs_command("QINTER", delay_seconds=600),
        "QSYS/ENDSBS SBS(QINTER) OPTION(*CNTRLD) DELAY(600)",
    ),
    (
        "endsbs-immed",
        lambda: build_endsbs_command("$APPSBS", option="*IMMED"),
        "QSYS/ENDSBS SBS($APPSBS) OPTION(*IMMED)",
    ),
    (
        "strsbs",
        lambda: build_strsbs_command("qbatch", library="qsys"),
        "QSYS/STRSBS SBSD(QSYS/QBATCH)",
    ),
    (
        "chkobj",
        lambda: build_chkobj_command("qsys", "applib", object_type="*LIB"),
        "QSYS/CHKOBJ OBJ(QSYS/APPLIB) OBJTYPE(*LIB)",
    ),
    (
        "chkobj-file",
        lambda: build_chkobj_command("$app", "savf1", object_type="*FILE"),
        "QSYS/CHKOBJ OBJ($APP/SAVF1) OBJTYPE(*FILE)",
    ),
    ("crtlib", lambda: build_crtlib_command("resync"), "QSYS/CRTLIB LIB(RESYNC)"),
    (
        "crtlib-text",
        lambda: build_crtlib_command("$resync", text="Resync save files (don't delete)"),
        "QSYS/CRTLIB LIB($RESYNC) TEXT('Resync save files (don''t delete)')",
    ),
    ("crtsavf", lambda: build_crtsavf_command(SAVF), "QSYS/CRTSAVF FILE(RESYNC/APPLIB)"),
    (
        "crtsavf-text",
        lambda: build_crtsavf_command(SAVF, text="Resync of O'Brien's (APPLIB)"),
        "QSYS/CRTSAVF FILE(RESYNC/APPLIB) TEXT('Resync of O''Brien''s (APPLIB)')",
    ),
    ("clrsavf", lambda: build_clrsavf_command(SAVF), "QSYS/CLRSAVF FILE(RESYNC/APPLIB)"),
    ("dltf", lambda: build_dltf_command(SAVF), "QSYS/DLTF FILE(RESYNC/APPLIB)"),
    ("savlib", lambda: build_savlib_command("applib", SAVF), SAVLIB_APPLIB),
    (
        "savlib-savf-in-saved-library",
        lambda: build_savlib_command("$app", QualifiedName("$APP", "SAVF1")),
        "QSYS/SAVLIB LIB($APP) DEV(*SAVF) SAVF($APP/SAVF1) TGTRLS(*CURRENT) UPDHST(*YES) "
        "SAVACT(*NO) DTACPR(*NO) OMITOBJ(($APP/SAVF1 *FILE))",
    ),
    (
        "savlib-all-options",
        lambda: build_savlib_command(
            "applib",
            SAVF,
            target_release="V7R4M0",
            save_active="*SYNCLIB",
            compression="*HIGH",
            outfile=QualifiedName("RESYNC", "SAVOUT"),
        ),
        "QSYS/SAVLIB LIB(APPLIB) DEV(*SAVF) SAVF(RESYNC/APPLIB) TGTRLS(V7R4M0) UPDHST(*YES) "
        "SAVACT(*SYNCLIB) DTACPR(*HIGH) OUTPUT(*OUTFILE) OUTFILE(RESYNC/SAVOUT) "
        "OUTMBR(*FIRST *REPLACE)",
    ),
    (
        "savlib-omitobj-and-outfile",
        lambda: build_savlib_command(
            "applib", QualifiedName("APPLIB", "SAVF"), outfile=QualifiedName("QTEMP", "OUT")
        ),
        "QSYS/SAVLIB LIB(APPLIB) DEV(*SAVF) SAVF(APPLIB/SAVF) TGTRLS(*CURRENT) UPDHST(*YES) "
        "SAVACT(*NO) DTACPR(*NO) OMITOBJ((APPLIB/SAVF *FILE)) OUTPUT(*OUTFILE) "
        "OUTFILE(QTEMP/OUT) OUTMBR(*FIRST *REPLACE)",
    ),
    (
        "savsecdta",
        lambda: build_savsecdta_command(SECDTA),
        "QSYS/SAVSECDTA DEV(*SAVF) SAVF(RESYNC/SECDTA)",
    ),
    (
        "sav",
        lambda: build_sav_command(IFS_SAVF, ["/home/app", "//srv//O'Brien/"]),
        "QSYS/SAV DEV('/QSYS.LIB/RESYNC.LIB/IFS1.FILE') "
        "OBJ(('/home/app' *INCLUDE) ('/srv/O''Brien' *INCLUDE)) SUBTREE(*ALL) SAVACT(*NO)",
    ),
    (
        "savdlo",
        lambda: build_savdlo_command(DLO_SAVF, ["flr1", "/FLR2/SUB/"]),
        "QSYS/SAVDLO DLO(*ALL) FLR('FLR1' 'FLR2/SUB') DEV(*SAVF) SAVF(RESYNC/DLO1)",
    ),
    (
        "rstusrprf",
        lambda: build_rstusrprf_command(SECDTA, ["alice", "$bob", "#ops"]),
        "QSYS/RSTUSRPRF DEV(*SAVF) SAVF(RESYNC/SECDTA) USRPRF(ALICE $BOB #OPS)",
    ),
    (
        "rstlib",
        lambda: build_rstlib_command("applib", SAVF),
        "QSYS/RSTLIB SAVLIB(APPLIB) DEV(*SAVF) SAVF(RESYNC/APPLIB) OPTION(*ALL) MBROPT(*ALL) "
        "ALWOBJDIF(*ALL) RSTLIB(*SAVLIB)",
    ),
    (
        "rstlib-options",
        lambda: build_rstlib_command(
            "$app",
            SAVF,
            option="*NEW",
            member_option="*MATCH",
            object_differences="*COMPATIBLE",
        ),
        "QSYS/RSTLIB SAVLIB($APP) DEV(*SAVF) SAVF(RESYNC/APPLIB) OPTION(*NEW) MBROPT(*MATCH) "
        "ALWOBJDIF(*COMPATIBLE) RSTLIB(*SAVLIB)",
    ),
    (
        "rst",
        lambda: build_rst_command(IFS_SAVF, ["/home/app"]),
        "QSYS/RST DEV('/QSYS.LIB/RESYNC.LIB/IFS1.FILE') OBJ(('/home/app' *INCLUDE)) "
        "SUBTREE(*ALL) OPTION(*ALL) ALWOBJDIF(*ALL)",
    ),
    (
        "rstdlo",
        lambda: build_rstdlo_command(DLO_SAVF, ["flr1", "flr2/sub"]),
        "QSYS/RSTDLO DLO(*ALL) SAVFLR('FLR1' 'FLR2/SUB') DEV(*SAVF) SAVF(RESYNC/DLO1)",
    ),
    ("rstaut-all", lambda: build_rstaut_command(), "QSYS/RSTAUT USRPRF(*ALL)"),
    (
        "rstaut-names",
        lambda: build_rstaut_command(["alice", "bob"]),
        "QSYS/RSTAUT USRPRF(ALICE BOB)",
    ),
    ("clrlib", lambda: build_clrlib_command("applib"), "QSYS/CLRLIB LIB(APPLIB)"),
    (
        "sbmjob",
        lambda: build_sbmjob_command(build_savlib_command("applib", SAVF), job="rsapplib"),
        f"QSYS/SBMJOB CMD({SAVLIB_APPLIB}) JOB(RSAPPLIB) LOG(4 00 *SECLVL) LOGCLPGM(*YES)",
    ),
    (
        "sbmjob-jobq",
        lambda: build_sbmjob_command(
            build_rstlib_command("applib", SAVF),
            job="RRAPPLIB",
            job_queue=QualifiedName("qsys", "qsysnomax"),
        ),
        "QSYS/SBMJOB CMD(QSYS/RSTLIB SAVLIB(APPLIB) DEV(*SAVF) SAVF(RESYNC/APPLIB) "
        "OPTION(*ALL) MBROPT(*ALL) ALWOBJDIF(*ALL) RSTLIB(*SAVLIB)) JOB(RRAPPLIB) "
        "JOBQ(QSYS/QSYSNOMAX) LOG(4 00 *SECLVL) LOGCLPGM(*YES)",
    ),
]


@pytest.mark.parametrize(
    ("factory", "expected"),
    [pytest.param(factory, expected, id=case_id) for case_id, factory, expected in RENDER_CASES],
)
def test_builder_renders_exactly(factory: Callable[[], ClCommand], expected: str) -> None:
    command = factory()
    assert isinstance(command, ClCommand)
    assert command.render() == expected
    assert str(command) == expected
    assert factory().render() == expected  # deterministic


def test_every_builder_has_an_exact_rendering_case() -> None:
    covered = {"build_" + case_id.split("-")[0] + "_command" for case_id, _, _ in RENDER_CASES}
    assert covered == set(BUILDER_NAMES)


def test_sbmjob_nesting_renders_a_balanced_command() -> None:
    inner = build_crtsavf_command(SAVF, text="a) b('c")
    assert inner.render() == "QSYS/CRTSAVF FILE(RESYNC/APPLIB) TEXT('a) b(''c')"
    once = build_sbmjob_command(inner, job="inner")
    twice = build_sbmjob_command(once, job="outer")
    expected = (
        "QSYS/SBMJOB CMD(QSYS/SBMJOB CMD(QSYS/CRTSAVF FILE(RESYNC/APPLIB) TEXT('a) b(''c')) "
        "JOB(INNER) LOG(4 00 *SECLVL) LOGCLPGM(*YES)) JOB(OUTER) LOG(4 00 *SECLVL) "
        "LOGCLPGM(*YES)"
    )
    assert twice.render() == expected
    assert check_cl_shape(expected) == expected
    # Outside the literal the parentheses balance; the ones inside 'a) b(' do not count.
    outside = expected.replace("'a) b(''c'", "")
    assert outside.count("(") == outside.count(")")


def test_only_chkobj_is_read_only() -> None:
    read_only = {
        case_id.split("-")[0] for case_id, factory, _ in RENDER_CASES if not factory().changes_node
    }
    assert read_only == {"chkobj"}


def test_sbmjob_inherits_changes_node() -> None:
    read_only = ClCommand("DSPLIB", (("LIB", "APPLIB"),), changes_node=False)
    assert build_sbmjob_command(read_only, job="J").changes_node is False
    assert build_sbmjob_command(build_clrlib_command("APPLIB"), job="J").changes_node is True
    probe = build_chkobj_command("QSYS", "APPLIB", object_type="*LIB")
    assert build_sbmjob_command(probe, job="J").changes_node is False


@pytest.mark.parametrize(
    ("delay", "rendered"),
    [
        (None, "*NOLIMIT"),
        (0, "0"),  # accepted by the code; IBM's documented range is not confirmed in ibmi.md
        (1, "1"),
        (99999, "99999"),
        (100000, "*NOLIMIT"),
        (10**9, "*NOLIMIT"),
    ],
)
def test_endsbs_delay_boundaries(delay: int | None, rendered: str) -> None:
    command = build_endsbs_command("QBATCH", delay_seconds=delay)
    assert command.render() == f"QSYS/ENDSBS SBS(QBATCH) OPTION(*CNTRLD) DELAY({rendered})"


@pytest.mark.parametrize("release", ["V7R4M0", "V7R5M0", "V6R1M0", "*CURRENT", "*PRV"])
def test_savlib_target_release_accepted(release: str) -> None:
    rendered = build_savlib_command("APPLIB", SAVF, target_release=release).render()
    assert rendered == SAVLIB_APPLIB.replace("TGTRLS(*CURRENT)", f"TGTRLS({release})")


@pytest.mark.parametrize(
    "release",
    ["V7R4", "v7r4m0", "V10R1M0", "V7R4M0 ", "V7R4M0)", "*current", "*PRV ", "", None, 740],
)
def test_savlib_target_release_refused(release: object) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        build_savlib_command("APPLIB", SAVF, target_release=release)  # type: ignore[arg-type]
    assert excinfo.value.field == "target_release"
    assert "target_release" in str(excinfo.value)


@pytest.mark.parametrize("save_active", ["*NO", "*LIB", "*SYNCLIB", "*SYSDFN"])
@pytest.mark.parametrize("compression", ["*DEV", "*NO", "*YES", "*LOW", "*MEDIUM", "*HIGH"])
def test_savlib_special_values_accepted(save_active: str, compression: str) -> None:
    rendered = build_savlib_command(
        "APPLIB",
        SAVF,
        save_active=save_active,  # type: ignore[arg-type]
        compression=compression,  # type: ignore[arg-type]
    ).render()
    assert rendered == SAVLIB_APPLIB.replace("SAVACT(*NO) DTACPR(*NO)", "").rstrip() + (
        f" SAVACT({save_active}) DTACPR({compression})"
    )


# ---- refusals ----------------------------------------------------------------------------

SYSTEM_LIBRARIES = ["QSYS", "QGPL", "QUSRSYS", "#LIB", "#COBLIB", "SYSIBM", "SYSTOOLS", "qsys2"]

REFUSAL_CASES: list[tuple[str, Callable[[], object], str]] = [
    # ENDSBS (ibmi.md §7.1)
    (
        "endsbs-immed-delay",
        lambda: build_endsbs_command("QBATCH", option="*IMMED", delay_seconds=30),
        "delay_seconds",
    ),
    (
        "endsbs-immed-delay-0",
        lambda: build_endsbs_command("QBATCH", option="*IMMED", delay_seconds=0),
        "delay_seconds",
    ),
    (
        "endsbs-negative-delay",
        lambda: build_endsbs_command("QBATCH", delay_seconds=-1),
        "delay_seconds",
    ),
    (
        "endsbs-fractional-delay",
        lambda: build_endsbs_command("QBATCH", delay_seconds=30.5),
        "delay_seconds",
    ),
    ("endsbs-option-all", lambda: build_endsbs_command("QBATCH", option="*ALL"), "option"),
    ("endsbs-option-lower", lambda: build_endsbs_command("QBATCH", option="*cntrld"), "option"),
    ("endsbs-subsystem-all", lambda: build_endsbs_command("*ALL"), "subsystem"),
    ("endsbs-subsystem-empty", lambda: build_endsbs_command(""), "subsystem"),
    (
        "endsbs-subsystem-injection",
        lambda: build_endsbs_command("QBATCH) OPTION(*IMMED"),
        "subsystem",
    ),
    # STRSBS
    (
        "strsbs-libl",
        lambda: build_strsbs_command("QBATCH", library="*LIBL"),
        "subsystem_description.library",
    ),
    (
        "strsbs-bad-name",
        lambda: build_strsbs_command("1QBATCH", library="QSYS"),
        "subsystem_description.name",
    ),
    # CHKOBJ / CRTLIB
    (
        "chkobj-type-lower",
        lambda: build_chkobj_command("QSYS", "APPLIB", object_type="*lib"),
        "object_type",
    ),
    (
        "chkobj-type-no-star",
        lambda: build_chkobj_command("QSYS", "APPLIB", object_type="LIB"),
        "object_type",
    ),
    (
        "chkobj-type-short",
        lambda: build_chkobj_command("QSYS", "APPLIB", object_type="*L"),
        "object_type",
    ),
    (
        "chkobj-type-long",
        lambda: build_chkobj_command("QSYS", "APPLIB", object_type="*ABCDEFGHIJ"),
        "object_type",
    ),
    (
        "chkobj-type-injection",
        lambda: build_chkobj_command("QSYS", "APPLIB", object_type="*LIB) X(1"),
        "object_type",
    ),
    (
        "chkobj-type-none",
        lambda: build_chkobj_command("QSYS", "APPLIB", object_type=None),
        "object_type",
    ),
    (
        "chkobj-library-libl",
        lambda: build_chkobj_command("*LIBL", "APPLIB", object_type="*LIB"),
        "object.library",
    ),
    (
        "chkobj-name-all",
        lambda: build_chkobj_command("QSYS", "*ALL", object_type="*LIB"),
        "object.name",
    ),
    ("crtlib-text-51", lambda: build_crtlib_command("RESYNC", text="x" * 51), "text"),
    ("crtlib-text-tab", lambda: build_crtlib_command("RESYNC", text="a\tb"), "text"),
    ("crtlib-bad-name", lambda: build_crtlib_command("RE SYNC"), "library"),
    # save files
    ("crtsavf-string-savf", lambda: build_crtsavf_command("RESYNC/APPLIB"), "save_file"),
    ("crtsavf-text-51", lambda: build_crtsavf_command(SAVF, text="x" * 51), "text"),
    ("crtsavf-text-newline", lambda: build_crtsavf_command(SAVF, text="a\nb"), "text"),
    ("clrsavf-none", lambda: build_clrsavf_command(None), "save_file"),
    ("dltf-string", lambda: build_dltf_command("RESYNC/APPLIB"), "save_file"),
    ("savsecdta-string", lambda: build_savsecdta_command("X"), "save_file"),
    # SAVLIB
    (
        "savlib-save-active-yes",
        lambda: build_savlib_command("APPLIB", SAVF, save_active="*YES"),
        "save_active",
    ),
    (
        "savlib-compression-max",
        lambda: build_savlib_command("APPLIB", SAVF, compression="*MAX"),
        "compression",
    ),
    ("savlib-library-allusr", lambda: build_savlib_command("*ALLUSR", SAVF), "library"),
    ("savlib-library-generic", lambda: build_savlib_command("APP*", SAVF), "library"),
    ("savlib-string-savf", lambda: build_savlib_command("APPLIB", "RESYNC/APPLIB"), "save_file"),
    # SAV / RST
    ("sav-no-paths", lambda: build_sav_command(IFS_SAVF, []), "ifs_paths"),
    ("sav-relative", lambda: build_sav_command(IFS_SAVF, ["home/app"]), "ifs_paths[0]"),
    (
        "sav-qsys-lib",
        lambda: build_sav_command(IFS_SAVF, ["/ok", "/QSYS.LIB/A.LIB"]),
        "ifs_paths[1]",
    ),
    ("sav-string-savf", lambda: build_sav_command("RESYNC/IFS1", ["/ok"]), "save_file"),
    ("rst-no-paths", lambda: build_rst_command(IFS_SAVF, []), "ifs_paths"),
    ("rst-dotdot", lambda: build_rst_command(IFS_SAVF, ["/home/../etc"]), "ifs_paths[0]"),
    # SAVDLO / RSTDLO
    ("savdlo-no-folders", lambda: build_savdlo_command(DLO_SAVF, []), "dlo_folders"),
    (
        "savdlo-bad-folder",
        lambda: build_savdlo_command(DLO_SAVF, ["OK", "TOOLONGNAME"]),
        "dlo_folders[1]",
    ),
    ("rstdlo-no-folders", lambda: build_rstdlo_command(DLO_SAVF, []), "dlo_folders"),
    ("rstdlo-bad-folder", lambda: build_rstdlo_command(DLO_SAVF, ["A B"]), "dlo_folders[0]"),
    # RSTUSRPRF / RSTAUT (USRPRF(*ALL) needs restricted state: impossible by construction)
    ("rstusrprf-empty", lambda: build_rstusrprf_command(SECDTA, []), "user_profiles"),
    (
        "rstusrprf-all",
        lambda: build_rstusrprf_command(SECDTA, ["ALICE", "*ALL"]),
        "user_profiles[1]",
    ),
    ("rstusrprf-all-string", lambda: build_rstusrprf_command(SECDTA, "*ALL"), "user_profiles"),
    (
        "rstusrprf-bad-name",
        lambda: build_rstusrprf_command(SECDTA, ["ALICE", "1X"]),
        "user_profiles[1]",
    ),
    ("rstaut-empty", lambda: build_rstaut_command([]), "user_profiles"),
    ("rstaut-all-in-list", lambda: build_rstaut_command(["*ALL"]), "user_profiles[0]"),
    # RSTLIB options
    ("rstlib-option", lambda: build_rstlib_command("APPLIB", SAVF, option="*REPLACE"), "option"),
    (
        "rstlib-member-option",
        lambda: build_rstlib_command("APPLIB", SAVF, member_option="*NONE"),
        "member_option",
    ),
    (
        "rstlib-object-differences",
        lambda: build_rstlib_command("APPLIB", SAVF, object_differences="*YES"),
        "object_differences",
    ),
    ("rstlib-string-savf", lambda: build_rstlib_command("APPLIB", "RESYNC/APPLIB"), "save_file"),
    # SBMJOB
    (
        "sbmjob-string-command",
        lambda: build_sbmjob_command("QSYS/CLRLIB LIB(X)", job="J"),
        "command",
    ),
    (
        "sbmjob-job-special",
        lambda: build_sbmjob_command(build_clrlib_command("APPLIB"), job="*JOBD"),
        "job",
    ),
    (
        "sbmjob-job-empty",
        lambda: build_sbmjob_command(build_clrlib_command("APPLIB"), job=""),
        "job",
    ),
]
REFUSAL_CASES += [
    (f"clrlib-{library}", lambda library=library: build_clrlib_command(library), "library")
    for library in SYSTEM_LIBRARIES
]
REFUSAL_CASES += [
    (f"crtlib-{library}", lambda library=library: build_crtlib_command(library), "library")
    for library in SYSTEM_LIBRARIES
]
REFUSAL_CASES += [
    (f"rstlib-{library}", lambda library=library: build_rstlib_command(library, SAVF), "library")
    for library in SYSTEM_LIBRARIES
]


@pytest.mark.parametrize(
    ("call", "field"),
    [pytest.param(call, field, id=case_id) for case_id, call, field in REFUSAL_CASES],
)
def test_builder_refuses(call: Callable[[], object], field: str) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        call()
    error = excinfo.value
    assert type(error) is IbmiInputError
    assert error.field == field
    assert field in str(error)


@pytest.mark.parametrize("library", SYSTEM_LIBRARIES)
def test_system_library_refusal_explains_the_rule(library: str) -> None:
    with pytest.raises(IbmiInputError, match="IBM-supplied libraries"):
        build_clrlib_command(library)


# ---- regressions (bugs these tests found, now fixed) ------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: build_rstusrprf_command(SECDTA, "ALICE"), id="rstusrprf"),
        pytest.param(lambda: build_rstaut_command("ALICE"), id="rstaut"),
        pytest.param(lambda: build_savdlo_command(DLO_SAVF, "FLR"), id="savdlo"),
        pytest.param(lambda: build_rstdlo_command(DLO_SAVF, "FLR"), id="rstdlo"),
    ],
)
def test_name_lists_refuse_a_bare_string(call: Callable[[], ClCommand]) -> None:
    with pytest.raises(IbmiInputError):
        call()


@pytest.mark.parametrize(
    "delay",
    [
        pytest.param(True),
        pytest.param(False),
        pytest.param("30"),
        pytest.param(100000.5),
    ],
)
def test_endsbs_delay_must_be_a_whole_number(delay: object) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        build_endsbs_command("QBATCH", delay_seconds=delay)  # type: ignore[arg-type]
    assert excinfo.value.field == "delay_seconds"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(
            lambda: build_savlib_command("APPLIB", SAVF, outfile="RESYNC/SAVOUT"),
            "outfile",
            id="savlib-outfile",
        ),
        pytest.param(
            lambda: build_sbmjob_command(
                build_clrlib_command("APPLIB"), job="J", job_queue="QSYS/QSYSNOMAX"
            ),
            "job_queue",
            id="sbmjob-job-queue",
        ),
    ],
)
def test_non_save_file_qualified_names_are_refused_under_their_own_field(
    call: Callable[[], ClCommand], field: str
) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        call()
    assert excinfo.value.field == field


# ---- property: random strings as names ---------------------------------------------------

random_names = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="aQz09$#@_.*'\"() /;\n\tÉ", max_size=12),
    st.from_regex(r"[a-zA-Z$#@][a-zA-Z0-9$#@_.]{0,10}", fullmatch=True),
    st.sampled_from(["QSYS", "qgpl", "#LIB", "SYSIBM", "*ALL", "$APP", " applib ", "A.B_C"]),
)


def _up(value: str) -> str:
    return value.strip().upper()


def _folder(value: str) -> str:
    return value.strip().upper().strip("/")


BUILDER_PROPERTY_CASES: dict[str, Callable[[str, str, str], tuple[ClCommand, list[str]]]] = {
    "build_endsbs_command": lambda a, b, c: (build_endsbs_command(a), [f"SBS({_up(a)}) "]),
    "build_strsbs_command": lambda a, b, c: (
        build_strsbs_command(a, library=b),
        [f"SBSD({_up(b)}/{_up(a)})"],
    ),
    "build_chkobj_command": lambda a, b, c: (
        build_chkobj_command(a, b, object_type="*FILE"),
        [f"OBJ({_up(a)}/{_up(b)}) "],
    ),
    "build_crtlib_command": lambda a, b, c: (
        build_crtlib_command(a, text=b),
        [f"LIB({_up(a)}) ", "TEXT('" + b.replace("'", "''") + "')"],
    ),
    "build_crtsavf_command": lambda a, b, c: (
        build_crtsavf_command(QualifiedName(a, b)),
        [f"FILE({_up(a)}/{_up(b)})"],
    ),
    "build_clrsavf_command": lambda a, b, c: (
        build_clrsavf_command(QualifiedName(a, b)),
        [f"FILE({_up(a)}/{_up(b)})"],
    ),
    "build_dltf_command": lambda a, b, c: (
        build_dltf_command(QualifiedName(a, b)),
        [f"FILE({_up(a)}/{_up(b)})"],
    ),
    "build_savlib_command": lambda a, b, c: (
        build_savlib_command(a, QualifiedName(b, c), outfile=QualifiedName(c, a)),
        [f"LIB({_up(a)}) ", f"SAVF({_up(b)}/{_up(c)}) ", f"OUTFILE({_up(c)}/{_up(a)}) "]
        + ([f"OMITOBJ(({_up(b)}/{_up(c)} *FILE))"] if _up(a) == _up(b) else []),
    ),
    "build_savsecdta_command": lambda a, b, c: (
        build_savsecdta_command(QualifiedName(a, b)),
        [f"SAVF({_up(a)}/{_up(b)})"],
    ),
    "build_sav_command": lambda a, b, c: (
        build_sav_command(QualifiedName(a, b), ["/home/app"]),
        [f"DEV('/QSYS.LIB/{_up(a)}.LIB/{_up(b)}.FILE') "],
    ),
    "build_savdlo_command": lambda a, b, c: (
        build_savdlo_command(QualifiedName(a, b), [c]),
        [f"FLR('{_folder(c)}') ", f"SAVF({_up(a)}/{_up(b)})"],
    ),
    "build_rstusrprf_command": lambda a, b, c: (
        build_rstusrprf_command(QualifiedName(a, a), [a, b, c]),
        [f"USRPRF({_up(a)} {_up(b)} {_up(c)})"],
    ),
    "build_rstlib_command": lambda a, b, c: (
        build_rstlib_command(a, QualifiedName(b, c)),
        [f"SAVLIB({_up(a)}) ", f"SAVF({_up(b)}/{_up(c)}) "],
    ),
    "build_rst_command": lambda a, b, c: (
        build_rst_command(QualifiedName(a, b), ["/home/app"]),
        [f"DEV('/QSYS.LIB/{_up(a)}.LIB/{_up(b)}.FILE') "],
    ),
    "build_rstdlo_command": lambda a, b, c: (
        build_rstdlo_command(QualifiedName(a, b), [c]),
        [f"SAVFLR('{_folder(c)}') ", f"SAVF({_up(a)}/{_up(b)})"],
    ),
    "build_rstaut_command": lambda a, b, c: (
        build_rstaut_command([a, b]),
        [f"USRPRF({_up(a)} {_up(b)})"],
    ),
    "build_clrlib_command": lambda a, b, c: (build_clrlib_command(a), [f"LIB({_up(a)})"]),
    "build_sbmjob_command": lambda a, b, c: (
        build_sbmjob_command(build_clrlib_command(a), job=b, job_queue=QualifiedName(c, b)),
        [f"CMD(QSYS/CLRLIB LIB({_up(a)})) ", f"JOB({_up(b)}) ", f"JOBQ({_up(c)}/{_up(b)}) "],
    ),
}


def test_builder_property_cases_cover_every_builder() -> None:
    assert sorted(BUILDER_PROPERTY_CASES) == BUILDER_NAMES


@settings(max_examples=3000, deadline=None)
@given(
    builder=st.sampled_from(sorted(BUILDER_PROPERTY_CASES)),
    a=random_names,
    b=random_names,
    c=random_names,
)
def test_builder_property_random_names(builder: str, a: str, b: str, c: str) -> None:
    """Random names: IbmiInputError, or a well-shaped command with the names upper-cased."""
    try:
        command, fragments = BUILDER_PROPERTY_CASES[builder](a, b, c)
    except IbmiInputError:
        return
    rendered = command.render()
    assert rendered.startswith("QSYS/")
    assert check_cl_shape(rendered) == rendered
    for fragment in fragments:
        assert fragment in rendered, (fragment, rendered)
    assert shlex.split(shell_line(rendered)) == ["system", rendered]


# ---- golden file -------------------------------------------------------------------------

GOLDEN_CALLS: dict[str, Callable[[], ClCommand]] = {
    "build_chkobj_command": lambda: build_chkobj_command("qsys", "applib", object_type="*LIB"),
    "build_crtlib_command": lambda: build_crtlib_command("resync", text="Resync save files"),
    "build_clrlib_command": lambda: build_clrlib_command("applib"),
    "build_clrsavf_command": lambda: build_clrsavf_command(SAVF),
    "build_crtsavf_command": lambda: build_crtsavf_command(
        SAVF, text="Resync of APPLIB (O'Brien's request)"
    ),
    "build_dltf_command": lambda: build_dltf_command(SAVF),
    "build_endsbs_command": lambda: build_endsbs_command("qbatch", delay_seconds=600),
    "build_rst_command": lambda: build_rst_command(IFS_SAVF, ["/home/app", "/srv/O'Brien $HOME"]),
    "build_rstaut_command": lambda: build_rstaut_command(),
    "build_rstdlo_command": lambda: build_rstdlo_command(DLO_SAVF, ["flr1", "flr2/sub"]),
    "build_rstlib_command": lambda: build_rstlib_command("$app", QualifiedName("RESYNC", "$APP")),
    "build_rstusrprf_command": lambda: build_rstusrprf_command(SECDTA, ["alice", "$bob", "#ops"]),
    "build_sav_command": lambda: build_sav_command(IFS_SAVF, ["/home/app", "/srv/O'Brien $HOME"]),
    "build_savdlo_command": lambda: build_savdlo_command(DLO_SAVF, ["flr1", "flr2/sub"]),
    "build_savlib_command": lambda: build_savlib_command(
        "$app",
        QualifiedName("$APP", "SAVF1"),
        target_release="V7R4M0",
        outfile=QualifiedName("RESYNC", "SAVOUT"),
    ),
    "build_savsecdta_command": lambda: build_savsecdta_command(SECDTA),
    "build_sbmjob_command": lambda: build_sbmjob_command(
        build_savlib_command("applib", SAVF),
        job="rsapplib",
        job_queue=QualifiedName("QSYS", "QSYSNOMAX"),
    ),
    "build_strsbs_command": lambda: build_strsbs_command("qbatch", library="qsys"),
}

GOLDEN_HEADER = (
    "# One representative call of every builder in ibmi_resync.cl (tests/unit/test_cl.py).\n"
    "# Each entry: '<builder>: <rendered CL>', then the SSH exec line from shell_line().\n"
    "# Regenerate: UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_cl.py -k golden\n"
)


def render_golden() -> str:
    lines = [GOLDEN_HEADER]
    for name in sorted(GOLDEN_CALLS):
        rendered = GOLDEN_CALLS[name]().render()
        lines.append(f"{name}: {rendered}\n    {shell_line(rendered)}\n")
    return "".join(lines)


def test_golden_covers_every_builder() -> None:
    assert sorted(GOLDEN_CALLS) == BUILDER_NAMES


def test_golden_file_shell_lines_give_back_the_cl_in_a_real_shell(tmp_path: Path) -> None:
    """Every exec line in the golden file, run by /bin/sh, passes exactly its CL as one argument."""
    entries = [line for line in render_golden().splitlines() if not line.startswith("#")]
    rendered = [entry.split(": ", 1)[1] for entry in entries[0::2]]
    exec_lines = [entry.removeprefix("    ") for entry in entries[1::2]]
    assert len(rendered) == len(exec_lines) == len(BUILDER_NAMES)
    script = tmp_path / "golden.sh"
    script.write_text(
        'system() { printf \'%s\\0\' "$#" "$@"; }\n' + "\n".join(exec_lines) + "\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        ["/bin/sh", str(script)],
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": "/nonexistent"},
        timeout=30,
        check=False,
    )
    assert result.returncode == 0 and result.stderr == b"", result.stderr
    assert result.stdout == b"".join(b"1\0" + cl.encode() + b"\0" for cl in rendered)


def test_golden_file() -> None:
    expected = render_golden()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN_FILE.write_text(expected, encoding="utf-8")
        pytest.skip(f"UPDATE_GOLDEN=1: rewrote {GOLDEN_FILE}; nothing was compared")
    if not GOLDEN_FILE.exists():
        pytest.fail(f"{GOLDEN_FILE} is missing; create it with UPDATE_GOLDEN=1")
    actual = GOLDEN_FILE.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                actual.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                fromfile=str(GOLDEN_FILE),
                tofile="rendered now",
            )
        )
        pytest.fail(
            "Rendered CL differs from the golden file. If the change is intended, rerun with "
            f"UPDATE_GOLDEN=1 to rewrite it, and review the diff:\n{diff}"
        )

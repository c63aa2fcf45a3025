"""Tests for ibmi_resync.plan: loading the resync plan and narrowing it with RunOptions.

The contract (plan.py docstring): every refusal names the file, the field path
(`groups[2].libraries[0]`) and the value, so an operator fixes the plan without reading code.
Each case below changes one field of the committed demo plan (or its simulator site profile)
and checks the PlanError's `.source`, `.field`, `.value` and its text.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from plan_fixtures import (
    DELETE,
    DEMO_PLAN,
    PROFILE_RELATIVE,
    build_plan,
    demo_data,
    demo_plan,
    profile_data,
    set_at,
    write_files,
)
from pydantic import ValidationError

from ibmi_resync.names import IbmiInputError
from ibmi_resync.plan import Plan, PlanError, RunOptions, load_plan, validation_error
from ibmi_resync.program import resync_program

SAME = object()  # expected value: the value written into the file

BUG_MODEL_LEVEL = (
    "BUG: cross-field checks (Plan._consistent, IclusterCommands/IclusterMessages and "
    "SiteProfile model validators) raise a plain ValueError, so validation_error() reports "
    "PlanError.field '' (or the parent 'commands'/'messages', or 'command') and value None "
    "instead of the exact field path and the offending value"
)
BUG_LATE_CHECK = (
    "BUG: the field is not validated when the file loads; the bad value only fails later in "
    "resync_program() with an IbmiInputError that does not name the file"
)


def case(
    case_id: str,
    path: str,
    value: Any,
    field: str,
    expected: Any = SAME,
    *,
    target: str = "plan",
    bug: str | None = None,
    hint: str | None = None,
) -> Any:
    """One bad file: write `value` at `path` of the plan or profile; expect `field`/`expected`.

    `hint` is what the message already names today for cases marked as bugs (checked by
    test_refusal_message_names_the_file_and_the_place).
    """
    # A model-level bug shows as a wrong field/value (AssertionError); a late check as the
    # IbmiInputError that resync_program raises instead of a PlanError at load time.
    del bug  # the bug each marked case once showed is fixed; the case now guards it
    return pytest.param(
        target, path, value, field, value if expected is SAME else expected, hint, id=case_id
    )


BAD_FILES = [
    # ---- libraries --------------------------------------------------------------------------
    case("system-library-QSYS", "groups[1].libraries[0]", "QSYS", "groups[1].libraries[0]"),
    case("system-library-lower-qgpl", "groups[1].libraries[1]", "qgpl", "groups[1].libraries[1]"),
    case("system-library-SYSIBM", "groups[0].libraries[0]", "SYSIBM", "groups[0].libraries[0]"),
    case("system-library-#COBLIB", "groups[2].libraries[0]", "#COBLIB", "groups[2].libraries[0]"),
    case(
        "library-too-long",
        "groups[0].libraries",
        ["SECLIB", "SECLIB2", "TOO_LONG_NAME1"],
        "groups[0].libraries[2]",
        "TOO_LONG_NAME1",
    ),
    case("library-semicolon", "groups[0].libraries[0]", "A;B", "groups[0].libraries[0]"),
    case("library-shell-subst", "groups[0].libraries[0]", "$(rm)", "groups[0].libraries[0]"),
    case("library-special-*ALL", "groups[1].libraries[0]", "*ALL", "groups[1].libraries[0]"),
    case("library-blank-inside", "groups[1].libraries[1]", "ORD HIST", "groups[1].libraries[1]"),
    case("library-empty", "groups[0].libraries[0]", "", "groups[0].libraries[0]"),
    case("library-yaml-bool", "groups[0].libraries[0]", True, "groups[0].libraries[0]"),
    case(
        "library-in-two-groups",
        "groups[2].libraries",
        ["BILLIB", "ORDLIB"],
        "groups[2].libraries[1]",
        "ORDLIB",
        bug=BUG_MODEL_LEVEL,
        hint="groups[2].libraries",
    ),
    case(
        "save-file-library-inside-a-group",
        "groups[2].libraries",
        ["BILLIB", "RSYNCSAVF"],
        "groups[2].libraries[1]",
        "RSYNCSAVF",
        bug=BUG_MODEL_LEVEL,
        hint="save_file_library",
    ),
    case("save-file-library-QGPL", "save_file_library", "QGPL", "save_file_library"),
    case("save-file-library-missing", "save_file_library", DELETE, "save_file_library", None),
    # ---- groups -----------------------------------------------------------------------------
    case(
        "zero-system-groups",
        "groups[0].system",
        False,
        "groups",
        None,
        bug=BUG_MODEL_LEVEL,
        hint="SYSTEM group",
    ),
    case(
        "two-system-groups",
        "groups[1].system",
        True,
        "groups[1].system",
        True,
        bug=BUG_MODEL_LEVEL,
        hint="['SYSTEM', 'ORDERS']",
    ),
    case(
        "duplicate-group-name",
        "groups[2].name",
        "ORDERS",
        "groups[2].name",
        bug=BUG_MODEL_LEVEL,
        hint="groups[2].name",
    ),
    case("group-name-hostile", "groups[1].name", "A) RMVLIB(", "groups[1].name"),
    case("group-empty", "groups[2]", {"name": "BILLING"}, "groups[2]", None),
    case("groups-empty-list", "groups", [], "groups"),
    case("unknown-key-in-group", "groups[1].colour", "blue", "groups[1].colour"),
    case("ifs-relative", "groups[1].ifs_paths[0]", "home/orders", "groups[1].ifs_paths[0]"),
    case(
        "ifs-dotdot", "groups[1].ifs_paths[0]", "/home/orders/../../etc", "groups[1].ifs_paths[0]"
    ),
    case(
        "ifs-qsys-lib",
        "groups[1].ifs_paths",
        ["/home/orders/exports", "/QSYS.LIB/X.LIB"],
        "groups[1].ifs_paths[1]",
        "/QSYS.LIB/X.LIB",
    ),
    case("ifs-qdls", "groups[1].ifs_paths[0]", "/QDLS/INVOICES", "groups[1].ifs_paths[0]"),
    case("ifs-root", "groups[1].ifs_paths[0]", "/", "groups[1].ifs_paths[0]"),
    case(
        "dlo-folder-too-long",
        "groups[2].dlo_folders[0]",
        "INVOICES2024",
        "groups[2].dlo_folders[0]",
    ),
    case("dlo-folder-blank", "groups[2].dlo_folders[0]", "INV OICE", "groups[2].dlo_folders[0]"),
    # ---- nodes ------------------------------------------------------------------------------
    case("missing-backup", "backup", DELETE, "backup", None),
    case("role-not-a-role", "primary.role", "OTHER", "primary.role"),
    case(
        "primary-role-BACKUP",
        "primary.role",
        "BACKUP",
        "primary.role",
        bug=BUG_MODEL_LEVEL,
        hint="primary.role",
    ),
    case(
        "backup-role-PRIMARY",
        "backup.role",
        "PRIMARY",
        "backup.role",
        bug=BUG_MODEL_LEVEL,
        hint="backup.role",
    ),
    case(
        "same-node-names",
        "backup.name",
        "SIMPRI",
        "backup.name",
        bug=BUG_MODEL_LEVEL,
        hint="backup.name",
    ),
    case("node-name-invalid", "primary.name", "SIM-PRI", "primary.name"),
    case("conn-id-with-space", "primary.ssh_conn_id", "my conn", "primary.ssh_conn_id"),
    case("conn-id-semicolon", "backup.odbc_conn_id", "odbc;x", "backup.odbc_conn_id"),
    # ---- applications, profiles, limits -----------------------------------------------------
    case(
        "subsystem-*ALL",
        "applications.subsystems[0].name",
        "*ALL",
        "applications.subsystems[0].name",
    ),
    case("subsystems-empty", "applications.subsystems", [], "applications.subsystems"),
    case(
        "remaining-jobs-policy",
        "applications.remaining_jobs",
        "kill",
        "applications.remaining_jobs",
    ),
    case("user-profile-invalid", "user_profiles[1]", "APP USER", "user_profiles[1]"),
    case(
        "duplicate-user-profile",
        "user_profiles",
        ["APPOWNER", "APPUSER", "APPOWNER"],
        "user_profiles[2]",
        "APPOWNER",
        bug=BUG_MODEL_LEVEL,
        hint="user_profiles",
    ),
    case("negative-timeout", "timeouts.batch_job", -1, "timeouts.batch_job"),
    case("zero-poll-interval", "poll_intervals.latency", 0, "poll_intervals.latency"),
    case(
        "storage-100-percent",
        "thresholds.min_free_storage_percent",
        100,
        "thresholds.min_free_storage_percent",
    ),
    case("plan-name-blank", "name", "demo pair", "name"),
    case("unknown-top-level-key", "colour", "blue", "colour"),
    case("unknown-key-in-timeouts", "timeouts.forever", 5, "timeouts.forever"),
    case(
        "target-release-invalid",
        "target_release",
        "V7R9",
        "target_release",
        bug=BUG_LATE_CHECK,
    ),
    # ---- the site profile file (errors name the profile, which is the file to fix) ----------
    case(
        "message-id-HELLO",
        "messages.mark_complete",
        "HELLO",
        "messages.mark_complete",
        target="profile",
    ),
    case(
        "message-id-lower",
        "messages.group_started",
        "sim1101",
        "messages.group_started",
        target="profile",
    ),
    case("profile-unknown-key", "colour", "blue", "colour", target="profile"),
    case("profile-missing-sql", "sql.latency", DELETE, "sql.latency", None, target="profile"),
    case(
        "product-library-invalid",
        "product_library",
        "ICLUSTER;X",
        "product_library",
        target="profile",
    ),
    case(
        "sync-check-type-no-star", "sync_check_type", "OBJATTR", "sync_check_type", target="profile"
    ),
    case("repair-no-star", "repair", ["*AUTH", "CBU"], "repair", target="profile"),
    case(
        "regex-invalid",
        "messages.marked_position_pattern",
        "(unclosed",
        "messages.marked_position_pattern",
        target="profile",
    ),
    case(
        "regex-without-named-group",
        "messages.sync_check_differences_pattern",
        "([0-9]+) objects out of sync",
        "messages.sync_check_differences_pattern",
        target="profile",
        bug=BUG_MODEL_LEVEL,
        hint="sync_check_differences_pattern",
    ),
    case(
        "template-unknown-placeholder-lib",
        "commands.start_node",
        "{product_library}/DMSTRNODE NODE({lib})",
        "commands.start_node",
        target="profile",
        bug=BUG_MODEL_LEVEL,
        hint="commands.start_node",
    ),
    case(
        "template-missing-required-group",
        "commands.mark_positions",
        "{product_library}/DMMRKPOS",
        "commands.mark_positions",
        target="profile",
        bug=BUG_MODEL_LEVEL,
        hint="commands.mark_positions",
    ),
    case(
        "template-conversion",
        "commands.mark_positions",
        "{product_library}/DMMRKPOS GROUP({group!r})",
        "commands.mark_positions",
        target="profile",
        bug=BUG_MODEL_LEVEL,
        hint="commands.mark_positions",
    ),
    case(
        "template-unclosed-paren",
        "commands.mark_positions",
        "{product_library}/DMMRKPOS GROUP({group}",
        "commands.mark_positions",
        target="profile",
        bug=BUG_MODEL_LEVEL,
        hint="unbalanced parentheses",
    ),
    case(
        "template-extra-close-paren",
        "commands.end_group",
        "{product_library}/DMENDGRP GROUP({group}) DELAY({delay}))",
        "commands.end_group",
        target="profile",
        bug=BUG_MODEL_LEVEL,
        hint="closing parenthesis without opening",
    ),
    case(
        "event-log-sql-update",
        "sql.event_log",
        "UPDATE ICSIM.EVENT_LOG SET SEVERITY = ? WHERE GROUP_NAME = ?",
        "sql.event_log",
        target="profile",
        bug=BUG_MODEL_LEVEL,
        hint="'event_log'",
    ),
    case(
        "event-log-sql-two-statements",
        "sql.event_log",
        "SELECT * FROM ICSIM.EVENT_LOG WHERE GROUP_NAME = ? AND MESSAGE_TIMESTAMP >= ?; "
        "DELETE FROM ICSIM.EVENT_LOG",
        "sql.event_log",
        target="profile",
        bug=BUG_MODEL_LEVEL,
        hint="'event_log'",
    ),
    case(
        "event-log-sql-comment",
        "sql.event_log",
        "SELECT * FROM ICSIM.EVENT_LOG WHERE GROUP_NAME = ? AND MESSAGE_TIMESTAMP >= ? -- x",
        "sql.event_log",
        target="profile",
        bug=BUG_MODEL_LEVEL,
        hint="'event_log'",
    ),
    case(
        "group-status-sql-marker-count",
        "sql.group_status",
        "SELECT GROUP_NAME, STATUS FROM ICSIM.GROUP_STATUS WHERE GROUP_NAME = ? AND NODE = ?",
        "sql.group_status",
        target="profile",
        bug=BUG_MODEL_LEVEL,
        hint="'group_status'",
    ),
    case(
        "system-program-with-blank",
        "system_program",
        "my system",
        "system_program",
        target="profile",
        bug=BUG_LATE_CHECK,
    ),
    case(
        "checksum-program-with-shell-syntax",
        "checksum_program",
        "sha256sum; touch /tmp/x",
        "checksum_program",
        target="profile",
        bug=BUG_LATE_CHECK,
    ),
]


def _write_case(folder: Path, target: str, path: str, value: Any) -> tuple[Path, Path]:
    plan, profile = demo_data(), profile_data()
    set_at(
        plan if target == "plan" else profile,
        path,
        value if value is DELETE else copy.deepcopy(value),
    )
    plan_path = write_files(folder, plan, profile)
    return plan_path, folder / PROFILE_RELATIVE


def _load_and_program(path: Path) -> Plan:
    """What the CLI and the DAG do with a file: load it, then build the program."""
    plan = load_plan(path)
    resync_program(plan)
    return plan


@pytest.mark.parametrize(("target", "path", "value", "field", "expected", "hint"), BAD_FILES)
def test_a_bad_file_is_refused_naming_file_field_and_value(
    tmp_path: Path, target: str, path: str, value: Any, field: str, expected: Any, hint: str | None
) -> None:
    plan_path, profile_path = _write_case(tmp_path, target, path, value)
    source = plan_path if target == "plan" else profile_path
    with pytest.raises(PlanError) as excinfo:
        _load_and_program(plan_path)
    error = excinfo.value
    assert (error.source, error.field, error.value) == (str(source), field, expected)
    assert str(source) in str(error)
    assert f": {field}: " in str(error)
    assert error.message


# The cases that once were bugs: their message also names the place in words.
BUG_CASES = [pytest.param(*p.values, id=p.id) for p in BAD_FILES if p.values[5]]


@pytest.mark.parametrize(("target", "path", "value", "field", "expected", "hint"), BUG_CASES)
def test_refusal_message_names_the_file_and_the_place(
    tmp_path: Path, target: str, path: str, value: Any, field: str, expected: Any, hint: str
) -> None:
    """What the cross-field refusals already give an operator, until their .field is fixed."""
    plan_path, profile_path = _write_case(tmp_path, target, path, value)
    with pytest.raises(PlanError) as excinfo:
        load_plan(plan_path)
    source = plan_path if target == "plan" else profile_path
    assert excinfo.value.source == str(source)
    assert str(excinfo.value).startswith(f"{source}: ")
    assert hint in str(excinfo.value)


def test_bad_case_table_is_large_and_ids_are_unique() -> None:
    ids = [p.id for p in BAD_FILES]
    assert len(ids) == len(set(ids))
    assert len([p for p in BAD_FILES if not p.marks]) >= 20


# ---- what loads ----------------------------------------------------------------------------


def test_the_committed_demo_plan_loads_with_its_values() -> None:
    plan = demo_plan()
    assert plan.name == "demo-pair"
    assert (plan.primary.name, plan.primary.role) == ("SIMPRI", "PRIMARY")
    assert (plan.backup.name, plan.backup.role) == ("SIMBCK", "BACKUP")
    assert (plan.primary.ssh_conn_id, plan.primary.odbc_conn_id) == (
        "ibmi_primary_ssh",
        "ibmi_primary_odbc",
    )
    assert (plan.backup.ssh_conn_id, plan.backup.odbc_conn_id) == (
        "ibmi_backup_ssh",
        "ibmi_backup_odbc",
    )
    assert [(s.name, s.library) for s in plan.applications.subsystems] == [("APPSBS", "APPLIB")]
    assert plan.applications.controlled_end_seconds == 120
    assert plan.applications.remaining_jobs == "end"
    assert plan.group_names == ("SYSTEM", "ORDERS", "BILLING")
    assert plan.system_group.name == "SYSTEM"
    assert [g.libraries for g in plan.groups] == [("SECLIB",), ("ORDLIB", "ORDHIST"), ("BILLIB",)]
    assert plan.group("ORDERS").ifs_paths == ("/home/orders/exports",)
    assert plan.group("BILLING").dlo_folders == ("INVOICES",)
    assert plan.user_profiles == ("APPOWNER", "APPUSER")
    assert plan.save_file_library == "RSYNCSAVF"
    assert plan.approvals_required is False
    assert plan.target_release == "*CURRENT"
    assert plan.timeouts.model_dump() == {
        "subsystem_end": 300,
        "mark_positions": 600,
        "batch_job": 3600,
        "sync_check": 900,
        "latency": 900,
        "approval": 3600,  # not in the file: the default
    }
    assert plan.poll_intervals.model_dump() == {
        "subsystem": 1,
        "batch_job": 1,
        "event_log": 1,
        "latency": 1,
    }
    assert plan.site_profile.name == "ibmi-sim"
    assert plan.site_profile.product_library == "ICLUSTER"
    assert str(plan.save_file("ORDLIB")) == "RSYNCSAVF/ORDLIB"


def test_the_plan_is_frozen() -> None:
    plan = demo_plan()
    with pytest.raises(ValidationError):
        plan.name = "other"  # type: ignore[misc]


def test_lower_case_names_are_folded_to_upper_case(tmp_path: Path) -> None:
    data = demo_data()
    set_at(data, "groups[1].name", "orders")
    set_at(data, "groups[1].libraries", ["ordlib", "OrdHist"])
    set_at(data, "groups[2].dlo_folders", ["invoices/y2024"])
    set_at(data, "user_profiles", ["appowner", "AppUser"])
    set_at(data, "save_file_library", "rsyncsavf")
    set_at(data, "primary.name", "simpri")
    set_at(data, "applications.subsystems[0]", {"name": "appsbs", "library": "applib"})
    plan = load_plan(write_files(tmp_path, data))
    assert plan.group_names == ("SYSTEM", "ORDERS", "BILLING")
    assert plan.group("ORDERS").libraries == ("ORDLIB", "ORDHIST")
    assert plan.group("BILLING").dlo_folders == ("INVOICES/Y2024",)
    assert plan.user_profiles == ("APPOWNER", "APPUSER")
    assert plan.save_file_library == "RSYNCSAVF"
    assert plan.primary.name == "SIMPRI"
    assert (plan.applications.subsystems[0].name, plan.applications.subsystems[0].library) == (
        "APPSBS",
        "APPLIB",
    )


def test_dollar_is_a_name_character_but_a_parenthesis_is_not(tmp_path: Path) -> None:
    data = demo_data()
    set_at(data, "groups[1].libraries", ["$ORD", "@ORD", "ORD#1", "ORD_2.X"])
    plan = load_plan(write_files(tmp_path, data))
    assert plan.group("ORDERS").libraries == ("$ORD", "@ORD", "ORD#1", "ORD_2.X")
    set_at(data, "groups[1].libraries", ["$ORD", "$(ORD)"])
    with pytest.raises(PlanError) as excinfo:
        load_plan(write_files(tmp_path, data))
    assert (excinfo.value.field, excinfo.value.value) == ("groups[1].libraries[1]", "$(ORD)")


def test_duplicate_library_is_found_after_case_folding(tmp_path: Path) -> None:
    data = demo_data()
    set_at(data, "groups[2].libraries", ["BILLIB", "ordlib"])
    with pytest.raises(PlanError) as excinfo:
        load_plan(write_files(tmp_path, data))
    error = excinfo.value
    assert (error.field, error.value) == ("groups[2].libraries[1]", "ORDLIB")
    assert "already in group ORDERS" in str(error)


def test_duplicate_group_is_found_after_case_folding(tmp_path: Path) -> None:
    data = demo_data()
    set_at(data, "groups[2].name", "orders")
    with pytest.raises(PlanError) as excinfo:
        load_plan(write_files(tmp_path, data))
    error = excinfo.value
    assert (error.field, error.value) == ("groups[2].name", "ORDERS")
    assert "repeats groups[1].name" in str(error)


def test_an_inline_site_profile_reports_its_path_inside_the_plan(tmp_path: Path) -> None:
    data = demo_data()
    data["site_profile"] = set_at(profile_data(), "messages.mark_complete", "HELLO")
    plan_path = write_files(tmp_path, data)
    with pytest.raises(PlanError) as excinfo:
        load_plan(plan_path)
    error = excinfo.value
    assert (error.source, error.field, error.value) == (
        str(plan_path),
        "site_profile.messages.mark_complete",
        "HELLO",
    )


def test_an_inline_site_profile_loads(tmp_path: Path) -> None:
    data = demo_data()
    data["site_profile"] = profile_data()
    plan = load_plan(write_files(tmp_path, data))
    assert plan.site_profile == demo_plan().site_profile


def test_the_site_profile_path_is_relative_to_the_plan_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_plan(DEMO_PLAN).site_profile.name == "ibmi-sim"
    plan_dir = tmp_path / "plans"
    plan_dir.mkdir()
    data = demo_data()
    data["site_profile"] = "profiles/nope.yaml"
    (plan_dir / "plan.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    # relative to the plan's folder, even though the cwd is elsewhere
    with pytest.raises(PlanError) as excinfo:
        load_plan(plan_dir / "plan.yaml")
    error = excinfo.value
    assert error.source == str(plan_dir / "profiles" / "nope.yaml")
    assert (error.field, error.value) == ("", None)
    assert "cannot read" in error.message
    assert str(plan_dir / "profiles" / "nope.yaml") in str(error)


# ---- unreadable files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("name: [unclosed\n", "cannot read", id="yaml-syntax-error"),
        pytest.param("groups:\n  - name: A\n   bad: indent\n", "cannot read", id="yaml-bad-indent"),
        pytest.param("- a\n- b\n", "a plan is a YAML mapping", id="a-list"),
        pytest.param("just a string\n", "a plan is a YAML mapping", id="a-scalar"),
        pytest.param("", "a plan is a YAML mapping", id="empty-file"),
    ],
)
def test_an_unusable_file_is_refused_naming_the_file(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PlanError) as excinfo:
        load_plan(path)
    error = excinfo.value
    assert (error.source, error.field, error.value) == (str(path), "", None)
    assert message in error.message
    assert str(error).startswith(f"{path}: ")


def test_a_missing_plan_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as excinfo:
        load_plan(tmp_path / "nope.yaml")
    assert excinfo.value.source == str(tmp_path / "nope.yaml")
    assert "cannot read" in str(excinfo.value)


def test_a_site_profile_that_is_not_a_mapping_is_refused_naming_the_profile(
    tmp_path: Path,
) -> None:
    plan_path = write_files(tmp_path)
    (tmp_path / PROFILE_RELATIVE).write_text("- not\n- a mapping\n", encoding="utf-8")
    with pytest.raises(PlanError) as excinfo:
        load_plan(plan_path)
    assert excinfo.value.source == str(tmp_path / PROFILE_RELATIVE)
    assert excinfo.value.field == ""


def test_a_file_that_is_not_utf8_is_a_plan_error(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_bytes(b"name: caf\xe9\n")  # Latin-1, as an editor on Windows might save it
    with pytest.raises(PlanError) as excinfo:
        load_plan(path)
    assert excinfo.value.source == str(path)


# ---- PlanError and validation_error --------------------------------------------------------


def test_plan_error_text() -> None:
    assert str(PlanError("p.yaml", "groups[0].name", "X;", "bad")) == (
        "p.yaml: groups[0].name: bad (got 'X;')"
    )
    assert str(PlanError("p.yaml", "", None, "cannot read")) == "p.yaml: cannot read"
    assert str(PlanError("p.yaml", "backup", None, "Field required")) == (
        "p.yaml: backup: Field required"
    )


def test_validation_error_converts_ibmi_input_error_and_other_errors() -> None:
    error = validation_error("f.yaml", IbmiInputError("groups[1]", "A B", "a rule"))
    assert (error.source, error.field, error.value, error.message) == (
        "f.yaml",
        "groups[1]",
        "A B",
        "a rule",
    )
    other = validation_error("f.yaml", RuntimeError("boom"))
    assert (other.field, other.value, other.message) == ("", None, "boom")


# ---- RunOptions ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan() -> Plan:
    return demo_plan()


def _names(groups: Any) -> tuple[str, ...]:
    return tuple(group.name for group in groups)


@pytest.mark.parametrize(
    ("wanted", "selected"),
    [
        pytest.param((), ("SYSTEM", "ORDERS", "BILLING"), id="empty-is-all"),
        pytest.param(("BILLING", "SYSTEM"), ("SYSTEM", "BILLING"), id="plan-order-kept"),
        pytest.param(("ORDERS",), ("ORDERS",), id="one"),
        pytest.param(("orders", " Billing "), ("ORDERS", "BILLING"), id="lower-case-and-blanks"),
        pytest.param(("ORDERS", "orders"), ("ORDERS",), id="duplicate-once"),
        pytest.param(("BILLING", "ORDERS", "SYSTEM"), ("SYSTEM", "ORDERS", "BILLING"), id="all"),
    ],
)
def test_run_options_select_groups_in_plan_order(
    plan: Plan, wanted: tuple[str, ...], selected: tuple[str, ...]
) -> None:
    assert _names(RunOptions(groups=wanted).selected_groups(plan)) == selected


def test_no_groups_selects_the_plans_own_tuple(plan: Plan) -> None:
    assert RunOptions().selected_groups(plan) == plan.groups


@pytest.mark.parametrize(
    ("wanted", "index"),
    [
        pytest.param(("ORDERS", "NOPE"), 1, id="unknown"),
        pytest.param(("A) RMVLIB(",), 0, id="hostile"),
        pytest.param(("SYSTEM", "ORDERS", "X'Y"), 2, id="apostrophe"),
        pytest.param(("ORDERS\nBILLING",), 0, id="newline"),
        pytest.param(("",), 0, id="empty-string"),
        pytest.param(("*ALL",), 0, id="special-value"),
    ],
)
def test_run_options_refuse_an_unknown_group_naming_its_index(
    plan: Plan, wanted: tuple[str, ...], index: int
) -> None:
    with pytest.raises(PlanError) as excinfo:
        RunOptions(groups=wanted).selected_groups(plan)
    error = excinfo.value
    assert (error.source, error.field, error.value) == (
        "trigger params",
        f"groups[{index}]",
        wanted[index],
    )
    assert f"trigger params: groups[{index}]: " in str(error)
    with pytest.raises(PlanError):
        resync_program(plan, RunOptions(groups=wanted))


def test_an_unknown_group_error_lists_the_plans_groups(plan: Plan) -> None:
    with pytest.raises(PlanError) as excinfo:
        RunOptions(groups=("NOPE",)).selected_groups(plan)
    assert excinfo.value.message == "not in the plan (SYSTEM, ORDERS, BILLING)"


@pytest.mark.parametrize("plan_says", [True, False])
@pytest.mark.parametrize(
    ("trigger", "expected"),
    [(None, "plan"), (True, True), (False, False)],
)
def test_approvals_follow_the_plan_unless_the_trigger_overrides(
    plan_says: bool, trigger: bool | None, expected: bool | str
) -> None:
    data = demo_data()
    data["approvals_required"] = plan_says
    plan = build_plan(data)
    wanted = plan_says if expected == "plan" else expected
    assert RunOptions(approvals_required=trigger).approvals(plan) is wanted


def test_run_options_are_strict() -> None:
    with pytest.raises(ValidationError):
        RunOptions(colour="blue")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        RunOptions(transfer_mode="scp")  # type: ignore[arg-type]
    options = RunOptions(groups=("ORDERS",))
    with pytest.raises(ValidationError):
        options.dry_run = True  # type: ignore[misc]


# ---- property: whatever a trigger form holds, it narrows or it is refused -------------------

_GROUP_WORDS = st.one_of(
    st.text(max_size=14),
    st.sampled_from(
        [
            "SYSTEM",
            "orders",
            " Billing ",
            "NOPE",
            "A) RMVLIB(",
            "X'Y",
            "ORDERS\n",
            "$(rm)",
            "*ALL",
            "",
            "ORDERS;BILLING",
            "\u00a0orders",
            "\x1fORDERS",
        ]
    ),
    st.from_regex(r"[A-Za-z$#@][A-Za-z0-9$#@_.]{0,11}", fullmatch=True),
)


# The plan's own names in any letter case, with blanks around (or a tab, which is refused).
_KNOWN_GROUPS = st.builds(
    lambda name, lower, before, after: (
        before
        + "".join(c.lower() if low else c for c, low in zip(name, lower[: len(name)], strict=True))
        + after
    ),
    st.sampled_from(["SYSTEM", "ORDERS", "BILLING"]),
    st.lists(st.booleans(), min_size=7, max_size=7),
    st.sampled_from(["", " ", "\u00a0"]),
    st.sampled_from(["", "", "", "  ", "\t"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    wanted=st.lists(
        st.one_of(_KNOWN_GROUPS, _KNOWN_GROUPS, _KNOWN_GROUPS, _GROUP_WORDS), max_size=4
    ).map(tuple)
)
def test_trigger_groups_select_or_refuse_and_never_leak(wanted: tuple[str, ...]) -> None:
    plan = _PROPERTY_PLAN
    options = RunOptions(groups=wanted)
    try:
        selected = options.selected_groups(plan)
    except PlanError as error:
        event("refused")
        index = int(error.field.removeprefix("groups[").removesuffix("]"))
        assert error.field == f"groups[{index}]" and error.source == "trigger params"
        assert error.value == wanted[index]
        # it is the first refused one: each earlier name selects on its own
        for earlier in wanted[:index]:
            assert len(RunOptions(groups=(earlier,)).selected_groups(plan)) == 1
        with pytest.raises(PlanError):
            RunOptions(groups=(wanted[index],)).selected_groups(plan)
        with pytest.raises(PlanError):
            resync_program(plan, options)
        return
    event("selected")
    names = {name.strip().upper() for name in wanted}
    assert names <= set(plan.group_names)
    expected = [n for n in plan.group_names if n in names] if wanted else list(plan.group_names)
    assert list(_names(selected)) == expected
    # Nothing of the raw strings reaches a step: the program equals the one built from the
    # plan's own names for the same groups.
    steps = resync_program(plan, options)
    assert steps == resync_program(plan, RunOptions(groups=tuple(expected)))


_PROPERTY_PLAN = load_plan(DEMO_PLAN)


@pytest.mark.parametrize("subsystem", ["XDMCLUSTER", "QUSRWRK", "qsyswrk", "QCTL", "QSERVER"])
def test_subsystems_that_carry_the_resync_cannot_be_ended(tmp_path: Path, subsystem: str) -> None:
    data = demo_data()
    set_at(data, "applications.subsystems[0].name", subsystem)
    with pytest.raises(PlanError) as excinfo:
        load_plan(write_files(tmp_path, data))
    assert excinfo.value.field == "applications.subsystems[0].name"
    assert excinfo.value.value == subsystem.upper()

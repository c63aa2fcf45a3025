"""Tests for ibmi_resync.site_profile: iCluster facts per installation.

The simulator profile is the reference: every command template must render to exactly the
CL below, every site statement must come back as the SQL of the file with the parameters and
columns the product reads, and nothing a trigger or a plan supplies may change a command's
shape (site_profile.py docstring).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from plan_fixtures import SIM_PROFILE, profile_data, set_at
from pydantic import ValidationError

from ibmi_resync.cl import ClCommand
from ibmi_resync.names import IbmiInputError
from ibmi_resync.plan import PlanError
from ibmi_resync.site_profile import (
    COMMAND_TEMPLATES,
    SITE_SQL_COLUMNS,
    SITE_SQL_PARAMS,
    TEMPLATE_FIELDS,
    SiteProfile,
    load_site_profile,
)


@pytest.fixture(scope="module")
def profile() -> SiteProfile:
    return load_site_profile(SIM_PROFILE)


def _profile(**changes: Any) -> SiteProfile:
    data = profile_data()
    for path, value in changes.items():
        set_at(data, path.replace("__", "."), value)
    return SiteProfile.model_validate(data)


def test_the_simulator_profile_loads_with_its_values(profile: SiteProfile) -> None:
    assert profile.name == "ibmi-sim"
    assert profile.product_library == "ICLUSTER"
    assert profile.product_subsystem == "XDMCLUSTER"
    assert profile.system_program == "system"
    assert profile.checksum_program == "sha256sum"
    assert profile.sync_check_type == "*OBJATTR"
    assert profile.repair == ("*AUTH", "*CBU", "*CRD")
    assert profile.messages.mark_complete == "SIM1001"
    assert profile.messages.mark_failed == "SIM1002"
    assert profile.messages.group_started == "SIM1101"
    assert profile.messages.sync_check_complete == "SIM1201"
    assert profile.messages.sync_check_failed == "SIM1202"
    assert (profile.status.active, profile.status.inactive) == ("*ACTIVE", "*INACTIVE")


def test_every_template_action_has_a_known_placeholder_set() -> None:
    # The contract table itself: eight runbook commands, placeholders all documented.
    assert set(COMMAND_TEMPLATES) == {
        "start_cluster",
        "start_node",
        "end_group",
        "mark_positions",
        "start_group_at_mark",
        "sync_check",
        "end_sync_check",
        "start_continuous_sync_check",
        "start_group_refresh",  # network sync only (optional in a profile)
    }
    for required in COMMAND_TEMPLATES.values():
        assert set(required) <= set(TEMPLATE_FIELDS)


RENDERED = [
    pytest.param("start_cluster", {}, "ICLUSTER/DMSTRCST", (), id="start_cluster"),
    pytest.param(
        "start_node",
        {"node": "simpri"},
        "ICLUSTER/DMSTRNODE NODE(SIMPRI)",
        (("NODE", "SIMPRI"),),
        id="start_node",
    ),
    pytest.param(
        "end_group",
        {"group": "ORDERS", "delay": 120},
        "ICLUSTER/DMENDGRP GROUP(ORDERS) OPTION(*CNTRLD) DELAY(120)",
        (("GROUP", "ORDERS"), ("OPTION", "*CNTRLD"), ("DELAY", "120")),
        id="end_group",
    ),
    pytest.param(
        "end_group",
        {"group": "ORDERS", "delay": 0},
        "ICLUSTER/DMENDGRP GROUP(ORDERS) OPTION(*CNTRLD) DELAY(0)",
        (("GROUP", "ORDERS"), ("OPTION", "*CNTRLD"), ("DELAY", "0")),
        id="end_group-delay-0",
    ),
    pytest.param(
        "mark_positions",
        {"group": "ORDERS"},
        "ICLUSTER/DMMRKPOS GROUP(ORDERS)",
        (("GROUP", "ORDERS"),),
        id="mark_positions",
    ),
    pytest.param(
        "start_group_at_mark",
        {"group": "SYSTEM"},
        "ICLUSTER/DMSTRGRP GROUP(SYSTEM) STRAPY(*YES) USEMARKED(*YES)",
        (("GROUP", "SYSTEM"), ("STRAPY", "*YES"), ("USEMARKED", "*YES")),
        id="start_group_at_mark",
    ),
    pytest.param(
        "sync_check",
        {"group": "BILLING"},
        "ICLUSTER/DMSTRSC GROUP(BILLING) SCTYPE(*OBJATTR) REPAIR(*AUTH *CBU *CRD)",
        (("GROUP", "BILLING"), ("SCTYPE", "*OBJATTR"), ("REPAIR", "*AUTH *CBU *CRD")),
        id="sync_check",
    ),
    pytest.param(
        "end_sync_check",
        {"group": "ORDERS"},
        "ICLUSTER/ENDHASC GROUP(ORDERS)",
        (("GROUP", "ORDERS"),),
        id="end_sync_check",
    ),
    pytest.param(
        "start_continuous_sync_check",
        {"group": "ORDERS"},
        "ICLUSTER/STRCNSC GROUP(ORDERS)",
        (("GROUP", "ORDERS"),),
        id="start_continuous_sync_check",
    ),
    pytest.param(
        "start_group_refresh",
        {"group": "ORDERS"},
        "ICLUSTER/DMSTRGRP GROUP(ORDERS) REFRESH(*YES) STRAPY(*YES)",
        (("GROUP", "ORDERS"), ("REFRESH", "*YES"), ("STRAPY", "*YES")),
        id="start_group_refresh",
    ),
]


@pytest.mark.parametrize(("action", "values", "text", "parameters"), RENDERED)
def test_every_template_renders_exactly(
    profile: SiteProfile,
    action: str,
    values: dict[str, Any],
    text: str,
    parameters: tuple[tuple[str, str], ...],
) -> None:
    command = profile.command(action, **values)
    assert isinstance(command, ClCommand)
    assert command.render() == text
    assert str(command) == text
    assert command.library == "ICLUSTER"
    assert command.command == text.split(" ")[0].split("/")[1]
    assert command.parameters == parameters
    assert command.changes_node is True


def test_the_rendered_table_covers_every_action() -> None:
    assert {p.values[0] for p in RENDERED} == set(COMMAND_TEMPLATES)


def test_an_unknown_action_is_refused(profile: SiteProfile) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        profile.command("delete_everything", group="ORDERS")
    assert (excinfo.value.field, excinfo.value.value) == ("action", "delete_everything")
    assert "mark_positions" in excinfo.value.rule


@pytest.mark.parametrize(
    ("action", "values", "field"),
    [
        pytest.param("start_node", {}, "node", id="start_node-without-node"),
        pytest.param("start_node", {"group": "ORDERS"}, "node", id="start_node-with-group-only"),
        pytest.param("mark_positions", {}, "group", id="mark-without-group"),
        pytest.param("mark_positions", {"node": "SIMPRI"}, "group", id="mark-with-node-only"),
        pytest.param("end_group", {"group": "ORDERS"}, "delay", id="end_group-without-delay"),
        pytest.param("end_group", {"delay": 5}, "group", id="end_group-without-group"),
        pytest.param("sync_check", {}, "group", id="sync_check-without-group"),
    ],
)
def test_a_missing_placeholder_value_is_refused(
    profile: SiteProfile, action: str, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        profile.command(action, **values)
    assert excinfo.value.field == field
    assert excinfo.value.value is None
    assert action in excinfo.value.rule


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param("A) RMVLIB(", id="close-paren-new-parameter"),
        pytest.param("X'Y", id="apostrophe"),
        pytest.param("ORDERS\nDLTLIB", id="newline"),
        pytest.param("ORDERS) CMD(DLTLIB X", id="keyword-injection"),
        pytest.param("*ALL", id="special-value"),
        pytest.param("", id="empty"),
        pytest.param("TOOLONGGROUP", id="twelve-chars"),
        pytest.param("$(reboot)", id="shell-substitution"),
    ],
)
@pytest.mark.parametrize("action", ["mark_positions", "start_group_at_mark", "sync_check"])
def test_a_hostile_group_name_is_refused_naming_group(
    profile: SiteProfile, action: str, hostile: str
) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        profile.command(action, group=hostile)
    assert (excinfo.value.field, excinfo.value.value) == ("group", hostile)


@pytest.mark.parametrize("hostile", ["SIM PRI", "N)X(", "N\r"])
def test_a_hostile_node_name_is_refused_naming_node(profile: SiteProfile, hostile: str) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        profile.command("start_node", node=hostile)
    assert (excinfo.value.field, excinfo.value.value) == ("node", hostile)


@pytest.mark.parametrize("delay", [-1, 100000, True, 1.5, "10"])
def test_an_invalid_delay_is_refused(profile: SiteProfile, delay: Any) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        profile.command("end_group", group="ORDERS", delay=delay)
    assert (excinfo.value.field, excinfo.value.value) == ("delay", delay)


def test_the_largest_delay_is_accepted(profile: SiteProfile) -> None:
    command = profile.command("end_group", group="ORDERS", delay=99999)
    assert command.render().endswith(" DELAY(99999)")


def test_values_unused_by_a_template_do_not_appear(profile: SiteProfile) -> None:
    # start_cluster uses no placeholder; a group given anyway changes nothing.
    assert profile.command("start_cluster", group="ORDERS").render() == "ICLUSTER/DMSTRCST"


def test_a_template_without_a_library_renders_unqualified() -> None:
    custom = _profile(commands__start_cluster="DMSTRCST")
    command = custom.command("start_cluster")
    assert (command.library, command.command, command.render()) == (None, "DMSTRCST", "DMSTRCST")


def test_template_whitespace_is_collapsed() -> None:
    custom = _profile(commands__mark_positions="  {product_library}/DMMRKPOS    GROUP({group})  ")
    assert custom.command("mark_positions", group="A").render() == "ICLUSTER/DMMRKPOS GROUP(A)"


def test_a_quoted_parameter_value_with_parentheses_stays_one_parameter() -> None:
    custom = _profile(
        commands__mark_positions="{product_library}/DMMRKPOS GROUP({group}) TEXT('a) b(')"
    )
    command = custom.command("mark_positions", group="A")
    assert command.parameters == (("GROUP", "A"), ("TEXT", "'a) b('"))


def test_other_sync_check_type_and_repair_are_used() -> None:
    custom = _profile(sync_check_type="*OBJDTA", repair=["*AUTH"])
    assert custom.command("sync_check", group="G").render() == (
        "ICLUSTER/DMSTRSC GROUP(G) SCTYPE(*OBJDTA) REPAIR(*AUTH)"
    )


# ---- site SQL ------------------------------------------------------------------------------

SITE_SQL = {
    "local_node": "SELECT NODE, ROLE FROM ICSIM.LOCAL_NODE",
    "event_log": (
        "SELECT MESSAGE_TIMESTAMP, NODE, GROUP_NAME, MESSAGE_ID, SEVERITY, MESSAGE_TEXT "
        "FROM ICSIM.EVENT_LOG WHERE GROUP_NAME = ? AND MESSAGE_TIMESTAMP >= ? "
        "ORDER BY MESSAGE_TIMESTAMP"
    ),
    "group_status": (
        "SELECT GROUP_NAME, STATUS, SYNC_CHECK_ACTIVE, CONTINUOUS_SYNC_CHECK "
        "FROM ICSIM.GROUP_STATUS WHERE GROUP_NAME = ?"
    ),
    "node_status": "SELECT NODE, STATUS FROM ICSIM.NODE_STATUS WHERE NODE = ?",
    "latency": (
        "SELECT GROUP_NAME, SOURCE_LATENCY_SECONDS, APPLY_LATENCY_SECONDS, BACKLOG_ENTRIES, "
        "LAST_APPLIED_SEQUENCE FROM ICSIM.GROUP_LATENCY WHERE GROUP_NAME = ?"
    ),
}

EXPECTED_PARAMS = {
    "local_node": (),
    "event_log": ("group", "since"),
    "group_status": ("group",),
    "node_status": ("node",),
    "latency": ("group",),
}


@pytest.mark.parametrize("name", sorted(SITE_SQL))
def test_statement_returns_the_site_sql_with_its_params(profile: SiteProfile, name: str) -> None:
    statement = profile.statement(name)
    assert statement.name == name
    assert statement.text == SITE_SQL[name]
    assert statement.params == EXPECTED_PARAMS[name] == SITE_SQL_PARAMS[name]
    assert statement.columns == SITE_SQL_COLUMNS[name]
    assert statement.confidence == "G"
    assert statement.text.count("?") == len(statement.params)


def test_every_site_statement_is_covered() -> None:
    assert set(SITE_SQL) == set(SITE_SQL_PARAMS) == set(SITE_SQL_COLUMNS)


def test_a_with_query_is_accepted_and_surrounding_blanks_are_stripped() -> None:
    sql = "  WITH L AS (SELECT NODE, ROLE FROM ICSIM.LOCAL_NODE) SELECT NODE, ROLE FROM L  "
    custom = _profile(sql__local_node=sql)
    assert custom.statement("local_node").text == sql.strip()


def test_a_write_keyword_inside_a_string_literal_is_not_a_write() -> None:
    sql = "SELECT NODE, STATUS FROM ICSIM.NODE_STATUS WHERE NODE = ? AND NOTE <> 'DELETE'"
    assert _profile(sql__node_status=sql).statement("node_status").text == sql


@pytest.mark.parametrize(
    ("name", "sql", "reason"),
    [
        pytest.param(
            "event_log",
            "UPDATE ICSIM.EVENT_LOG SET SEVERITY = ? WHERE GROUP_NAME = ?",
            "read-only query",
            id="update",
        ),
        pytest.param(
            "event_log",
            "SELECT * FROM ICSIM.EVENT_LOG WHERE GROUP_NAME = ? AND T >= ?; DROP TABLE X",
            "';' is not allowed",
            id="two-statements",
        ),
        pytest.param(
            "event_log",
            "SELECT * FROM ICSIM.EVENT_LOG WHERE GROUP_NAME = ? AND T >= ? -- c",
            "comment marker '--'",
            id="line-comment",
        ),
        pytest.param(
            "event_log",
            "SELECT * /* c */ FROM ICSIM.EVENT_LOG WHERE GROUP_NAME = ? AND T >= ?",
            "comment marker '/*'",
            id="block-comment",
        ),
        pytest.param(
            "group_status",
            "SELECT * FROM ICSIM.GROUP_STATUS",
            "0 '?' marker(s) but 1",
            id="missing-marker",
        ),
        pytest.param(
            "latency",
            "SELECT * FROM FINAL TABLE (DELETE FROM ICSIM.GROUP_LATENCY WHERE GROUP_NAME = ?)",
            "DELETE",
            id="delete-in-select",
        ),
        pytest.param(
            "node_status",
            "SELECT * FROM ICSIM.NODE_STATUS WHERE NODE = ? AND (1 = 1",
            "unbalanced parentheses",
            id="unbalanced",
        ),
        pytest.param(
            "local_node",
            "CALL QSYS2.QCMDEXC('DLTLIB X')",
            "read-only query",
            id="call",
        ),
    ],
)
def test_site_sql_that_is_not_one_read_only_select_is_refused(
    name: str, sql: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        _profile(**{f"sql__{name}": sql})
    assert f"site SQL statement {name!r}" in str(excinfo.value)
    assert reason in str(excinfo.value)


# ---- loading from a file -------------------------------------------------------------------


def test_load_site_profile_names_the_file_and_field(tmp_path: Path) -> None:
    data = set_at(profile_data(), "messages.sync_check_failed", "HELLO")
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(PlanError) as excinfo:
        load_site_profile(path)
    error = excinfo.value
    assert (error.source, error.field, error.value) == (
        str(path),
        "messages.sync_check_failed",
        "HELLO",
    )
    assert str(error).startswith(f"{path}: messages.sync_check_failed: ")


def test_load_site_profile_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as excinfo:
        load_site_profile(tmp_path / "nope.yaml")
    assert excinfo.value.source == str(tmp_path / "nope.yaml")
    assert "cannot read" in excinfo.value.message


def test_a_profile_is_frozen_and_strict(profile: SiteProfile) -> None:
    with pytest.raises(ValidationError):
        profile.product_library = "OTHER"  # type: ignore[misc]
    with pytest.raises(ValidationError) as excinfo:
        _profile(commands__start_everything="X")
    assert "start_everything" in str(excinfo.value)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param("commands.start_node", "{product_library}/DMSTRNODE NODE({lib})", id="lib"),
        pytest.param("commands.start_node", "{product_library}/DMSTRNODE NODE({0})", id="index"),
        pytest.param(
            "commands.start_node", "{product_library}/DMSTRNODE NODE({node:>5})", id="spec"
        ),
        pytest.param("commands.start_node", "{product_library}/DMSTRNODE NODE({node)", id="brace"),
        pytest.param("commands.start_node", "{product_library}/DMSTRNODE", id="no-node"),
        pytest.param("commands.start_node", "{product_library}/DMSTRNODE NODE({node}", id="paren"),
        pytest.param("commands.start_node", "{product_library}/DMSTRNODE *YES", id="positional"),
        pytest.param(
            "commands.start_node", "{product_library}/DMSTRNODE node({node})", id="lower-kw"
        ),
        pytest.param("messages.group_started", "SIM110", id="short-msgid"),
        pytest.param("messages.marked_position_pattern", "receiver (?P<receiver>.+)", id="no-seq"),
        pytest.param("repair", ["AUTH"], id="repair-no-star"),
        pytest.param("product_subsystem", "XDM CLUSTER", id="subsystem-blank"),
    ],
)
def test_a_broken_profile_is_refused_when_it_loads(path: str, value: Any) -> None:
    data = set_at(profile_data(), path, value)
    with pytest.raises(ValidationError):
        SiteProfile.model_validate(data)

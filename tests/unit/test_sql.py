"""Tests for the SQL catalog: golden text, DB2 for i syntax shape, binding and guards."""

from __future__ import annotations

import ast
import difflib
import os
import re
import sys
from pathlib import Path

import pytest

from ibmi_resync import sql
from ibmi_resync.sql import (
    CATALOG,
    HISTORY_LOG_MESSAGES,
    OS_RELEASE,
    SUBSYSTEM_STATUS,
    SqlStatement,
    normalise_row,
    render_catalog,
    rows_as_dicts,
    save_outfile_query,
    site_statement,
    subsystem_list_filter,
)

GOLDEN_FILE = Path(__file__).resolve().parents[1] / "golden" / "sql_catalog.sql"

# ibmi.md §8: services that are table functions (must be wrapped) and services that are views.
TABLE_FUNCTIONS = (
    "ACTIVE_JOB_INFO",
    "JOBLOG_INFO",
    "LIBRARY_INFO",
    "OBJECT_STATISTICS",
    "JOB_INFO",
    "GET_JOB_INFO",
    "HISTORY_LOG_INFO",
    "ENDED_JOB_INFO",
)
VIEWS = (
    "SUBSYSTEM_INFO",
    "USER_INFO",
    "OBJECT_LOCK_INFO",
    "SAVE_FILE_INFO",
    "SAVE_FILE_OBJECTS",
    "SYSTEM_STATUS_INFO",
)
# Statements whose columns ibmi.md labels [G] (or does not list): they must stay visibly "G".
GUESSED = {
    "jobs_by_name_any_status",
    "save_file_summary",
    "user_profile_status",
    "system_storage",
    "save_outfile_objects",
}

ALL_STATEMENTS = [*CATALOG.values(), save_outfile_query("RSYNCWRK", "SAVOBJOUT")]
_LITERAL_RE = re.compile(r"'(?:[^']|'')*'")
_CORRELATION_RE = re.compile(r"\)\s+([A-Z][A-Z0-9_]*)\b")
_CLAUSE_WORDS = {"WHERE", "ORDER", "GROUP", "FETCH", "JOIN", "ON", "UNION", "HAVING"}


def _without_literals(text: str) -> str:
    return _LITERAL_RE.sub("''", text)


def _closing_paren(text: str, open_index: int) -> int:
    """Index of the ')' matching the '(' at ``open_index`` (literals already removed)."""
    depth = 0
    for index in range(open_index, len(text)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    raise AssertionError(f"no closing parenthesis for index {open_index} in {text!r}")


def _select_list(text: str) -> list[str]:
    """Column expressions between the first SELECT and its top-level FROM."""
    body = _without_literals(text)
    start = re.match(r"\s*SELECT\s+", body)
    assert start, f"does not start with SELECT: {text!r}"
    depth = 0
    items, current = [], []
    index = start.end()
    while index < len(body):
        char = body[index]
        if depth == 0 and re.match(r"\sFROM\s", body[index : index + 6]):
            break
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        index += 1
    items.append("".join(current).strip())
    return items


class TestGolden:
    def test_render_catalog_matches_golden_file(self) -> None:
        rendered = render_catalog()
        if os.environ.get("UPDATE_GOLDEN") == "1":
            GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
            GOLDEN_FILE.write_text(rendered, encoding="utf-8")
        expected = GOLDEN_FILE.read_text(encoding="utf-8") if GOLDEN_FILE.exists() else ""
        if rendered != expected:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    rendered.splitlines(keepends=True),
                    fromfile=str(GOLDEN_FILE),
                    tofile="render_catalog()",
                )
            )
            pytest.fail(
                "render_catalog() differs from the golden file. If the SQL change is intended, "
                "regenerate with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_sql.py` and "
                f"review the diff before committing.\n{diff}"
            )

    def test_render_catalog_is_deterministic(self) -> None:
        assert render_catalog() == render_catalog()

    def test_golden_lists_every_statement(self) -> None:
        rendered = render_catalog()
        for statement in ALL_STATEMENTS:
            assert f"-- name:       {statement.name}\n" in rendered
            assert f"{statement.text};" in rendered


@pytest.mark.parametrize("statement", ALL_STATEMENTS, ids=lambda s: s.name)
class TestSyntaxShape:
    def test_table_functions_are_called_as_table_functions(self, statement: SqlStatement) -> None:
        text = _without_literals(statement.text)
        for function in TABLE_FUNCTIONS:
            for match in re.finditer(rf"\b{function}\b", text):
                prefix = text[: match.start()]
                assert prefix.endswith("TABLE(QSYS2."), (
                    f"{statement.name}: {function} must be called as TABLE(QSYS2.{function}(...))"
                )
                open_index = match.end()
                assert text[open_index] == "(", f"{statement.name}: {function} needs arguments"
                close_index = _closing_paren(text, open_index)
                rest = text[close_index + 1 :]
                correlation = _CORRELATION_RE.match(rest)
                assert correlation and correlation.group(1) not in _CLAUSE_WORDS, (
                    f"{statement.name}: TABLE(QSYS2.{function}(...)) needs a correlation name"
                )

    def test_views_are_never_wrapped_in_table(self, statement: SqlStatement) -> None:
        text = _without_literals(statement.text)
        for view in VIEWS:
            for match in re.finditer(rf"\b{view}\b", text):
                prefix = text[: match.start()]
                assert prefix.endswith("QSYS2."), f"{statement.name}: {view} must be qualified"
                assert not re.search(r"TABLE\s*\(\s*QSYS2\.$", prefix), (
                    f"{statement.name}: view {view} must not follow TABLE("
                )
                assert not text[match.end() :].lstrip().startswith("("), (
                    f"{statement.name}: view {view} takes no arguments"
                )

    def test_named_arguments_use_arrow(self, statement: SqlStatement) -> None:
        text = _without_literals(statement.text)
        for call in re.finditer(r"TABLE\(QSYS2\.[A-Z_]+\(", text):
            arguments = text[call.end() : _closing_paren(text, call.end() - 1)]
            if arguments.strip() and statement.name != "job_status":
                for argument in arguments.split(","):
                    assert "=>" in argument, f"{statement.name}: {argument!r} is not named"

    def test_no_select_star(self, statement: SqlStatement) -> None:
        text = _without_literals(statement.text)
        assert not re.search(r"SELECT\s+(DISTINCT\s+)?\*", text), statement.name
        assert not re.search(r"\b[A-Z][A-Z0-9_]*\.\*", text), statement.name

    def test_selected_columns_match_declared_columns(self, statement: SqlStatement) -> None:
        assert tuple(_select_list(statement.text)) == statement.columns

    def test_marker_count_equals_params(self, statement: SqlStatement) -> None:
        assert _without_literals(statement.text).count("?") == len(statement.params)

    def test_single_statement_without_comments(self, statement: SqlStatement) -> None:
        assert ";" not in statement.text
        assert "--" not in statement.text
        assert "/*" not in statement.text

    def test_parentheses_balanced(self, statement: SqlStatement) -> None:
        depth = 0
        for char in _without_literals(statement.text):
            depth += {"(": 1, ")": -1}.get(char, 0)
            assert depth >= 0, statement.name
        assert depth == 0, statement.name

    def test_identifiers_are_upper_case(self, statement: SqlStatement) -> None:
        text = _without_literals(statement.text)
        assert text == text.upper(), statement.name

    def test_read_only(self, statement: SqlStatement) -> None:
        assert statement.text.startswith("SELECT "), statement.name
        words = set(re.findall(r"[A-Z_]+", _without_literals(statement.text)))
        assert not words & {"INSERT", "UPDATE", "DELETE", "MERGE", "CALL", "QCMDEXC"}

    def test_metadata(self, statement: SqlStatement) -> None:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", statement.name)
        assert statement.confidence in ("V", "I", "G")
        assert statement.purpose.strip() and "\n" not in statement.purpose
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", param) for param in statement.params)

    def test_guessed_columns_stay_labelled_guessed(self, statement: SqlStatement) -> None:
        if statement.name in GUESSED:
            assert statement.confidence == "G", statement.name


class TestCatalog:
    def test_keys_are_statement_names(self) -> None:
        assert all(name == statement.name for name, statement in CATALOG.items())

    def test_catalog_is_read_only(self) -> None:
        with pytest.raises(TypeError):
            CATALOG["x"] = OS_RELEASE  # type: ignore[index]

    def test_module_constants_are_in_catalog(self) -> None:
        constants = {value.name for value in vars(sql).values() if isinstance(value, SqlStatement)}
        assert constants == set(CATALOG)

    def test_values_are_markers_not_literals(self) -> None:
        """Configuration values go through markers: only fixed special values are literals."""
        literals = {
            literal
            for statement in ALL_STATEMENTS
            for literal in _LITERAL_RE.findall(statement.text)
        }
        assert literals == {"'SBS'", "'SYS'", "'*'", "'*ALL'", "'QSYS'", "'*LIB'"}

    def test_module_imports_only_stdlib(self) -> None:
        tree = ast.parse(Path(sql.__file__).read_text(encoding="utf-8"))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert "airflow" not in imported
        assert imported <= set(sys.stdlib_module_names) | {"__future__"}


class TestBind:
    def test_returns_values_in_marker_order(self) -> None:
        bound = HISTORY_LOG_MESSAGES.bind(
            message_id_2="CPF3775", start_time="2025-01-01-00.00.00", message_id_1="CPC3705"
        )
        assert bound == ("2025-01-01-00.00.00", "CPC3705", "CPF3775")

    def test_subsystem_status_order(self) -> None:
        assert SUBSYSTEM_STATUS.bind(subsystem="QBATCH", subsystem_library="QSYS") == (
            "QSYS",
            "QBATCH",
        )

    def test_no_params(self) -> None:
        assert OS_RELEASE.bind() == ()

    def test_missing_parameter_is_named(self) -> None:
        with pytest.raises(ValueError, match=r"'subsystem_status'.*missing.*subsystem_library"):
            SUBSYSTEM_STATUS.bind(subsystem="QBATCH")

    def test_extra_parameter_is_named(self) -> None:
        with pytest.raises(ValueError, match=r"'os_release'.*unexpected.*library"):
            OS_RELEASE.bind(library="APPLIB")

    def test_none_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"'subsystem_status'.*subsystem.*None"):
            SUBSYSTEM_STATUS.bind(subsystem=None, subsystem_library="QSYS")

    def test_repeated_parameter_binds_twice(self) -> None:
        statement = SqlStatement(
            name="twice",
            text="SELECT A FROM B WHERE C = ? OR D = ?",
            params=("x", "x"),
            purpose="test",
            columns=("A",),
            confidence="G",
        )
        assert statement.bind(x=1) == (1, 1)


class TestSqlStatementInvariants:
    def _make(self, **overrides: object) -> SqlStatement:
        fields: dict[str, object] = {
            "name": "example",
            "text": "SELECT A FROM B WHERE C = ?",
            "params": ("c",),
            "purpose": "test",
            "columns": ("A",),
            "confidence": "V",
        }
        fields.update(overrides)
        return SqlStatement(**fields)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"params": ()}, "1 '\\?' marker"),
            ({"text": "SELECT A FROM B WHERE C = ?;"}, "';'"),
            ({"text": "SELECT A FROM B WHERE C = ? -- x"}, "comment"),
            ({"text": "SELECT A FROM (B WHERE C = ?"}, "parentheses"),
            ({"text": "SELECT A FROM B WHERE C = '?"}, "unterminated"),
            ({"confidence": "O"}, "confidence"),
            ({"name": "Bad-Name"}, "snake_case"),
            ({"purpose": "two\nlines"}, "purpose"),
        ],
    )
    def test_construction_checks(self, overrides: dict[str, object], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            self._make(**overrides)

    def test_marker_inside_literal_is_not_counted(self) -> None:
        statement = self._make(text="SELECT A FROM B WHERE C = ? AND D <> 'why?'")
        assert statement.params == ("c",)


class TestSaveOutfileQuery:
    def test_renders_qualified_name(self) -> None:
        statement = save_outfile_query("RSYNCWRK", "SAVOBJOUT")
        assert "  FROM RSYNCWRK.SAVOBJOUT\n" in statement.text
        assert statement.params == ()
        assert statement.confidence == "G"

    def test_special_characters_allowed_by_ibmi(self) -> None:
        statement = save_outfile_query("$LIB#1", "@OUT_1")
        assert "FROM $LIB#1.@OUT_1" in statement.text

    def test_name_with_period_is_delimited(self) -> None:
        statement = save_outfile_query("APP.LIB", "OUT")
        assert 'FROM "APP.LIB".OUT' in statement.text

    @pytest.mark.parametrize(
        "hostile",
        ["A;DROP", "lib x", "1ABC", "ABCDEFGHIJK", "", "applib", "A'B", 'A"B', "_LIB", "A--B"],
    )
    @pytest.mark.parametrize("argument", ["library", "file"])
    def test_refuses_invalid_names(self, argument: str, hostile: str) -> None:
        arguments = {"library": "RSYNCWRK", "file": "SAVOBJOUT", argument: hostile}
        with pytest.raises(ValueError, match=rf"^{argument}="):
            save_outfile_query(**arguments)


class TestSubsystemListFilter:
    def test_joins_with_commas_and_drops_duplicates(self) -> None:
        assert subsystem_list_filter(["QINTER", "QBATCH", "QINTER"]) == "QINTER,QBATCH"

    def test_refuses_more_than_25(self) -> None:
        with pytest.raises(ValueError, match="at most 25"):
            subsystem_list_filter([f"SBS{i}" for i in range(26)])

    @pytest.mark.parametrize("names", [[], ["QINTER", "q batch"], ["A,B"]])
    def test_refuses_invalid(self, names: list[str]) -> None:
        with pytest.raises(ValueError, match="subsystem"):
            subsystem_list_filter(names)


class TestSiteStatement:
    def test_accepts_read_only_select(self) -> None:
        statement = site_statement(
            "icluster_group_status",
            "  SELECT GROUP_NAME, STATUS FROM DMLIB.GRPSTS WHERE NODE = ? AND TXT <> 'DELETE?' ",
            ["node"],
            "Step 9: replication group status.",
            columns=["GROUP_NAME", "STATUS"],
        )
        assert statement.text.startswith("SELECT ")
        assert statement.params == ("node",)
        assert statement.columns == ("GROUP_NAME", "STATUS")
        assert statement.confidence == "G"
        assert statement.bind(node="PRIMARY") == ("PRIMARY",)

    def test_accepts_with(self) -> None:
        statement = site_statement(
            "icluster_latency",
            "WITH L AS (SELECT GRP, LAT FROM DMLIB.LAT) SELECT GRP, LAT FROM L WHERE LAT > ?",
            ("threshold",),
            "After step 10: latency per group.",
        )
        assert statement.params == ("threshold",)

    @pytest.mark.parametrize(
        ("text", "params", "message"),
        [
            ("SELECT A FROM B; DELETE FROM B", (), "';'"),
            ("SELECT A FROM B;", (), "';'"),
            ("SELECT A FROM B -- hidden", (), "comment"),
            ("SELECT A /* x */ FROM B", (), "comment"),
            ("DELETE FROM DMLIB.EVENTS", (), "SELECT or WITH"),
            ("UPDATE DMLIB.EVENTS SET A = 1", (), "SELECT or WITH"),
            ("CALL QSYS2.QCMDEXC('DLTLIB APPLIB')", (), "SELECT or WITH"),
            ("SELECT A FROM FINAL TABLE (DELETE FROM DMLIB.EVENTS) X", (), "DELETE"),
            ("SELECT QSYS2.QCMDEXC('ENDSBS QBATCH') FROM SYSIBM.SYSDUMMY1", (), "QCMDEXC"),
            ("SELECT A FROM B FOR UPDATE", (), "UPDATE"),
            ("SELECT A FROM (B", (), "parentheses"),
            ("SELECT A FROM B) X", (), "parentheses"),
            ("SELECT A FROM B WHERE C = 'x", (), "unterminated"),
            ("SELECT A FROM B WHERE C = ?", (), "1 '\\?' marker"),
            ("SELECT A FROM B WHERE C = ?", ("c", "d"), "2 parameter"),
            ("", (), "SELECT or WITH"),
        ],
    )
    def test_refuses(self, text: str, params: tuple[str, ...], message: str) -> None:
        with pytest.raises(ValueError, match=message) as error:
            site_statement("icluster_events", text, params, "Event log.")
        assert "'icluster_events'" in str(error.value)

    def test_refuses_bad_name(self) -> None:
        with pytest.raises(ValueError, match=r"'Bad Name'.*snake_case"):
            site_statement("Bad Name", "SELECT A FROM B", (), "x")

    def test_refuses_params_given_as_string(self) -> None:
        with pytest.raises(ValueError, match=r"'icluster_events'.*sequence"):
            site_statement("icluster_events", "SELECT A FROM B WHERE C = ?", "c", "x")


class TestRows:
    DESCRIPTION = (
        ("job_name", str, None, 28, 28, 0, True),
        ("Job_Status", str, None, 4, 4, 0, True),
        ("SUBSYSTEM", str, None, 10, 10, 0, True),
    )

    def test_normalise_row_upper_cases_names(self) -> None:
        row = ("123456/QUSER/QZDASOINIT", "RUN", "QUSRWRK")
        assert normalise_row(self.DESCRIPTION, row) == {
            "JOB_NAME": "123456/QUSER/QZDASOINIT",
            "JOB_STATUS": "RUN",
            "SUBSYSTEM": "QUSRWRK",
        }

    def test_rows_as_dicts(self) -> None:
        rows = [("1/A/B", "RUN", "QBATCH"), ("2/A/C", "MSGW", "QBATCH")]
        result = rows_as_dicts(self.DESCRIPTION, rows)
        assert [r["JOB_STATUS"] for r in result] == ["RUN", "MSGW"]
        assert rows_as_dicts(self.DESCRIPTION, []) == []

    def test_length_mismatch(self) -> None:
        with pytest.raises(ValueError, match="2 value"):
            normalise_row(self.DESCRIPTION, ("a", "b"))
        with pytest.raises(ValueError, match="2 value"):
            rows_as_dicts(self.DESCRIPTION, [("a", "b")])

    def test_duplicate_names_after_upper_casing(self) -> None:
        description = (("status", str), ("STATUS", str))
        with pytest.raises(ValueError, match=r"duplicate column name.*STATUS"):
            normalise_row(description, ("A", "B"))

    def test_no_result_set(self) -> None:
        with pytest.raises(ValueError, match="no result set"):
            normalise_row(None, ())

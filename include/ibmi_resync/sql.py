"""Catalog of every SQL statement the resync sends to DB2 for i over ODBC.

Why one catalog: the statements are the contract with IBM i. Keeping them here, written exactly
as DB2 for i accepts them (views as views, table functions as ``TABLE(QSYS2.NAME(...)) X``,
named arguments with ``=>``, a ``?`` marker for every value that comes from configuration or
from an earlier answer), lets reviewers check the SQL once, lets a golden file show every change
in review, and keeps string formatting of values out of the product. Each statement carries
the confidence label of the IBM i services and columns it uses (``ibmi.md`` §0: V verified,
I inferred, G guessed) so that guessed column names stay visible until someone confirms them on
a real system.

The module is stdlib-only (no Airflow, no pyodbc): it is shared by operators, the simulator and
the tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

__all__ = [
    "ACTIVE_JOBS_BY_NAME",
    "CATALOG",
    "CURRENT_JOB",
    "HISTORY_LOG_MESSAGES",
    "JOBS_BY_NAME_ANY_STATUS",
    "JOB_LOG",
    "JOB_STATUS",
    "LIBRARY_EXISTS",
    "LIBRARY_OBJECTS",
    "LIBRARY_OBJECT_LOCKS",
    "LIBRARY_SUMMARY",
    "NODE_CLOCK",
    "OS_RELEASE",
    "SAVE_FILE_OBJECTS",
    "SAVE_FILE_SUMMARY",
    "SUBSYSTEM_STATUS",
    "SUBSYSTEM_USER_JOBS",
    "SYSTEM_STORAGE",
    "USER_PROFILE_STATUS",
    "Confidence",
    "SqlStatement",
    "normalise_row",
    "render_catalog",
    "rows_as_dicts",
    "save_outfile_query",
    "site_statement",
    "subsystem_list_filter",
]

Confidence = Literal["V", "I", "G"]

_CONFIDENCE_VALUES: Final = ("V", "I", "G")
_SNAKE_CASE_RE: Final = re.compile(r"^[a-z][a-z0-9_]*$")
# IBM i *NAME rule for library / file names that must appear as identifiers (not markers).
_IBMI_NAME_RE: Final = re.compile(r"^[A-Z$#@][A-Z0-9$#@_.]{0,9}$")
_WORD_RE: Final = re.compile(r"[A-Za-z_$#@][A-Za-z0-9_$#@]*")
# ibmi.md §8: SUBSYSTEM_LIST_FILTER takes a comma list of at most 25 subsystem names.
_MAX_SUBSYSTEM_FILTER_NAMES: Final = 25

# Words that make a site-profile statement something other than a pure read. A leading
# SELECT/WITH is not enough: DB2 for i accepts data-change table references
# (SELECT ... FROM FINAL TABLE (DELETE ...)) and QSYS2.QCMDEXC runs CL (ibmi.md §4).
_FORBIDDEN_SITE_WORDS: Final = frozenset(
    {
        "ALTER",
        "CALL",
        "CREATE",
        "DELETE",
        "DROP",
        "GRANT",
        "INSERT",
        "LOCK",
        "MERGE",
        "QCMDEXC",
        "REFRESH",
        "RENAME",
        "REVOKE",
        "TRUNCATE",
        "UPDATE",
    }
)


@dataclass(frozen=True)
class _SqlScan:
    """What a lexical pass over SQL text found outside string literals and quoted names."""

    markers: int
    balanced_parentheses: bool
    unterminated_quote: str | None
    words: tuple[str, ...]


def _scan_sql(text: str) -> _SqlScan:
    """Walk SQL text once, skipping '...' literals and "..." delimited identifiers.

    Why a scanner and not ``text.count("?")``: a ``?`` or ``(`` inside a string literal is not
    a parameter marker or a parenthesis, and keywords inside literals are data, not SQL.
    Doubled quotes (``'it''s'``) are the SQL escape and stay inside the literal.
    """
    markers = 0
    depth = 0
    went_negative = False
    words: list[str] = []
    i = 0
    length = len(text)
    while i < length:
        char = text[i]
        if char in ("'", '"'):
            end = i + 1
            while True:
                end = text.find(char, end)
                if end < 0:
                    return _SqlScan(markers, False, char, tuple(words))
                if end + 1 < length and text[end + 1] == char:
                    end += 2
                    continue
                break
            i = end + 1
            continue
        word = _WORD_RE.match(text, i)
        if word:
            words.append(word.group().upper())
            i = word.end()
            continue
        if char == "?":
            markers += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            went_negative = went_negative or depth < 0
        i += 1
    return _SqlScan(markers, depth == 0 and not went_negative, None, tuple(words))


def _sql(*lines: str) -> str:
    """Join SQL lines with newlines; the layout is for humans, DB2 for i ignores it."""
    return "\n".join(lines)


@dataclass(frozen=True)
class SqlStatement:
    """One SQL statement the resync sends, with what a reviewer needs to judge it.

    Construction checks the invariants that would otherwise only show up on a real IBM i:
    the number of ``?`` markers equals the number of parameter names, parentheses and quotes
    are balanced, and the text is a single statement without comments.

    :param name: snake_case id, also the key in :data:`CATALOG`.
    :param text: the SQL exactly as sent (no trailing ``;``).
    :param params: parameter names in marker order; a name may repeat if the same value is
        bound to two markers.
    :param purpose: one line: why the resync needs it and which runbook step uses it.
    :param columns: the result columns the statement selects, in order.
    :param confidence: weakest ``ibmi.md`` label of the services and columns used
        ("V" verified, "I" inferred, "G" guessed).
    """

    name: str
    text: str
    params: tuple[str, ...]
    purpose: str
    columns: tuple[str, ...]
    confidence: Confidence

    def __post_init__(self) -> None:
        # Accept any sequence from callers but store tuples so the statement stays hashable;
        # a bare string would silently become a tuple of characters.
        if isinstance(self.params, str) or isinstance(self.columns, str):
            raise ValueError(
                f"SQL statement {self.name!r}: params and columns must be sequences, not strings"
            )
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "columns", tuple(self.columns))
        label = f"SQL statement {self.name!r}"
        if not _SNAKE_CASE_RE.match(self.name):
            raise ValueError(f"{label}: name must be snake_case ([a-z][a-z0-9_]*)")
        if self.confidence not in _CONFIDENCE_VALUES:
            raise ValueError(
                f"{label}: confidence must be one of {_CONFIDENCE_VALUES}, got {self.confidence!r}"
            )
        if not self.purpose.strip() or "\n" in self.purpose:
            raise ValueError(f"{label}: purpose must be one non-empty line")
        for param in self.params:
            if not _SNAKE_CASE_RE.match(param):
                raise ValueError(f"{label}: parameter name {param!r} must be snake_case")
        if ";" in self.text:
            raise ValueError(f"{label}: ';' is not allowed (one statement per text)")
        for marker in ("--", "/*", "*/"):
            if marker in self.text:
                raise ValueError(f"{label}: comment marker {marker!r} is not allowed")
        scan = _scan_sql(self.text)
        if scan.unterminated_quote is not None:
            raise ValueError(f"{label}: unterminated {scan.unterminated_quote} quote")
        if not scan.balanced_parentheses:
            raise ValueError(f"{label}: unbalanced parentheses")
        if scan.markers != len(self.params):
            raise ValueError(
                f"{label}: {scan.markers} '?' marker(s) but {len(self.params)} parameter "
                f"name(s) {self.params}"
            )

    def bind(self, **values: Any) -> tuple[Any, ...]:
        """Return the values in marker order, for ``cursor.execute(stmt.text, stmt.bind(...))``.

        Why strict: a missing value would be an ODBC error at best; an extra one usually means
        the caller bound the wrong statement; and ``None`` compares as NULL, so ``= ?`` silently
        matches nothing and "no rows" would be misread as "object absent".

        :raises ValueError: naming the statement and the missing, unexpected or None parameter.
        """
        label = f"SQL statement {self.name!r}"
        expected = dict.fromkeys(self.params)
        missing = [param for param in expected if param not in values]
        unexpected = sorted(set(values) - set(expected))
        problems = []
        if missing:
            problems.append(f"missing parameter(s) {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected parameter(s) {', '.join(unexpected)}")
        if problems:
            raise ValueError(
                f"{label}: {'; '.join(problems)} (expects {', '.join(self.params) or 'none'})"
            )
        nulls = [param for param in expected if values[param] is None]
        if nulls:
            raise ValueError(f"{label}: parameter(s) {', '.join(nulls)} must not be None")
        return tuple(values[param] for param in self.params)


# --------------------------------------------------------------------------------------------
# Subsystems and jobs (runbook step 1: end the applications, their subsystems, users off)
# --------------------------------------------------------------------------------------------

# ibmi.md §7.2, §8: SUBSYSTEM_INFO is a VIEW [V]; columns STATUS, CURRENT_ACTIVE_JOBS [V]
# (the STATUS values ACTIVE/ENDING/INACTIVE/RESTRICTED/STARTING are [G]). The view lists
# inactive subsystem descriptions too, so "no row" means the *SBSD does not exist.
SUBSYSTEM_STATUS: Final = SqlStatement(
    name="subsystem_status",
    text=_sql(
        "SELECT STATUS, CURRENT_ACTIVE_JOBS",
        "  FROM QSYS2.SUBSYSTEM_INFO",
        " WHERE SUBSYSTEM_DESCRIPTION_LIBRARY = ?",
        "   AND SUBSYSTEM_DESCRIPTION = ?",
    ),
    params=("subsystem_library", "subsystem"),
    purpose=(
        "Step 1 and steps 7/9: is the application subsystem ended (ENDSBS is asynchronous, "
        "poll until INACTIVE) and is the iCluster subsystem active."
    ),
    columns=("STATUS", "CURRENT_ACTIVE_JOBS"),
    confidence="V",
)

# ibmi.md §7.2, §8: ACTIVE_JOB_INFO is a TABLE FUNCTION [V]; SUBSYSTEM_LIST_FILTER is a comma
# list of at most 25 names (bind subsystem_list_filter(...)); the JOB_TYPE exclusion is exactly
# Ansible's ibmi_display_subsystem pattern [V].
SUBSYSTEM_USER_JOBS: Final = SqlStatement(
    name="subsystem_user_jobs",
    text=_sql(
        "SELECT JOB_NAME, JOB_TYPE, JOB_STATUS, AUTHORIZATION_NAME, SUBSYSTEM",
        "  FROM TABLE(QSYS2.ACTIVE_JOB_INFO(SUBSYSTEM_LIST_FILTER => ?)) X",
        " WHERE JOB_TYPE NOT IN ('SBS', 'SYS')",
        " ORDER BY SUBSYSTEM, JOB_NAME",
    ),
    params=("subsystem_list",),
    purpose=(
        "Step 1: user work still running in the application subsystems (subsystem monitors "
        "and system jobs excluded); must be empty before the save."
    ),
    columns=("JOB_NAME", "JOB_TYPE", "JOB_STATUS", "AUTHORIZATION_NAME", "SUBSYSTEM"),
    confidence="V",
)

# ibmi.md §7.2, §9.3: ACTIVE_JOB_INFO(JOB_NAME_FILTER => '*') returns the current job, i.e. the
# QZDASOINIT job serving this ODBC connection [V]. '*' is a fixed special value, not input.
CURRENT_JOB: Final = SqlStatement(
    name="current_job",
    text=_sql(
        "SELECT JOB_NAME, JOB_TYPE, SUBSYSTEM, AUTHORIZATION_NAME",
        "  FROM TABLE(QSYS2.ACTIVE_JOB_INFO(JOB_NAME_FILTER => '*')) X",
    ),
    params=(),
    purpose=(
        "Step 1: qualified name of this connection's own server job, so it is excluded from "
        "the 'users still on' and object-lock checks."
    ),
    columns=("JOB_NAME", "JOB_TYPE", "SUBSYSTEM", "AUTHORIZATION_NAME"),
    confidence="V",
)

# ibmi.md §7.1, §8: GET_JOB_INFO is a TABLE FUNCTION taking the qualified job name; Ansible's
# ibmi_submit_job polls exactly V_JOB_STATUS this way after SBMJOB [V]. JOB_INFO has no
# job-name filter in ibmi.md §8 (only status/type/subsystem/user/submitter), so it cannot look
# up one job directly. The argument is positional because ibmi.md does not name it.
# Not in ibmi.md: IBM's page says an unknown job raises an SQL error by default (IGNORE_ERRORS
# 'NO'), so the caller must treat that error as "job gone", not as a connection failure.
JOB_STATUS: Final = SqlStatement(
    name="job_status",
    text=_sql(
        "SELECT V_JOB_STATUS, V_ACTIVE_JOB_STATUS",
        "  FROM TABLE(QSYS2.GET_JOB_INFO(?)) X",
    ),
    params=("qualified_job_name",),
    purpose=(
        "Steps 3/6: poll a SBMJOB save/restore job by 'nnnnnn/USER/NAME' (*JOBQ, *ACTIVE, "
        "*OUTQ); GET_JOB_INFO because it takes that name directly, as Ansible does [V]."
    ),
    columns=("V_JOB_STATUS", "V_ACTIVE_JOB_STATUS"),
    confidence="V",
)

# ibmi.md §8: ACTIVE_JOB_INFO JOB_NAME_FILTER takes a (generic) short job name [V]; columns [V].
# Chosen over JOB_INFO because ibmi.md lists no JOB_INFO columns (JOB_NAME_SHORT unverified
# there). Limitation: only *ACTIVE jobs; see JOBS_BY_NAME_ANY_STATUS for *JOBQ / *OUTQ.
ACTIVE_JOBS_BY_NAME: Final = SqlStatement(
    name="active_jobs_by_name",
    text=_sql(
        "SELECT JOB_NAME, JOB_TYPE, JOB_STATUS, AUTHORIZATION_NAME, SUBSYSTEM",
        "  FROM TABLE(QSYS2.ACTIVE_JOB_INFO(JOB_NAME_FILTER => ?)) X",
        " ORDER BY JOB_NAME",
    ),
    params=("job_name",),
    purpose=(
        "Steps 3/6: before SBMJOB, re-find a still-active job an earlier attempt submitted "
        "under the same deterministic job name; ACTIVE_JOB_INFO because its columns are [V]."
    ),
    columns=("JOB_NAME", "JOB_TYPE", "JOB_STATUS", "AUTHORIZATION_NAME", "SUBSYSTEM"),
    confidence="V",
)

# ibmi.md §8: JOB_INFO is a TABLE FUNCTION with JOB_STATUS_FILTER ('*ALL' = jobq, active and
# outq jobs) and JOB_USER_FILTER [V]; its result columns are NOT listed in ibmi.md, so
# JOB_NAME, JOB_STATUS, JOB_TYPE and JOB_NAME_SHORT are [G] here (IBM's page dates
# JOB_NAME_SHORT to 7.4 SF99704 L13 / 7.3 SF99703 L24). Kept because an earlier attempt's job
# may still wait on a job queue or have ended, which ACTIVE_JOBS_BY_NAME cannot see.
JOBS_BY_NAME_ANY_STATUS: Final = SqlStatement(
    name="jobs_by_name_any_status",
    text=_sql(
        "SELECT JOB_NAME, JOB_STATUS, JOB_TYPE",
        "  FROM TABLE(QSYS2.JOB_INFO(JOB_STATUS_FILTER => '*ALL', JOB_USER_FILTER => ?)) X",
        " WHERE JOB_NAME_SHORT = ?",
        " ORDER BY JOB_NAME",
    ),
    params=("job_user", "job_name"),
    purpose=(
        "Steps 3/6: re-find an earlier attempt's job in any state (job queue, active, ended) "
        "by user and short name; column names unverified, confirm before relying on it."
    ),
    columns=("JOB_NAME", "JOB_STATUS", "JOB_TYPE"),
    confidence="G",
)

# ibmi.md §8: JOBLOG_INFO is a TABLE FUNCTION with named argument JOB_NAME ('*' = current job)
# [V]; the column list is the one Ansible's get_job_log reads [V].
JOB_LOG: Final = SqlStatement(
    name="job_log",
    text=_sql(
        "SELECT ORDINAL_POSITION, MESSAGE_ID, MESSAGE_TYPE, SEVERITY, MESSAGE_TIMESTAMP,",
        "       MESSAGE_TEXT, MESSAGE_SECOND_LEVEL_TEXT",
        "  FROM TABLE(QSYS2.JOBLOG_INFO(JOB_NAME => ?)) X",
        " ORDER BY ORDINAL_POSITION",
    ),
    params=("qualified_job_name",),
    purpose=(
        "Steps 3/7: read a save or restore job log (bind '*' for this connection's job after "
        "QCMDEXC) to classify CPF37xx messages and keep it as evidence."
    ),
    columns=(
        "ORDINAL_POSITION",
        "MESSAGE_ID",
        "MESSAGE_TYPE",
        "SEVERITY",
        "MESSAGE_TIMESTAMP",
        "MESSAGE_TEXT",
        "MESSAGE_SECOND_LEVEL_TEXT",
    ),
    confidence="V",
)

# --------------------------------------------------------------------------------------------
# Libraries and objects (steps 3, 5, 7: save, clear the BACKUP libraries, verify the restore)
# --------------------------------------------------------------------------------------------

# ibmi.md §8: LIBRARY_INFO is a TABLE FUNCTION, named argument LIBRARY_NAME; OBJECT_COUNT and
# LIBRARY_SIZE [V]. The default DETAILED_INFO computes the size, which can take a while on
# large libraries.
LIBRARY_SUMMARY: Final = SqlStatement(
    name="library_summary",
    text=_sql(
        "SELECT OBJECT_COUNT, LIBRARY_SIZE",
        "  FROM TABLE(QSYS2.LIBRARY_INFO(LIBRARY_NAME => ?)) X",
    ),
    params=("library",),
    purpose=(
        "Steps 3/7: object count and size of a library, compared PRIMARY vs BACKUP as a "
        "cheap check that the restore is complete."
    ),
    columns=("OBJECT_COUNT", "LIBRARY_SIZE"),
    confidence="V",
)

# ibmi.md §8: OBJECT_STATISTICS is a TABLE FUNCTION with OBJECT_SCHEMA and OBJTYPELIST [V];
# OBJNAME, OBJTYPE, OBJSIZE, CHANGE_TIMESTAMP [V]. Partial results come with SQL warning 01548.
LIBRARY_OBJECTS: Final = SqlStatement(
    name="library_objects",
    text=_sql(
        "SELECT OBJNAME, OBJTYPE, OBJSIZE, CHANGE_TIMESTAMP",
        "  FROM TABLE(QSYS2.OBJECT_STATISTICS(OBJECT_SCHEMA => ?, OBJTYPELIST => '*ALL')) X",
        " ORDER BY OBJNAME, OBJTYPE",
    ),
    params=("library",),
    purpose=(
        "Steps 3/7: per-object list of a library, diffed PRIMARY vs BACKUP to name what the "
        "restore missed."
    ),
    columns=("OBJNAME", "OBJTYPE", "OBJSIZE", "CHANGE_TIMESTAMP"),
    confidence="V",
)

# ibmi.md §8: OBJECT_STATISTICS with OBJECT_SCHEMA 'QSYS', OBJTYPELIST '*LIB' and OBJECT_NAME
# [V]: libraries are *LIB objects in QSYS. No row = the library does not exist.
LIBRARY_EXISTS: Final = SqlStatement(
    name="library_exists",
    text=_sql(
        "SELECT OBJNAME",
        "  FROM TABLE(QSYS2.OBJECT_STATISTICS(OBJECT_SCHEMA => 'QSYS', OBJTYPELIST => '*LIB',",
        "                                     OBJECT_NAME => ?)) X",
    ),
    params=("library",),
    purpose=(
        "Steps 5/6: does the library exist (query before CLRLIB on BACKUP and before RSTLIB, "
        "instead of acting and grepping the job log)."
    ),
    columns=("OBJNAME",),
    confidence="V",
)

# ibmi.md §7.2, §8: OBJECT_LOCK_INFO is a VIEW; always add a WHERE [V]. Only the [V] columns
# are selected: the lock state/status column names are not given in ibmi.md, and a wrong
# column name would fail this gate query outright (SQL0206).
LIBRARY_OBJECT_LOCKS: Final = SqlStatement(
    name="library_object_locks",
    text=_sql(
        "SELECT SYSTEM_OBJECT_NAME, SYSTEM_TABLE_MEMBER, OBJECT_TYPE, JOB_NAME",
        "  FROM QSYS2.OBJECT_LOCK_INFO",
        " WHERE SYSTEM_OBJECT_SCHEMA = ?",
        " ORDER BY SYSTEM_OBJECT_NAME, JOB_NAME",
    ),
    params=("library",),
    purpose=(
        "Steps 1/5: jobs still holding locks on objects of a library, which would make the "
        "save skip objects or CLRLIB fail."
    ),
    columns=("SYSTEM_OBJECT_NAME", "SYSTEM_TABLE_MEMBER", "OBJECT_TYPE", "JOB_NAME"),
    confidence="V",
)

# --------------------------------------------------------------------------------------------
# Save files and save output (steps 3, 4, 6)
# --------------------------------------------------------------------------------------------

# ibmi.md §5.5, §8: SAVE_FILE_INFO is a VIEW filtered by SAVE_FILE_LIBRARY and SAVE_FILE [V
# kind]; its other column names are [G] (§13 gap 5). Needs 7.5 SF99950 L4 / 7.4 SF99704 L25.
SAVE_FILE_SUMMARY: Final = SqlStatement(
    name="save_file_summary",
    text=_sql(
        "SELECT SAVE_COMMAND, SAVE_TIMESTAMP, OBJECTS_SAVED, TARGET_RELEASE",
        "  FROM QSYS2.SAVE_FILE_INFO",
        " WHERE SAVE_FILE_LIBRARY = ?",
        "   AND SAVE_FILE = ?",
    ),
    params=("save_file_library", "save_file"),
    purpose=(
        "Steps 3/4: what a save file holds (command, time, object count, target release) "
        "before it is transported; column names guessed, confirm on a real system."
    ),
    columns=("SAVE_COMMAND", "SAVE_TIMESTAMP", "OBJECTS_SAVED", "TARGET_RELEASE"),
    confidence="G",
)

# ibmi.md §5.5, §8: SAVE_FILE_OBJECTS is both a VIEW and a table function; the view is used
# (no table function needed) with the [V] columns. Same PTF level as SAVE_FILE_INFO.
SAVE_FILE_OBJECTS: Final = SqlStatement(
    name="save_file_objects",
    text=_sql(
        "SELECT LIBRARY_NAME, OBJECT_NAME, OBJECT_TYPE, OBJECT_ATTRIBUTE",
        "  FROM QSYS2.SAVE_FILE_OBJECTS",
        " WHERE SAVE_FILE_LIBRARY = ?",
        "   AND SAVE_FILE = ?",
        " ORDER BY LIBRARY_NAME, OBJECT_NAME, OBJECT_TYPE",
    ),
    params=("save_file_library", "save_file"),
    purpose=(
        "Steps 4/6: objects inside a save file, checked on PRIMARY after the save and on "
        "BACKUP after transport, before the restore."
    ),
    columns=("LIBRARY_NAME", "OBJECT_NAME", "OBJECT_TYPE", "OBJECT_ATTRIBUTE"),
    confidence="V",
)

# ibmi.md §5.5: save commands with OUTPUT(*OUTFILE) write model QSYS/QASAVOBJ, format QSRSAV
# [V]; the field names below are [G] (ibmi.md names the "Error message ID" field only by its
# description; SROATT follows a third-party copy of QASAVOBJ's layout — confirm with
# DSPFFD QSYS/QASAVOBJ). The outfile is a plain physical file, queried directly.
_SAVE_OUTFILE_COLUMNS: Final = (
    "SROLIB",
    "SRONAM",
    "SROTYP",
    "SROATT",
    "SROSIZ",
    "SROSTA",
    "SROMSG",
)


def _check_ibmi_name(argument: str, value: str) -> str:
    """Return ``value`` if it satisfies the IBM i *NAME rule, else raise naming ``argument``."""
    if not isinstance(value, str) or not _IBMI_NAME_RE.match(value):
        raise ValueError(
            f"{argument}={value!r} is not an IBM i name: 1-10 characters, upper-case A-Z, "
            "0-9, $ # @ _ . and not starting with a digit, '_' or '.'"
        )
    return value


def _sql_identifier(name: str) -> str:
    """Render a validated IBM i name as an SQL identifier.

    Why quoting only sometimes: a '.' is legal in an IBM i name but is the qualifier separator
    in SQL, so such a name must be a delimited identifier. Every other validated name is
    already an upper-case ordinary identifier and is rendered as is.
    """
    return f'"{name}"' if "." in name else name


def save_outfile_query(library: str, file: str) -> SqlStatement:
    """Statement reading a save's OUTPUT(*OUTFILE) result (model QASAVOBJ) from ``library/file``.

    Why a function: DB2 does not allow parameter markers in a FROM clause, so the outfile name
    must be part of the text. It is therefore accepted only when it matches the IBM i *NAME
    rule, which cannot carry quotes, blanks, ``;`` or comment markers.

    :param library: library of the outfile, e.g. ``RSYNCWRK``.
    :param file: outfile name given on the save command's OUTFILE parameter.
    :return: a parameterless statement (runbook step 3: per-object saved / not-saved status).
    :raises ValueError: naming ``library`` or ``file`` when it is not a valid IBM i name.
    """
    _check_ibmi_name("library", library)
    _check_ibmi_name("file", file)
    columns = ", ".join(_SAVE_OUTFILE_COLUMNS)
    return SqlStatement(
        name="save_outfile_objects",
        text=_sql(
            f"SELECT {columns}",
            f"  FROM {_sql_identifier(library)}.{_sql_identifier(file)}",
            " ORDER BY SROLIB, SRONAM, SROTYP",
        ),
        params=(),
        purpose=(
            "Step 3: per-object saved status and error message ID from the save's "
            "OUTPUT(*OUTFILE) (QASAVOBJ); field names guessed, confirm with DSPFFD."
        ),
        columns=_SAVE_OUTFILE_COLUMNS,
        confidence="G",
    )


# --------------------------------------------------------------------------------------------
# User profiles, storage, release, history log (steps 3 and 6)
# --------------------------------------------------------------------------------------------

# ibmi.md §8: USER_INFO is a VIEW filtered by AUTHORIZATION_NAME [V kind]; columns [G].
USER_PROFILE_STATUS: Final = SqlStatement(
    name="user_profile_status",
    text=_sql(
        "SELECT AUTHORIZATION_NAME, STATUS",
        "  FROM QSYS2.USER_INFO",
        " WHERE AUTHORIZATION_NAME = ?",
    ),
    params=("user_profile",),
    purpose=(
        "Step 6: does a user profile exist on BACKUP and is it enabled, after RSTUSRPRF and "
        "before restoring objects it owns; columns guessed."
    ),
    columns=("AUTHORIZATION_NAME", "STATUS"),
    confidence="G",
)

# ibmi.md §8: SYSTEM_STATUS_INFO is a VIEW [V]; exact column names [G].
SYSTEM_STORAGE: Final = SqlStatement(
    name="system_storage",
    text=_sql(
        "SELECT SYSTEM_ASP_USED, SYSTEM_ASP_STORAGE, TOTAL_AUXILIARY_STORAGE",
        "  FROM QSYS2.SYSTEM_STATUS_INFO",
    ),
    params=(),
    purpose=(
        "Steps 3/6: system ASP percentage used and capacity, to refuse a save to SAVF or a "
        "restore that would fill the ASP; column names guessed."
    ),
    columns=("SYSTEM_ASP_USED", "SYSTEM_ASP_STORAGE", "TOTAL_AUXILIARY_STORAGE"),
    confidence="G",
)

# ibmi.md §8: SYSIBMADM.ENV_SYS_INFO is a VIEW; OS_VERSION, OS_RELEASE as Ansible's
# get_ibmi_release reads them [V].
OS_RELEASE: Final = SqlStatement(
    name="os_release",
    text=_sql(
        "SELECT OS_VERSION, OS_RELEASE",
        "  FROM SYSIBMADM.ENV_SYS_INFO",
    ),
    params=(),
    purpose=(
        "Step 3: release of each node, so the save's TGTRLS is not above the BACKUP "
        "release (ibmi.md §6)."
    ),
    columns=("OS_VERSION", "OS_RELEASE"),
    confidence="V",
)

# ibmi.md §8: HISTORY_LOG_INFO is a TABLE FUNCTION with named argument START_TIME [V]; columns
# [V]. RSTUSRPRF's completion messages CPC3705 / CPF3775 go to QHST (§8, §12).
HISTORY_LOG_MESSAGES: Final = SqlStatement(
    name="history_log_messages",
    text=_sql(
        "SELECT ORDINAL_POSITION, MESSAGE_ID, MESSAGE_TYPE, SEVERITY, MESSAGE_TIMESTAMP,",
        "       FROM_USER, FROM_JOB, MESSAGE_TEXT",
        "  FROM TABLE(QSYS2.HISTORY_LOG_INFO(START_TIME => ?)) X",
        " WHERE MESSAGE_ID IN (?, ?)",
        " ORDER BY ORDINAL_POSITION",
    ),
    params=("start_time", "message_id_1", "message_id_2"),
    purpose=(
        "Step 6: RSTUSRPRF completion (CPC3705 / CPF3775) from the history log since the "
        "restore started, because those messages go to QHST."
    ),
    columns=(
        "ORDINAL_POSITION",
        "MESSAGE_ID",
        "MESSAGE_TYPE",
        "SEVERITY",
        "MESSAGE_TIMESTAMP",
        "FROM_USER",
        "FROM_JOB",
        "MESSAGE_TEXT",
    ),
    confidence="V",
)

# A one-row VALUES table with the node's clock: DB2 for i accepts CURRENT_TIMESTAMP and a
# VALUES table in FROM (DB2 for i SQL reference) [I]; it is the clock the iCluster event
# log's timestamps are written with.
NODE_CLOCK: Final = SqlStatement(
    name="node_clock",
    text=_sql(
        "SELECT NOW",
        "  FROM (VALUES (CURRENT_TIMESTAMP)) AS CLOCK (NOW)",
    ),
    params=(),
    purpose=(
        "Steps 2/8: the node's time just before DMMRKPOS or DMSTRSC, so only event-log "
        "messages written after it end the wait (no clock skew with the worker)."
    ),
    columns=("NOW",),
    confidence="I",
)


CATALOG: Final[Mapping[str, SqlStatement]] = MappingProxyType(
    {
        statement.name: statement
        for statement in (
            SUBSYSTEM_STATUS,
            SUBSYSTEM_USER_JOBS,
            CURRENT_JOB,
            JOB_STATUS,
            ACTIVE_JOBS_BY_NAME,
            JOBS_BY_NAME_ANY_STATUS,
            JOB_LOG,
            LIBRARY_SUMMARY,
            LIBRARY_OBJECTS,
            LIBRARY_EXISTS,
            LIBRARY_OBJECT_LOCKS,
            SAVE_FILE_SUMMARY,
            SAVE_FILE_OBJECTS,
            USER_PROFILE_STATUS,
            SYSTEM_STORAGE,
            OS_RELEASE,
            HISTORY_LOG_MESSAGES,
            NODE_CLOCK,
        )
    }
)
"""Every fixed statement by name, in runbook order. ``save_outfile_query`` and
``site_statement`` build the two kinds that cannot be fixed at import time."""


def subsystem_list_filter(subsystems: Iterable[str]) -> str:
    """Value to bind to ``SUBSYSTEM_USER_JOBS``: the comma list SUBSYSTEM_LIST_FILTER expects.

    Why: ibmi.md §8 allows at most 25 names in one comma-separated string; more, blanks or an
    empty list would make the service fail or filter nothing. Duplicates are dropped.

    :raises ValueError: on an invalid name, an empty list or more than 25 names.
    """
    names = list(dict.fromkeys(subsystems))
    for name in names:
        _check_ibmi_name("subsystem", name)
    if not names:
        raise ValueError("subsystems: at least one subsystem name is required")
    if len(names) > _MAX_SUBSYSTEM_FILTER_NAMES:
        raise ValueError(
            f"subsystems: SUBSYSTEM_LIST_FILTER takes at most {_MAX_SUBSYSTEM_FILTER_NAMES} "
            f"names, got {len(names)}; query in batches"
        )
    return ",".join(names)


def site_statement(
    name: str,
    text: str,
    params: Sequence[str],
    purpose: str,
    *,
    columns: Sequence[str] = (),
) -> SqlStatement:
    """Wrap SQL from the site profile (iCluster event log, group status, latency).

    Why: iCluster keeps that data in its own product library with undocumented, site-specific
    layouts (not QSYS2), so the SQL cannot live in this catalog. It is accepted only as one
    read-only query: it must start with SELECT or WITH, contain no ``;`` and no comment markers,
    have balanced parentheses and quotes, no data-changing or CL-running keyword outside string
    literals, and exactly one ``?`` per parameter name. The result is labelled "G": nothing in
    ibmi.md verifies it.

    :param name: snake_case id used in logs and errors.
    :param text: the SQL as written in the site profile.
    :param params: parameter names in marker order.
    :param purpose: one line: why the resync needs it.
    :param columns: result columns, when the site profile declares them.
    :raises ValueError: naming the statement and the rule it breaks.
    """
    label = f"site SQL statement {name!r}"
    if isinstance(params, str) or isinstance(columns, str):
        raise ValueError(f"{label}: params and columns must be a sequence of names, not a string")
    stripped = text.strip()
    if ";" in stripped:
        raise ValueError(f"{label}: ';' is not allowed: exactly one statement")
    for marker in ("--", "/*", "*/"):
        if marker in stripped:
            raise ValueError(f"{label}: comment marker {marker!r} is not allowed")
    scan = _scan_sql(stripped)
    if not scan.words or scan.words[0] not in ("SELECT", "WITH"):
        raise ValueError(f"{label}: must be a read-only query starting with SELECT or WITH")
    if scan.unterminated_quote is not None:
        raise ValueError(f"{label}: unterminated {scan.unterminated_quote} quote")
    if not scan.balanced_parentheses:
        raise ValueError(f"{label}: unbalanced parentheses")
    forbidden = sorted(set(scan.words) & _FORBIDDEN_SITE_WORDS)
    if forbidden:
        raise ValueError(
            f"{label}: not read-only, contains {', '.join(forbidden)} outside string literals"
        )
    if scan.markers != len(params):
        raise ValueError(
            f"{label}: {scan.markers} '?' marker(s) but {len(params)} parameter name(s) "
            f"{tuple(params)}"
        )
    try:
        return SqlStatement(
            name=name,
            text=stripped,
            params=tuple(params),
            purpose=purpose,
            columns=tuple(columns),
            confidence="G",
        )
    except ValueError as error:  # re-label so the message says it came from the site profile
        raise ValueError(f"site profile: {error}") from error


def _column_names(description: Sequence[Sequence[Any]] | None) -> tuple[str, ...]:
    """Upper-case column names from a DB-API ``cursor.description``."""
    if description is None:
        raise ValueError("cursor.description is None: the statement returned no result set")
    names = tuple(str(column[0]).upper() for column in description)
    duplicates = sorted({column for column in names if names.count(column) > 1})
    if duplicates:
        raise ValueError(
            f"result has duplicate column name(s) {', '.join(duplicates)} after upper-casing"
        )
    return names


def normalise_row(
    description: Sequence[Sequence[Any]] | None, row: Sequence[Any]
) -> dict[str, Any]:
    """Turn a pyodbc row into a dict keyed by UPPER-case column name.

    Why: ODBC drivers and driver settings differ in the case they report column names in
    (and the simulator may differ again), while the catalog and the parsers speak the
    upper-case DB2 for i names.

    :raises ValueError: when there is no result set, names collide after upper-casing, or the
        row length does not match the description.
    """
    names = _column_names(description)
    values = tuple(row)
    if len(values) != len(names):
        raise ValueError(f"row has {len(values)} value(s) but the description has {len(names)}")
    return dict(zip(names, values, strict=True))


def rows_as_dicts(
    cursor_description: Sequence[Sequence[Any]] | None, rows: Iterable[Sequence[Any]]
) -> list[dict[str, Any]]:
    """Apply :func:`normalise_row` to every row of one result set (e.g. ``fetchall()``)."""
    names = _column_names(cursor_description)
    result = []
    for row in rows:
        values = tuple(row)
        if len(values) != len(names):
            raise ValueError(f"row has {len(values)} value(s) but the description has {len(names)}")
        result.append(dict(zip(names, values, strict=True)))
    return result


# Example arguments used only to show the rendered outfile query in the golden file.
_EXAMPLE_OUTFILE: Final = ("RSYNCWRK", "SAVOBJOUT")


def _render_statement(statement: SqlStatement, heading: str | None = None) -> str:
    lines = []
    if heading:
        lines.append(f"-- {heading}")
    lines += [
        f"-- name:       {statement.name}",
        f"-- confidence: {statement.confidence}",
        f"-- purpose:    {statement.purpose}",
        f"-- params:     {', '.join(statement.params) or '(none)'}",
        f"-- columns:    {', '.join(statement.columns)}",
        f"{statement.text};",
    ]
    return "\n".join(lines)


def render_catalog() -> str:
    """Deterministic text of every statement, for the golden file and for review.

    Why: a diff of this text is the review of an SQL change. The trailing ``;`` separates
    statements in the file (so it can be pasted into a SQL script tool) and is never sent.
    """
    header = "\n".join(
        [
            "-- SQL catalog of the IBM i resync: every statement ibmi_resync.sql sends over ODBC.",
            "-- Generated by ibmi_resync.sql.render_catalog(); do not edit by hand.",
            "-- Regenerate: UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_sql.py",
            "-- The trailing ';' only separates statements in this file; it is never sent.",
            "-- confidence (ibmi.md §0): V verified, I inferred, G guessed: confirm G on a real "
            "IBM i.",
        ]
    )
    sections = [header]
    sections += [_render_statement(statement) for statement in CATALOG.values()]
    library, file = _EXAMPLE_OUTFILE
    sections.append(
        _render_statement(
            save_outfile_query(library, file),
            heading=f"built at run time: save_outfile_query(library={library!r}, file={file!r})",
        )
    )
    sections.append(
        "-- built at run time: site_statement(...) wraps the site profile's iCluster SQL\n"
        "-- (event log, group status, latency); not in QSYS2, so not listed here."
    )
    return "\n\n".join(sections) + "\n"

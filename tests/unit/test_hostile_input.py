"""Hostile input in the plan file (issue 6 item 6) and secrets in the plan output (item 7).

Every string a plan file carries towards a CL command, an SQL parameter or an SSH line is fed
injection attempts (quotes, parentheses, semicolons, `&&`, `$()`, backticks, `$VAR`, control
characters, special values, IBM libraries, over-long names, empty strings, look-alike
letters, duplicates) through the real door: a YAML file on disk, `load_plan`, the program and
`python -m ibmi_resync plan`. The contract, for every value:

* refused: a PlanError naming the file and the field path (`groups[1].libraries[0]`), and the
  CLI exits 2 with that text and prints no plan (no step of it can reach a node);
* or accepted because it is a legal value: then every SSH line of the run, read back by
  shlex (and, for the legal but unusual names with $ # @, by a real /bin/sh), gives `system`
  exactly one argument, that argument is the CL text, and the value sits in the CL where its
  field belongs.

test_names/test_quoting prove the validators and the quoting one by one, and test_plan the
field path of one hand-picked value per field; this file drives generated values through the
whole chain. The trigger form is in tests/dags/test_hostile_params.py.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import json
import os
import re
import shlex
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from plan_fixtures import ROOT, demo_data, profile_data, set_at

from ibmi_resync.__main__ import main
from ibmi_resync.plan import Plan, PlanError, load_plan
from ibmi_resync.program import Step, resync_program
from ibmi_resync.quoting import check_cl_shape

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---- the values --------------------------------------------------------------------------

INJECTIONS = [
    "'",
    '"',
    "''",
    "(",
    ")",
    ") RMVLIB(",
    ";",
    "; PWRDWNSYS",
    "&&",
    "&& rm -rf /",
    "||",
    "|",
    "&",
    "$(id)",
    "`id`",
    "${HOME}",
    "$((1+1))",
    "\n",
    "\r",
    "\r\n",
    "\x00",
    "\t",
    "\x1b[2J",
    "\x7f",
    "\x85",
    "\u2028",
    "\u200b",
    "\ufeff",
    " ",
    "*",
    "?",
    "<",
    ">",
    "\\",
    "/",
    ",",
    "%",
    "-",
    "{",
    "}",
]
SPECIAL_VALUES = ["*ALL", "*LIBL", "*CURLIB", "*USRLIBL", "*ALLUSR", "*NONE", "*", "*all"]
IBM_LIBRARIES = [
    "QSYS",
    "QGPL",
    "QUSRSYS",
    "QSYS2",
    "QTEMP",
    "QRPLOBJ",
    "qgpl",
    " QSYS ",
    "#LIBRARY",
    "#COBLIB",
    "SYSIBM",
    "SYSTOOLS",
]
LOOK_ALIKES = [
    "\uff2f\uff32\uff24\uff2c\uff29\uff22",  # fullwidth ORDLIB
    "\u039fRDLIB",  # Greek capital omicron
    "\u041eRDLIB",  # Cyrillic capital O
    "ORDL\u0130B",  # dotted capital I
    "\u212aLIB",  # Kelvin sign
    "stra\u00dfe",  # upper-cases to STRASSE
    "\u0131bmlib",  # dotless i: upper-cases to IBMLIB
    "ORD\u00a0LIB",  # no-break space
    "\uff31\uff33\uff39\uff33",  # fullwidth QSYS
    "ORDLIB\u200b",  # zero-width space
]
OVER_LONG = ["ABCDEFGHIJK", "ORDLIBORDLIB", "$" * 11, "A" * 64, "A" * 300]
EMPTY = ["", " ", "   "]
NOT_STRINGS: list[Any] = [True, False, 0, 1.5, None, [], ["ORDLIB"], {"a": 1}]

_NAMEISH = st.from_regex(r"[A-Za-z$#@]?[A-Za-z0-9$#@_.]{0,4}", fullmatch=True)
spliced = st.builds(
    lambda before, token, after: before + token + after,
    _NAMEISH,
    st.sampled_from(INJECTIONS + SPECIAL_VALUES),
    _NAMEISH,
)
# Legal names that a shell, a CL parser or a human would read twice: $ # @ _ . in them.
UNUSUAL_NAMES = st.one_of(
    st.sampled_from(["$APP", "$HOME", "$PATH", "$IFS", "$1", "$$", "$#", "$@", "@X", "$A.B"]),
    st.from_regex(r"[$@][A-Z0-9$#@_.]{0,9}", fullmatch=True),
    st.from_regex(r"[A-PR-Z][A-Z0-9]{0,3}[$#@_.][A-Z0-9$#@_.]{0,5}", fullmatch=True),
)
HOSTILE_NAMES = st.one_of(
    st.sampled_from(SPECIAL_VALUES + IBM_LIBRARIES + LOOK_ALIKES + OVER_LONG + EMPTY),
    st.sampled_from(NOT_STRINGS),
    spliced,
    st.from_regex(r"[A-Z$#@][A-Z0-9$#@_.]{10,16}", fullmatch=True),
    st.text(max_size=12),
    UNUSUAL_NAMES,  # legal: the oracle says so, and they must then reach the CL intact
)

# ---- an independent reading of the rules (README "How it behaves when things go wrong") ----

_NAME_RE = re.compile(r"[A-Z$#@][A-Z0-9$#@_.]{0,9}")
_IBM_NOT_Q = {"SYSIBM", "SYSIBMADM", "SYSPROC", "SYSTOOLS"}
_CARRIERS = {"QCTL", "QSYSWRK", "QUSRWRK", "QSERVER", "QSYS", "XDMCLUSTER"}
_DLO_SEGMENT = re.compile(r"[A-Z0-9$#@_][A-Z0-9$#@_-]{0,7}(\.[A-Z0-9$#@_-]{1,3})?")


def _printable(value: str) -> bool:
    return not any(
        unicodedata.category(char).startswith("C") or char in "\u2028\u2029" for char in value
    )


def legal_name(value: object) -> str | None:
    """The *NAME an administrator meant, or None: ASCII, 1-10, A-Z $ # @ first, upper-cased."""
    if not isinstance(value, str) or not value.isascii() or not _printable(value):
        return None
    text = value.strip().upper()
    return text if _NAME_RE.fullmatch(text) else None


def ibm_library(name: str) -> bool:
    return name[0] in "Q#" or name in _IBM_NOT_Q


def legal_ifs_path(value: object) -> str | None:
    if not isinstance(value, str) or not _printable(value):
        return None
    text = value.strip()
    segments = [segment for segment in text.split("/") if segment]
    if (
        not text.startswith("/")
        or len(text) > 1024
        or not segments
        or any(segment in {".", ".."} or segment != segment.strip() for segment in segments)
        or segments[0].upper() in {"QSYS.LIB", "QDLS"}
        or "*" in text
        or "?" in text
    ):
        return None
    return "/" + "/".join(segments)


def legal_dlo_folder(value: object) -> str | None:
    if not isinstance(value, str) or not value.isascii() or not _printable(value):
        return None
    text = value.strip().upper().strip("/")
    segments = text.split("/") if text else []
    if not segments or len(text) > 63 or not all(_DLO_SEGMENT.fullmatch(s) for s in segments):
        return None
    return text


# ---- the demo plan as the base of every case -----------------------------------------------

BASE_GROUPS = ["SYSTEM", "ORDERS", "BILLING"]
BASE_LIBRARIES = {(0, 0): "SECLIB", (1, 0): "ORDLIB", (1, 1): "ORDHIST", (2, 0): "BILLIB"}
BASE_PROFILES = ["APPOWNER", "APPUSER"]
SAVF_LIBRARY = "RSYNCSAVF"


@functools.cache
def _base() -> dict[str, Any]:
    data = demo_data()
    data["site_profile"] = profile_data()
    return data


def base_data() -> dict[str, Any]:
    """The demo plan with the simulator profile inline, so one file holds every field."""
    return copy.deepcopy(_base())


def write_plan(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "plan.yaml"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(yaml.dump(data, Dumper=dumper, sort_keys=False), encoding="utf-8")
    return path


def _index(path: str, position: int = 0) -> int:
    return int(re.findall(r"\[(\d+)\]", path)[position])


def expected_refusal(path: str, kind: str, value: object) -> set[str] | None:
    """The field path(s) a refusal may name, or None when the value is legal.

    When a legal name collides with another element (a group name twice, a library in two
    groups), the plan names the later of the two in file order.
    """
    if kind == "conn":
        legal = isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,200}", value)
        return None if legal else {path}
    if kind == "ifs":
        return None if legal_ifs_path(value) else {path}
    if kind == "dlo":
        return None if legal_dlo_folder(value) else {path}
    name = legal_name(value)
    if name is None:
        return {path}
    if kind == "node":
        other = "SIMBCK" if path.startswith("primary") else "SIMPRI"
        return {"backup.name"} if name == other else None
    if kind == "group":
        mine = _index(path)
        clashes = [i for i, other in enumerate(BASE_GROUPS) if i != mine and other == name]
        return {f"groups[{max([mine, *clashes])}].name"} if clashes else None
    if kind == "library":
        if ibm_library(name) or name == SAVF_LIBRARY:
            return {path}
        mine = (_index(path, 0), _index(path, 1))
        clashes = [at for at, other in BASE_LIBRARIES.items() if at != mine and other == name]
        if clashes:
            group, position = max([mine, *clashes])
            return {f"groups[{group}].libraries[{position}]"}
        return None
    if kind == "profile":
        mine = _index(path)
        clashes = [i for i, other in enumerate(BASE_PROFILES) if i != mine and other == name]
        return {f"user_profiles[{max([mine, *clashes])}]"} if clashes else None
    if kind == "subsystem":
        return {path} if name in _CARRIERS else None
    if kind == "savf_library":
        if ibm_library(name):
            return {path}
        owners = [at for at, other in BASE_LIBRARIES.items() if other == name]
        return {f"groups[{g}].libraries[{p}]" for g, p in owners} or None
    assert kind == "name", kind
    return None


# (path in the plan, kind, how the accepted value shows in the CL; {} is the value)
FIELDS: list[tuple[str, str, str | None]] = [
    ("primary.name", "node", "NODE({})"),
    ("backup.name", "node", "NODE({})"),
    ("applications.subsystems[0].name", "subsystem", "SBS({})"),
    ("applications.subsystems[0].library", "name", "SBSD({}/APPSBS)"),
    ("groups[0].name", "group", "GROUP({})"),
    ("groups[1].name", "group", "GROUP({})"),
    ("groups[2].name", "group", "GROUP({})"),
    ("groups[0].libraries[0]", "library", "CLRLIB LIB({})"),
    ("groups[1].libraries[1]", "library", "SAVLIB LIB({}) DEV(*SAVF) SAVF(RSYNCSAVF/{})"),
    ("groups[2].libraries[0]", "library", "RSTLIB SAVLIB({}) DEV(*SAVF) SAVF(RSYNCSAVF/{})"),
    ("groups[1].ifs_paths[0]", "ifs", "OBJ(({} *INCLUDE))"),
    ("groups[2].dlo_folders[0]", "dlo", "FLR({})"),
    ("user_profiles[0]", "profile", "USRPRF({} APPUSER)"),
    ("user_profiles[1]", "profile", "USRPRF(APPOWNER {})"),
    ("save_file_library", "savf_library", "CRTSAVF FILE({}/#SECDTA)"),
    ("site_profile.product_library", "name", "{}/DMMRKPOS GROUP(ORDERS)"),
    ("primary.ssh_conn_id", "conn", None),
    ("primary.odbc_conn_id", "conn", None),
    ("backup.ssh_conn_id", "conn", None),
    ("backup.odbc_conn_id", "conn", None),
]
NAME_FIELDS = [field for field in FIELDS if field[1] not in ("ifs", "dlo", "conn")]
OTHER_FIELDS = [field for field in FIELDS if field[1] in ("ifs", "dlo", "conn")]


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["plan", *argv])
    return code, out.getvalue(), err.getvalue()


def assert_refused(plan_file: Path, fields: set[str]) -> PlanError:
    """Refused at load with the field named, and the CLI prints the refusal and no plan."""
    with pytest.raises(PlanError) as excinfo:
        resync_program(load_plan(plan_file))
    error = excinfo.value
    assert error.source == str(plan_file), error
    assert error.field in fields, (error.field, fields, str(error))
    code, out, err = run_cli(str(plan_file), "--shell")
    assert (code, out) == (2, ""), (code, out)
    assert err.startswith(f"error: {plan_file}: {error.field}: "), err
    return error


def assert_one_argument_each(plan: Plan, steps: list[Step]) -> None:
    """shlex reads every SSH line as the program and exactly one argument, the CL text."""
    program = plan.site_profile.system_program
    for step in steps:
        if step.kind in ("CL", "SBMJOB"):
            assert step.shell is not None
            assert shlex.split(step.shell) == [program, step.text], step.shell
            assert check_cl_shape(step.text) == step.text
            assert _printable(step.text)


def cl_form(template: str, value: str) -> str:
    return template.replace("{}", value)


def _cl_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---- (a) the plan file: names ----------------------------------------------------------------


@PROPERTY
@given(field=st.sampled_from(NAME_FIELDS), value=HOSTILE_NAMES)
@example(field=FIELDS[7], value="QSYS")
@example(field=FIELDS[7], value="#COBLIB")
@example(field=FIELDS[14], value="QGPL")
@example(field=FIELDS[14], value="ORDLIB")  # the save-file library inside a group
@example(field=FIELDS[5], value="system")  # a group name twice, after case folding
@example(field=FIELDS[8], value="ordlib")  # a library in a group and again in the same one
@example(field=FIELDS[12], value=" appuser ")  # a profile twice
@example(field=FIELDS[2], value="qusrwrk")  # the subsystem the SSH daemon runs in
@example(field=FIELDS[0], value="simbck")  # both nodes one name
@example(field=FIELDS[9], value="A) RMVLIB(")
@example(field=FIELDS[9], value="BILLIB\n")
@example(field=FIELDS[4], value="*ALL")
@example(field=FIELDS[15], value="ICLUSTER;X")
@example(field=FIELDS[9], value="$APP")
@example(field=FIELDS[15], value="$ICL")  # `$ICL/DMSTRCST` was refused late by shell_line
def test_a_plan_name_field_is_refused_naming_it_or_reaches_the_cl_intact(
    tmp_path: Path, field: tuple[str, str, str], value: object
) -> None:
    path, kind, shows_as = field
    plan_file = write_plan(tmp_path, set_at(base_data(), path, value))
    fields = expected_refusal(path, kind, value)
    if fields is not None:
        event(f"refused {kind}")
        assert_refused(plan_file, fields)
        return
    event(f"accepted {kind}")
    name = legal_name(value)
    assert name is not None
    plan = load_plan(plan_file)
    steps = resync_program(plan)
    assert_one_argument_each(plan, steps)
    expected = cl_form(shows_as, name)
    assert any(expected in step.text for step in steps if step.kind in ("CL", "SBMJOB")), expected


# ---- (a) the plan file: IFS paths, DLO folders, connection ids ----------------------------------

_PATHISH = st.text(alphabet="/abcQ.-_ $#@'\"()`;&|*?\\é日", max_size=16)
HOSTILE_PATHS = st.one_of(
    st.builds(lambda a, t, b: "/" + a + t + b, _PATHISH, st.sampled_from(INJECTIONS), _PATHISH),
    st.sampled_from(
        [
            "/*",
            "/Q*",
            "/home/*",
            "/home/orders/?",
            "/QSYS.LIB/APPLIB.LIB",
            "/qdls/INVOICES",
            "//QSYS.LIB//X",
            "/home/../QSYS.LIB",
            "/home/./x",
            "home/orders",
            "/",
            "",
            "/home/ x",
            "/" + "a" * 1024,
            "/home/orders'); CLRLIB LIB(PRODLIB",
            "/home/$(id)/`id`/${HOME}",
        ]
    ),
    st.text(max_size=12),
    st.sampled_from(NOT_STRINGS),
)
HOSTILE_FOLDERS = st.one_of(spliced, st.sampled_from(LOOK_ALIKES + EMPTY + ["FOLDER012", "A*"]))
HOSTILE_CONN_IDS = st.one_of(
    spliced,
    st.sampled_from(["ibmi_primary_ssh\n", "my conn", "ssh;id", "", "a" * 201, "ssh/../x"]),
    st.sampled_from(LOOK_ALIKES),
)


def _cases(kind: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.tuples(st.sampled_from([f for f in OTHER_FIELDS if f[1] == kind]), values)


@PROPERTY
@given(
    case=st.one_of(
        _cases("ifs", HOSTILE_PATHS),
        _cases("dlo", HOSTILE_FOLDERS),
        _cases("conn", HOSTILE_CONN_IDS),
    )
)
@example(case=(FIELDS[10], "/*"))  # used to pass although SAV reads it as the whole IFS
@example(case=(FIELDS[10], "/home/O'Brien/$(id)"))
@example(case=(FIELDS[11], "INV*"))
@example(case=(FIELDS[11], "$flr/sub-1.txt"))  # legal: FLR('$FLR/SUB-1.TXT')
@example(case=(FIELDS[16], "ibmi_primary_ssh\n"))
def test_a_path_folder_or_connection_id_is_refused_naming_it_or_passed_through_quoted(
    tmp_path: Path, case: tuple[tuple[str, str, str | None], Any]
) -> None:
    (path, kind, shows_as), value = case
    plan_file = write_plan(tmp_path, set_at(base_data(), path, value))
    fields = expected_refusal(path, kind, value)
    if fields is not None:
        event(f"refused {kind}")
        assert_refused(plan_file, fields)
        return
    event(f"accepted {kind}")
    plan = load_plan(plan_file)
    steps = resync_program(plan)
    assert_one_argument_each(plan, steps)
    code, out, _ = run_cli(str(plan_file))
    assert code == 0
    if kind == "conn":
        # A connection id never reaches IBM i: the dry run names it in its header only.
        kind_of_id = "ssh" if "ssh" in path else "odbc"
        assert f"{kind_of_id} {value}" in out.splitlines()[1], out
        return
    normal = legal_ifs_path(value) if kind == "ifs" else legal_dlo_folder(value)
    assert normal is not None and shows_as is not None
    expected = cl_form(shows_as, _cl_literal(normal))
    assert any(expected in step.text for step in steps), expected
    # The same value is restored where it was saved: SAV and RST (SAVDLO and RSTDLO) agree.
    assert sum(expected.split("(", 1)[1] in step.text for step in steps) >= 2


def test_ifs_patterns_are_refused_because_sav_reads_them_as_patterns(tmp_path: Path) -> None:
    """Regression: '/*' and '/Q*' passed, and SAV/RST OBJ(('/*' *INCLUDE)) with SUBTREE(*ALL)
    would save the whole IFS, /QSYS.LIB included, and restore it over the BACKUP's."""
    for value in ("/*", "/Q*", "/home/orders/*", "/home/orders/exp?rts"):
        plan_file = write_plan(tmp_path, set_at(base_data(), "groups[1].ifs_paths[0]", value))
        error = assert_refused(plan_file, {"groups[1].ifs_paths[0]"})
        assert "pattern" in error.message


# ---- (a) the plan file: site-profile command templates ---------------------------------------

ACTIONS = [
    "start_cluster",
    "start_node",
    "end_group",
    "mark_positions",
    "start_group_at_mark",
    "sync_check",
    "end_sync_check",
    "start_continuous_sync_check",
]
TEMPLATE_TOKENS = [
    *INJECTIONS,
    *SPECIAL_VALUES,
    "{group}",
    "{node}",
    "{delay}",
    "{primary_node}",
    "{lib}",
    "{0}",
    "{group!r}",
    " X(",
    " X('a;b')",
    " OPT(*YES)",
    "\nQSYS/PWRDWNSYS OPTION(*IMMED)",
]


@PROPERTY
@given(
    action=st.sampled_from(ACTIONS),
    token=st.sampled_from(TEMPLATE_TOKENS),
    at=st.floats(min_value=0, max_value=1),
)
@example(action="start_cluster", token=";", at=1.0)  # ICLUSTER/DMSTRCST; was a command name
@example(action="start_cluster", token="$(id)", at=1.0)
@example(action="mark_positions", token="\t", at=1.0)  # folded into a blank before
@example(action="mark_positions", token=" NODE({node})", at=1.0)  # failed late, unnamed
@example(action="start_cluster", token=" GROUP({group})", at=1.0)
@example(action="start_node", token="'", at=0.0)
@example(action="start_node", token=" X('a;b $(id)')", at=1.0)  # legal: a quoted value
@example(action="end_group", token="{group}", at=0.625)  # OPT{group}ION: fine with G only
@example(action="start_node", token="{node}", at=0.0)  # {node}ICLUSTER/: too long for real
def test_a_hostile_command_template_is_refused_naming_it_or_renders_one_argument(
    tmp_path: Path, action: str, token: str, at: float
) -> None:
    data = base_data()
    template: str = data["site_profile"]["commands"][action]
    cut = round(at * len(template))
    hostile = template[:cut] + token + template[cut:]
    field = f"site_profile.commands.{action}"
    plan_file = write_plan(tmp_path, set_at(data, field, hostile))
    try:
        plan = load_plan(plan_file)
    except PlanError as error:
        event("refused")
        assert (error.source, error.field) == (str(plan_file), field), str(error)
        code, out, err = run_cli(str(plan_file))
        assert (code, out) == (2, "") and err.startswith(f"error: {plan_file}: {field}: ")
        return
    event("accepted")
    # Accepted: the template still renders, for every group, one well-formed CL command
    # whose head is a qualified *NAME, and which the shell hands over as one argument.
    assert _printable(hostile)
    steps = resync_program(plan)
    assert_one_argument_each(plan, steps)
    name = r"[A-Z$#@][A-Z0-9$#@_.]{0,9}"
    for step in steps:
        if step.kind in ("CL", "SBMJOB"):
            assert re.fullmatch(rf"(?:{name}/)?{name}(?: [A-Z][A-Z0-9]{{0,9}}\(.*\))?", step.text)
    code, _, _ = run_cli(str(plan_file))
    assert code == 0


# ---- (a) the whole file: YAML-level tricks -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "save_file_library: RSYNCSAVF\nsave_file_library: QGPL\n",
            "found the key 'save_file_library' twice",
            id="duplicate-top-level-key",
        ),
        pytest.param(
            "groups:\n- name: ORDERS\n  libraries: [ORDLIB]\n  libraries: [PAYROLL]\n",
            "found the key 'libraries' twice",
            id="duplicate-key-in-a-group",
        ),
        pytest.param(
            "name: !!python/object/apply:os.system ['id']\n",
            "cannot read",
            id="python-tag",
        ),
        pytest.param("name: &a [*a]\n", "", id="recursive-alias"),
    ],
)
def test_yaml_tricks_are_refused_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    """Regression (duplicate keys): PyYAML kept the last of two equal keys, so a reviewer
    could read `libraries: [ORDLIB]` while the run resynchronised the second list."""
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(text, encoding="utf-8")
    with pytest.raises(PlanError) as excinfo:
        load_plan(plan_file)
    assert excinfo.value.source == str(plan_file)
    assert message in str(excinfo.value)
    code, out, err = run_cli(str(plan_file))
    assert (code, out) == (2, "") and err.startswith(f"error: {plan_file}")


# ---- legal but unusual: what the shell really receives ---------------------------------------

# `system` and the checksum program replaced by functions that print their argument count
# and arguments, NUL-separated; variables a careless line would expand are set.
_STUBS = 'system() { printf "%s\\0" "$#" "$@"; }\nsha256sum() { printf "%s\\0" "$#" "$@"; }\n'
_SHELL_ENV = {
    "PATH": "/usr/bin:/bin",
    "LC_ALL": "C",
    "APP": "EXPANDED",
    "HOME": "/EXPANDED",
}


def shell_arguments(lines: list[str]) -> list[list[str]]:
    """Run `lines` in /bin/sh; return the argument list each line's program received."""
    script = _STUBS + "".join(line + "\n" for line in lines)
    result = subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, env=_SHELL_ENV, timeout=30, check=False
    )
    assert result.returncode == 0 and result.stderr == b"", result.stderr
    fields = result.stdout.decode("utf-8").split("\0")
    assert fields[-1] == ""
    calls, cursor = [], 0
    while cursor < len(fields) - 1:
        count = int(fields[cursor])
        calls.append(fields[cursor + 1 : cursor + 1 + count])
        cursor += 1 + count
    return calls


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(UNUSUAL_NAMES, min_size=7, max_size=7, unique=True),
    ifs=st.sampled_from(
        [
            "/home/O'Brien/$APP",
            "/home/a b/(x)",
            "/home/$(id)/`id`",
            '/home/"q";x&&y||z',
            "/home/~root/!x/%s",
            "/home/é/日本",
        ]
    ),
)
@example(names=["$APP", "$HOME", "@X", "#SBS", "$$", "$#", "$A.B"], ifs="/home/O'Brien/$(id)")
def test_legal_unusual_values_reach_system_as_exactly_one_argument(
    tmp_path: Path, names: list[str], ifs: str
) -> None:
    library, group, profile, subsystem, savf, node, sbs_library = names
    data = base_data()
    set_at(data, "groups[1].libraries[0]", library)
    set_at(data, "groups[1].name", group)
    set_at(data, "groups[1].ifs_paths[0]", ifs)
    set_at(data, "user_profiles[0]", profile)
    set_at(data, "applications.subsystems[0]", {"name": subsystem, "library": sbs_library})
    set_at(data, "save_file_library", savf)
    set_at(data, "primary.name", node)
    plan_file = write_plan(tmp_path, data)
    taken = {"SECLIB", "ORDHIST", "BILLIB", "SYSTEM", "BILLING", "APPUSER", "SIMBCK"}
    if ibm_library(library) or ibm_library(savf) or taken & set(names):
        with pytest.raises(PlanError):
            load_plan(plan_file)
        return
    plan = load_plan(plan_file)
    steps = resync_program(plan)
    lines = [step.shell for step in steps if step.shell is not None]
    calls = shell_arguments(lines)
    assert len(calls) == len(lines)
    shaped = [step for step in steps if step.shell is not None]
    for step, call in zip(shaped, calls, strict=True):
        if step.kind == "CHECKSUM":
            assert len(call) == 1 and call[0].startswith(f"/QSYS.LIB/{savf}.LIB/"), call
        else:
            assert call == [step.text], (step.shell, call)  # one argument, the CL itself
    received = "\n".join(call[0] for call in calls)
    assert "EXPANDED" not in received  # no $APP or $HOME was expanded by the shell
    for expected in (
        f"QSYS/CLRLIB LIB({library})",
        f"SAVLIB LIB({library}) DEV(*SAVF) SAVF({savf}/{library})",
        f"ICLUSTER/DMMRKPOS GROUP({group})",
        f"USRPRF({profile} APPUSER)",
        f"QSYS/ENDSBS SBS({subsystem}) OPTION(*CNTRLD)",
        f"QSYS/STRSBS SBSD({sbs_library}/{subsystem})",
        f"ICLUSTER/DMSTRNODE NODE({node})",
        f"OBJ(({_cl_literal(ifs)} *INCLUDE))",
    ):
        assert expected in received, expected


# ---- (item 7) secrets never in the plan output ---------------------------------------------

PASSWORD = "pw-Zq8!x$y'NOT-IN-OUTPUT"
PRIVATE_KEY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ-NOT-IN-OUTPUT"
KEY_TEXT = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PRIVATE_KEY}\n-----END OPENSSH PRIVATE KEY-----"


def _connection(conn_type: str, **extra: str) -> str:
    return json.dumps(
        {
            "conn_type": conn_type,
            "host": "simpri.example",
            "login": "RESYNC",
            "password": PASSWORD,
            "extra": extra,
        }
    )


@pytest.mark.parametrize("flags", [["--shell"], ["--json", "--groups", "ORDERS"]])
def test_connection_secrets_never_appear_in_the_plan_output(flags: list[str]) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / part) for part in ("include", "plugins", ".")),
        "AIRFLOW_CONN_IBMI_PRIMARY_SSH": _connection("ssh", private_key=KEY_TEXT),
        "AIRFLOW_CONN_IBMI_BACKUP_SSH": _connection("ssh", private_key=KEY_TEXT),
        "AIRFLOW_CONN_IBMI_PRIMARY_ODBC": _connection("odbc", PWD=PASSWORD),
        "AIRFLOW_CONN_IBMI_BACKUP_ODBC": _connection("odbc", PWD=PASSWORD),
        "IBMI_PASSWORD": PASSWORD,
    }
    result = subprocess.run(
        [sys.executable, "-m", "ibmi_resync", "plan", "config/demo-plan.yaml", *flags],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ibmi_primary_ssh" in result.stdout or "--json" in flags  # ids, not contents
    for secret in (PASSWORD, PRIVATE_KEY, "BEGIN OPENSSH", "NOT-IN-OUTPUT"):
        assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("primary.password", "password"),
        ("backup.ssh_private_key", "ssh_private_key"),
        ("site_profile.sql_password", "sql_password"),
        ("api_token", "api_token"),
    ],
)
def test_a_secret_pasted_into_a_plan_is_refused_without_echoing_it(
    tmp_path: Path, path: str, key: str
) -> None:
    """Regression: an unknown key was refused with its value in the message, so a password
    pasted into a plan went to the terminal (and, at DAG parse, into the import error)."""
    plan_file = write_plan(tmp_path, set_at(base_data(), path, PASSWORD))
    error = assert_refused(plan_file, {path})
    assert error.value is None
    assert PASSWORD not in str(error)
    code, out, err = run_cli(str(plan_file), "--json")
    assert code == 2 and PASSWORD not in out + err and key in err

"""Tests for ibmi_resync.quoting: CL string literals, the CL shape check and the SSH exec line.

A CL command reaches IBM i as `system '<CL>'` parsed by a POSIX login shell (ibmi.md §2.4 item
5: the whole CL command must be one argv element). The shell tests below run real shells
(/bin/sh, bash, dash when present) with `system` replaced by a function that prints its
arguments NUL-separated, and require the argument to be byte-identical to the CL command.
"""

from __future__ import annotations

import locale
import os
import random
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ibmi_resync.cl import (
    ClCommand,
    build_clrlib_command,
    build_crtsavf_command,
    build_rstusrprf_command,
    build_sav_command,
    build_savlib_command,
    build_sbmjob_command,
)
from ibmi_resync.names import IbmiInputError, QualifiedName
from ibmi_resync.quoting import check_cl_shape, cl_string, shell_command, shell_line

# ---- shells ------------------------------------------------------------------------------

_CANDIDATE_SHELLS = ["/bin/sh", "/bin/bash", "/bin/dash"]
SHELLS = [shell for shell in _CANDIDATE_SHELLS if os.access(shell, os.X_OK)]

# The stand-in for PASE `system`: print every argument followed by NUL.
SYSTEM_FUNCTION = "system() { printf '%s\\0' \"$@\"; }\n"
# Batch variant: argument count first, so a line that split into two arguments cannot hide.
SYSTEM_FUNCTION_WITH_ARGC = 'system() { printf \'%s\\0\' "$#" "$@"; }\n'


def _locale_available(name: str) -> bool:
    saved = locale.setlocale(locale.LC_ALL)
    try:
        locale.setlocale(locale.LC_ALL, name)
    except locale.Error:
        return False
    finally:
        locale.setlocale(locale.LC_ALL, saved)
    return True


LOCALES = ["C"] + (["C.UTF-8"] if _locale_available("C.UTF-8") else [])


def shell_env(lc_all: str = "C", **extra: str) -> dict[str, str]:
    """A minimal, predictable environment: no inherited APP/HOME surprises."""
    return {"PATH": "/usr/bin:/bin", "LC_ALL": lc_all, **extra}


def run_shell(shell: str, script: str, env: dict[str, str] | None = None) -> bytes:
    result = subprocess.run(
        [shell, "-c", script],
        capture_output=True,
        env=env or shell_env(),
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b"", result.stderr
    return result.stdout


def test_at_least_one_posix_shell_is_available() -> None:
    assert "/bin/sh" in SHELLS


# ---- generators shared by the property and batch tests -----------------------------------

# IBM i names that a shell would expand if the line were double-quoted or unquoted.
SHELL_LOOKING_NAMES = [
    "$APP",
    "$HOME",
    "$PATH",
    "$IFS",
    "$1",
    "$$",
    "$#",
    "$@",
    "$_X",
    "A$B",
    "#LIB",
    "@X",
    "$A.B",
    "@$#",
]
SHELL_TOKENS = [
    "'",
    '"',
    "''",
    "'\"'\"'",
    "\\'",
    "$(id)",
    "$(rm -rf /)",
    "`id`",
    "${APP}",
    "$APP",
    "$((1+1))",
    "$1",
    "$@",
    "$*",
    "$$",
    ";",
    "&&",
    "||",
    "|",
    "&",
    "*",
    "?",
    "~",
    "~root",
    "!",
    "!!",
    "\\",
    "\\\\",
    "\\n",
    "\\0",
    " ",
    "  ",
    "#",
    ">",
    "<",
    ">/tmp/x",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "%s",
    "%",
    "=",
    "é",
    "日本",
    "\u00a0",
    "/*",
    "*/",
    "+",
    "-",
]

PRINTABLE = st.characters(
    exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn"), exclude_characters="\u2028\u2029"
)
CONTROL = st.one_of(
    st.characters(categories=("Cc", "Cf", "Cs", "Co", "Cn")),
    st.sampled_from(["\u2028", "\u2029"]),
)
printable_text = st.text(alphabet=PRINTABLE, max_size=60)
shell_text = st.one_of(
    printable_text,
    st.lists(st.sampled_from(SHELL_TOKENS), max_size=12).map("".join),
    st.lists(
        st.one_of(st.sampled_from(SHELL_TOKENS), st.text(alphabet=PRINTABLE, max_size=4)),
        max_size=10,
    ).map("".join),
)
ibmi_names = st.one_of(
    st.sampled_from(SHELL_LOOKING_NAMES),
    st.from_regex(r"[$#@][A-Z0-9$#@_.]{0,9}", fullmatch=True),
    st.from_regex(r"[A-Z][A-Z0-9$#@_.]{0,9}", fullmatch=True),
)


def _command(kind: int, lib: str, obj: str, other: str, text: str) -> str | None:
    """One CL command of several shapes; None when the generated input is (rightly) refused."""
    try:
        if kind == 0:
            return ClCommand(
                "SNDMSG", (("MSG", cl_string(text, field="msg")), ("TOUSR", lib))
            ).render()
        if kind == 1:
            return build_crtsavf_command(QualifiedName(lib, obj), text=text[:50]).render()
        if kind == 2:
            path = "/home/" + text.replace("/", "_").strip()
            return build_sav_command(QualifiedName(lib, obj), [path, "/tmp/x"]).render()
        if kind == 3:
            inner = build_crtsavf_command(QualifiedName(lib, obj), text=text[:50])
            return build_sbmjob_command(
                inner, job=other, job_queue=QualifiedName(obj, lib)
            ).render()
        if kind == 4:
            return build_rstusrprf_command(QualifiedName(lib, obj), [lib, obj, other]).render()
        if kind == 5:
            return build_savlib_command(lib, QualifiedName(lib, obj)).render()
        return build_clrlib_command(other).render()
    except IbmiInputError:
        return None


@st.composite
def cl_commands(draw: st.DrawFn) -> str:
    command = _command(
        draw(st.integers(0, 6)),
        draw(ibmi_names),
        draw(ibmi_names),
        draw(ibmi_names),
        draw(shell_text),
    )
    assume(command is not None)
    assert command is not None
    return command


def _random_commands(count: int, seed: int) -> list[str]:
    """Deterministic commands for the one-process batch test (no hypothesis, fixed seed)."""
    rng = random.Random(seed)
    first, rest = "ABCQXYZ$#@", "ABCXYZ0123456789$#@_."
    pool = [chr(code) for code in range(0x20, 0x7F)] + list("éÉß日本€\u00a0\u2019\uff07")

    def name() -> str:
        if rng.random() < 0.3:
            return rng.choice(SHELL_LOOKING_NAMES)
        return rng.choice(first) + "".join(rng.choice(rest) for _ in range(rng.randint(0, 9)))

    def text() -> str:
        parts = [
            rng.choice(SHELL_TOKENS) if rng.random() < 0.6 else rng.choice(pool)
            for _ in range(rng.randint(0, 20))
        ]
        return "".join(parts)

    commands: list[str] = []
    while len(commands) < count:
        command = _command(rng.randint(0, 6), name(), name(), name(), text())
        if command is not None:
            commands.append(command)
    return commands


# ---- cl_string ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("O'Brien", "'O''Brien'"),
        ("", "''"),
        ("'", "''''"),
        ("''", "''''''"),
        ("a)b(", "'a)b('"),
        ("$APP `x` $(y)", "'$APP `x` $(y)'"),
        ('say "hi"', "'say \"hi\"'"),
        ("/home/app", "'/home/app'"),
        ("café 日本", "'café 日本'"),
    ],
)
def test_cl_string_renders(value: str, expected: str) -> None:
    assert cl_string(value, field="text") == expected


def test_cl_string_length_limit_counts_the_text_not_the_literal() -> None:
    assert cl_string("a" * 5000, field="text") == "'" + "a" * 5000 + "'"
    assert cl_string("'" * 3, field="text", max_length=3) == "'" + "''" * 3 + "'"
    with pytest.raises(IbmiInputError) as excinfo:
        cl_string("a" * 5001, field="text")
    assert excinfo.value.field == "text" and "5000" in str(excinfo.value)
    with pytest.raises(IbmiInputError) as excinfo:
        cl_string("abcd", field="crtsavf.text", max_length=3)
    assert excinfo.value.field == "crtsavf.text"
    assert "crtsavf.text" in str(excinfo.value)


@pytest.mark.parametrize(
    "value", ["a\nb", "a\rb", "a\tb", "a\x00b", "\x1b[31m", "a\u2028b", "a\u200bb", None, 5, b"x"]
)
def test_cl_string_refuses(value: object) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        cl_string(value, field="msg")
    assert excinfo.value.field == "msg"
    assert "msg" in str(excinfo.value)
    assert excinfo.value.value is value


def parse_cl_literal(literal: str) -> str:
    """An independent reader of one CL character literal: '...' with '' for an apostrophe."""
    assert len(literal) >= 2 and literal[0] == "'" and literal[-1] == "'", literal
    body = literal[1:-1]
    out = []
    index = 0
    while index < len(body):
        if body[index] == "'":
            assert body[index + 1 : index + 2] == "'", f"lone apostrophe in {literal!r}"
            out.append("'")
            index += 2
        else:
            out.append(body[index])
            index += 1
    return "".join(out)


@settings(max_examples=3000, deadline=None)
@given(text=st.one_of(printable_text, shell_text))
def test_cl_string_property_round_trip(text: str) -> None:
    literal = cl_string(text, field="text")
    assert parse_cl_literal(literal) == text
    assert literal[1:-1].replace("''", "'") == text
    command = f"CMD X({literal})"
    assert check_cl_shape(command) == command
    assert check_cl_shape(f"SBMJOB CMD({command}) JOB(J)")


@settings(max_examples=2000, deadline=None)
@given(before=printable_text, control=CONTROL, after=printable_text)
def test_cl_string_property_refuses_any_control_character(
    before: str, control: str, after: str
) -> None:
    value = before + control + after
    with pytest.raises(IbmiInputError) as excinfo:
        cl_string(value, field="text")
    assert excinfo.value.field == "text"


# ---- check_cl_shape ----------------------------------------------------------------------

ACCEPTED_SHAPES = [
    "",
    "X",
    "QSYS/CLRLIB LIB(APPLIB)",
    "X TEXT('O''Brien')",
    "X TEXT('')",
    "X TEXT('''')",
    "X TEXT('a)b(')",
    "X TEXT(')')",
    "X TEXT('(((')",
    "X TEXT('it''s (not) ''closed''')",
    "X A((B C) (D E))",
    "SBMJOB CMD(QSYS/CRTSAVF FILE(A/B) TEXT('x) ''y''(')) JOB(J)",
    "X TEXT('\"') Y('\"')",
]


@pytest.mark.parametrize("command", ACCEPTED_SHAPES)
def test_check_cl_shape_accepts(command: str) -> None:
    assert check_cl_shape(command) is command


REFUSED_SHAPES = [
    pytest.param("X LIB(A", id="missing-close"),
    pytest.param("X LIB A)", id="missing-open"),
    pytest.param(")(", id="close-before-open"),
    pytest.param("X LIB((A)", id="nested-missing-close"),
    pytest.param("X LIB(A))", id="extra-close"),
    pytest.param("X TEXT('abc)", id="unclosed-literal"),
    pytest.param("X TEXT('a''b)", id="doubled-then-unclosed"),
    pytest.param("'", id="lone-apostrophe"),
    pytest.param("'''", id="three-apostrophes"),
    pytest.param("X TEXT('a') '", id="trailing-apostrophe"),
    pytest.param("X TEXT('a)'", id="paren-in-literal-does-not-close"),
    pytest.param("X(\n)", id="newline"),
    pytest.param("X\tY", id="tab"),
    pytest.param("X\u2028Y", id="line-separator"),
    pytest.param(None, id="None"),
]


@pytest.mark.parametrize("command", REFUSED_SHAPES)
def test_check_cl_shape_refuses(command: object) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        check_cl_shape(command)  # type: ignore[arg-type]
    assert excinfo.value.field == "command"
    assert "command" in str(excinfo.value)


_LITERAL = re.compile(r"'(?:[^']|'')*'")


def shape_oracle(command: str) -> bool:
    """Independent model: literals are '(?:[^']|'')*', parentheses outside them must balance."""
    depth = 0
    index = 0
    while index < len(command):
        char = command[index]
        if char == "'":
            match = _LITERAL.match(command, index)
            if match is None:
                return False
            index = match.end()
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return False
        index += 1
    return depth == 0


@settings(max_examples=5000, deadline=None)
@given(command=st.text(alphabet="()' AB", max_size=16))
def test_check_cl_shape_agrees_with_an_independent_model(command: str) -> None:
    try:
        check_cl_shape(command)
        accepted = True
    except IbmiInputError:
        accepted = False
    assert accepted is shape_oracle(command)


@settings(max_examples=2000, deadline=None)
@given(text=st.one_of(printable_text, shell_text))
def test_check_cl_shape_property_broken_literals_are_refused(text: str) -> None:
    literal = cl_string(text, field="text")
    assert check_cl_shape(f"CMD X({literal})")
    with pytest.raises(IbmiInputError, match="apostrophe"):
        check_cl_shape(f"CMD X({literal[:-1]})")  # closing apostrophe dropped
    with pytest.raises(IbmiInputError, match="parenthes"):
        check_cl_shape(f"CMD X({literal}")  # closing parenthesis dropped
    with pytest.raises(IbmiInputError, match="parenthes"):
        check_cl_shape(f"CMD X{literal})")  # opening parenthesis dropped


# ---- shell_line: exact text and refusals -------------------------------------------------


@pytest.mark.parametrize(
    ("command", "program", "expected"),
    [
        ("QSYS/CLRLIB LIB(APPLIB)", "system", "system 'QSYS/CLRLIB LIB(APPLIB)'"),
        ("QSYS/CLRLIB LIB($APP)", "system", "system 'QSYS/CLRLIB LIB($APP)'"),
        (
            "X TEXT('O''Brien')",
            "system",
            "system 'X TEXT('\"'\"'O'\"'\"''\"'\"'Brien'\"'\"')'",
        ),
        (
            "QSYS/CLRLIB LIB(#LIB)",
            "/QOpenSys/usr/bin/system",
            "/QOpenSys/usr/bin/system 'QSYS/CLRLIB LIB(#LIB)'",
        ),
    ],
)
def test_shell_line_exact(command: str, program: str, expected: str) -> None:
    assert shell_line(command, system_program=program) == expected
    assert shlex.split(expected) == [program, command]


@pytest.mark.parametrize(
    "program",
    ["", "my system", "system;rm", "$(x)", "`x`", "a'b", 'a"b', "sys\ttem", "systém", "a|b", None],
)
def test_shell_line_refuses_program(program: object) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        shell_line("QSYS/CLRLIB LIB(APPLIB)", system_program=program)  # type: ignore[arg-type]
    assert excinfo.value.field == "system_program"
    assert "system_program" in str(excinfo.value)


@pytest.mark.parametrize("command", ["X LIB(A", "X TEXT('a)", "X\nY", None, 5])
def test_shell_line_refuses_a_malformed_command(command: object) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        shell_line(command)  # type: ignore[arg-type]
    assert excinfo.value.field == "command"


@pytest.mark.parametrize(
    ("program", "arguments", "expected"),
    [
        ("system", (), "system"),
        ("system", ("",), "system ''"),
        (
            "/QOpenSys/usr/bin/ls",
            ("-l", "/home/O'Brien"),
            "/QOpenSys/usr/bin/ls -l '/home/O'\"'\"'Brien'",
        ),
        ("qsh", ("-c", "echo $APP; ls *"), "qsh -c 'echo $APP; ls *'"),
    ],
)
def test_shell_command_exact(program: str, arguments: tuple[str, ...], expected: str) -> None:
    assert shell_command(program, *arguments) == expected
    assert shlex.split(expected) == [program, *arguments]


@pytest.mark.parametrize("program", ["", "a b", "a;b", "$(x)", "a'b", None])
def test_shell_command_refuses_program_under_the_given_field(program: object) -> None:
    with pytest.raises(IbmiInputError) as excinfo:
        shell_command(program, "x", field="site.ls_program")  # type: ignore[arg-type]
    assert excinfo.value.field == "site.ls_program"
    assert "site.ls_program" in str(excinfo.value)


@pytest.mark.parametrize("argument", ["a\nb", "a\x00b", None])
def test_shell_command_refuses_arguments(argument: object) -> None:
    # Note: an argument error is reported under the program's field name (there is no
    # separate field for arguments).
    with pytest.raises(IbmiInputError) as excinfo:
        shell_command("ls", "ok", argument)  # type: ignore[arg-type]
    assert excinfo.value.field == "program"
    assert excinfo.value.value is argument


@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=100, deadline=None)
@given(arguments=st.lists(shell_text, min_size=1, max_size=4))
def test_shell_command_round_trip_property(shell: str, arguments: list[str]) -> None:
    stdout = run_shell(shell, SYSTEM_FUNCTION + shell_command("system", *arguments))
    assert stdout == "".join(argument + "\0" for argument in arguments).encode()


@pytest.mark.parametrize("program", ["LC_ALL=C", "PATH=/tmp"])
@pytest.mark.parametrize(
    "render",
    [
        pytest.param(
            lambda program: shell_line("QSYS/CLRLIB LIB(A)", system_program=program),
            id="shell_line",
        ),
        pytest.param(
            lambda program: shell_command(program, "QSYS/CLRLIB LIB(A)"), id="shell_command"
        ),
    ],
)
def test_an_assignment_is_refused_as_program(render: Callable[[str], str], program: str) -> None:
    with pytest.raises(IbmiInputError):
        render(program)


@settings(max_examples=3000, deadline=None)
@given(command=cl_commands())
def test_shell_line_property_shlex_reads_one_argument(command: str) -> None:
    line = shell_line(command)
    assert shlex.split(line) == ["system", command]


# ---- shell_line: real POSIX shell round trip ---------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=300, deadline=None)
@given(command=cl_commands())
def test_shell_round_trip_property(shell: str, command: str) -> None:
    stdout = run_shell(shell, SYSTEM_FUNCTION + shell_line(command))
    assert stdout == (command + "\0").encode()


@pytest.mark.parametrize("lc_all", LOCALES)
@pytest.mark.parametrize("shell", SHELLS)
def test_shell_round_trip_batch_of_2000_in_one_process(
    shell: str, lc_all: str, tmp_path: Path
) -> None:
    commands = _random_commands(2000, seed=20240601)
    # The batch really contains the hostile material it is meant to prove.
    joined = "\n".join(commands)
    for needle in ("$APP", "$(", "`", "'", '"', ";", "&&", "|", "\\", "!", "~", "*", "?", "é"):
        assert needle in joined, needle
    script = tmp_path / "batch.sh"
    script.write_text(
        SYSTEM_FUNCTION_WITH_ARGC + "".join(shell_line(cl) + "\n" for cl in commands),
        encoding="utf-8",
    )
    result = subprocess.run(
        [shell, str(script)], capture_output=True, env=shell_env(lc_all), timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    fields = result.stdout.split(b"\0")
    assert fields[-1] == b""
    pairs = list(zip(fields[0:-1:2], fields[1:-1:2], strict=True))
    assert len(pairs) == len(commands)
    for index, ((argc, argument), command) in enumerate(zip(pairs, commands, strict=True)):
        assert argc == b"1", (index, command)
        assert argument == command.encode(), (index, command, argument)


# ---- the negative proof: why shell_line exists -------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_naive_double_quoted_line_expands_ibmi_names(shell: str) -> None:
    command = build_clrlib_command("$APP").render()
    assert command == "QSYS/CLRLIB LIB($APP)"
    naive = f'system "{command}"'

    # APP unset: the library name silently disappears.
    assert run_shell(shell, SYSTEM_FUNCTION + naive) == b"QSYS/CLRLIB LIB()\0"
    # APP set in the login environment: a DIFFERENT library would be cleared.
    env = shell_env(APP="PRODLIB")
    assert run_shell(shell, SYSTEM_FUNCTION + naive, env) == b"QSYS/CLRLIB LIB(PRODLIB)\0"
    # The real line is immune to both.
    assert run_shell(shell, SYSTEM_FUNCTION + shell_line(command)) == (command + "\0").encode()
    assert run_shell(shell, SYSTEM_FUNCTION + shell_line(command), env) == (command + "\0").encode()


@pytest.mark.parametrize("shell", SHELLS)
def test_naive_double_quoted_line_runs_command_substitution(shell: str) -> None:
    command = build_crtsavf_command(
        QualifiedName("RESYNC", "SAVF1"), text="$(echo INJECTED) `echo TOO`"
    ).render()
    assert command == "QSYS/CRTSAVF FILE(RESYNC/SAVF1) TEXT('$(echo INJECTED) `echo TOO`')"
    naive = f'system "{command}"'
    assert run_shell(shell, SYSTEM_FUNCTION + naive) == (
        b"QSYS/CRTSAVF FILE(RESYNC/SAVF1) TEXT('INJECTED TOO')\0"
    )
    assert run_shell(shell, SYSTEM_FUNCTION + shell_line(command)) == (command + "\0").encode()

"""Quoting for the two languages a command passes through: CL, then the remote POSIX shell.

A CL command reaches IBM i as `system '<CL>'` on an SSH exec channel. The login shell parses
that line before PASE `system` sees it (ibmi.md §2.4 item 5: the whole CL command must be one
argv element), so an IBM i name such as `$APP` would be expanded by a double-quoted line.
We therefore quote the CL command for a POSIX shell with single quotes, where nothing is
special, and we quote CL string values with CL apostrophes, doubled inside.
"""

from __future__ import annotations

import re
import shlex

from ibmi_resync.names import IbmiInputError, require_printable

_PROGRAM_RE = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./-]*")
_CL_STRING = re.compile(r"'[^']*'")
_PARENTHESIS = re.compile(r"[()]")

__all__ = ["check_cl_shape", "cl_string", "shell_command", "shell_line"]


def cl_string(value: object, *, field: str, max_length: int = 5000) -> str:
    """Render a CL character literal: `'O''Brien'` (ibmi.md §2.4 item 5).

    Control characters are refused rather than escaped: CL has no escape for them and a
    newline would end the command early on some interfaces.
    """
    text = require_printable(field, value)
    if len(text) > max_length:
        raise IbmiInputError(field, value, f"at most {max_length} characters")
    return "'" + text.replace("'", "''") + "'"


def check_cl_shape(command: str) -> str:
    """Assert that a rendered CL command has balanced quotes and parentheses and one line.

    The builders already guarantee this; the check is a second lock on the same door, run on
    every command before it leaves the process, so a future builder bug fails loudly here
    instead of sending a command of a different shape to a production system.
    """
    require_printable("command", command)
    # Strings go first: a doubled apostrophe inside one ends it and opens the next, which
    # balances the same way. What is left is outside every string.
    outside = _CL_STRING.sub("", command)
    if "'" in outside:
        raise IbmiInputError("command", command, "unbalanced apostrophe")
    depth = 0
    for char in _PARENTHESIS.findall(outside):
        depth += 1 if char == "(" else -1
        if depth < 0:
            raise IbmiInputError("command", command, "closing parenthesis without opening")
    if depth:
        raise IbmiInputError("command", command, "unbalanced parentheses")
    return command


def shell_line(command: str, *, system_program: str = "system") -> str:
    """The exact SSH exec line that runs one CL command through PASE `system`.

    `shlex.quote` wraps the command in single quotes and writes an embedded apostrophe as
    `'"'"'`, which every POSIX shell (bash, ksh, sh on IBM i PASE) reads back as the original
    text in one argument. `system_program` comes from the site profile (a full path such as
    /QOpenSys/usr/bin/system when the login PATH is not trusted).
    """
    check_cl_shape(command)
    if not (command[:1].isalpha() or command[:1] in ("$", "#", "@")):
        # `system` would read a leading '-' as one of its own options (ibmi.md §2.2); a
        # library qualifier may start with $ # @ like any *NAME ($ICL/DMSTRCST).
        raise IbmiInputError("command", command, "a CL command starts with its name")
    return shell_command(system_program, command, field="system_program")


def shell_command(program: str, *arguments: str, field: str = "program") -> str:
    """A PASE command line: a plain program path, then each argument single-quoted."""
    text = require_printable(field, program)
    # A word with '=' would be read as a variable assignment and a leading '-' as an option:
    # neither runs the program the profile meant.
    if not _PROGRAM_RE.fullmatch(text):
        raise IbmiInputError(field, program, "must be a plain path (letters, digits, / . _ -)")
    for argument in arguments:
        require_printable(field, argument)
    return " ".join([text, *(shlex.quote(argument) for argument in arguments)])

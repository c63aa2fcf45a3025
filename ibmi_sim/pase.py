"""PASE ``system`` semantics: options, which messages go where, and the exit status.

ibmi.md §2.3: success prints completion and informational messages as ``MSGID: text`` lines on
stdout and exits 0; an escape prints every message (diagnostics first, escape last) on stderr,
stdout empty, and exits 255. ``-n`` drops the ``MSGID: `` prefix, ``-q`` prints no messages
(§2.2 [V]/[I]); ``-v`` echoes the command first [G]. The remaining options are accepted and
ignored (§12). Arguments after the options are joined by blanks into one CL command (§2.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from ibmi_sim.jobs import Escape, Message
from ibmi_sim.messages import MsgType

_FLAGS = set("beEhiIkKnOpqsv")
USAGE = "Usage: system [-beEhiIkKnOpqsv] CL-command [CL-parameters ...]"  # [G] wording
USAGE_STATUS = 1  # [G]
QSH_ESCAPE_STATUS = 1  # [O/I] ibmi.md §2.3: 1 observed, possibly from a wrapper script


@dataclass(frozen=True)
class SystemCall:
    """A parsed ``system`` command line."""

    flags: frozenset[str]
    command: str


def parse_argv(argv: list[str]) -> SystemCall | None:
    """Options then the CL command; None when the line is not valid (usage error)."""
    flags: set[str] = set()
    index = 0
    while index < len(argv) and argv[index].startswith("-") and len(argv[index]) > 1:
        arg = argv[index]
        index += 1
        if arg == "--":
            break
        letters = set(arg[1:])
        if not letters <= _FLAGS:
            return None
        flags |= letters
    command = " ".join(argv[index:]).strip()
    if not command:
        return None
    return SystemCall(frozenset(flags), command)


def format_result(
    call: SystemCall, messages: list[Message], escape: Escape | None, *, qshell: bool = False
) -> tuple[str, str, int]:
    """(stdout, stderr, exit status) for a finished ``system`` call.

    ``qshell``: the Qshell ``system`` utility (inside ``qsh -c``) differs (ibmi.md §2.3 [O]):
    every message goes to stderr as ``ID:  text`` (two spaces), and an escape exits 1.
    """
    if qshell:
        shown = [m for m in messages if m.msg_type is not MsgType.REQUEST]
        lines = "" if "q" in call.flags else "".join(_qsh_line(m, call) for m in shown)
        return "", lines, 0 if escape is None else QSH_ESCAPE_STATUS
    with_id = "n" not in call.flags
    echo = f"{call.command}\n" if "v" in call.flags else ""
    if escape is None:
        shown = [
            m
            for m in messages
            if m.msg_type in (MsgType.COMPLETION, MsgType.INFORMATIONAL, MsgType.DIAGNOSTIC)
        ]
        out = "" if "q" in call.flags else "".join(m.line(with_id) + "\n" for m in shown)
        return echo + out, "", 0
    shown = [m for m in messages if m.msg_type is not MsgType.REQUEST]
    err = "" if "q" in call.flags else "".join(m.line(with_id) + "\n" for m in shown)
    return echo, err, 255


def _qsh_line(message: Message, call: SystemCall) -> str:
    if "n" in call.flags or not message.msg_id:
        return message.text + "\n"
    return f"{message.msg_id}:  {message.text}\n"

"""Parse and classify IBM i messages from PASE `system` output, job logs and the event log.

Why this module exists: the exit status of an IBM i command says little. ``RSTLIB`` exits 255 even
when every object was restored (ibmi.md §5.4), ``ENDSBS`` "succeeds" while the subsystem is still
ending (ibmi.md §7.1), and ``QCMDEXC`` over ODBC only ever reports SQL0443 (ibmi.md §4). The step
result must therefore be decided from the message IDs and the counts carried in their texts.

Everything here is pure and stdlib-only so that operators, the simulator and tests can share it.
Message texts carry the evidence labels of ibmi.md §0 in ``MessageInfo.source``:
``V`` verified, ``O`` observed, ``I`` inferred, ``G`` guessed. The label is the fourth column of
``_CATALOG_ROWS``; grep for ``, "G", "`` to find the texts that must be confirmed on a real system
(``DSPMSGD RANGE(id) MSGF(QSYS/QCPFMSG)``), or filter ``MESSAGE_CATALOG`` on ``source == "G"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "COUNT_FIELDS",
    "MESSAGE_CATALOG",
    "MESSAGE_ID_PATTERN",
    "OBJECT_FIELDS",
    "IbmiMessage",
    "MessageInfo",
    "MessageSource",
    "MessageType",
    "NotRestoredObject",
    "NotSavedObject",
    "Outcome",
    "SaveRestoreCounts",
    "SourceLabel",
    "SystemResult",
    "classify",
    "objects_not_restored",
    "objects_not_saved",
    "parse_event_log_rows",
    "parse_joblog_rows",
    "parse_submitted_job",
    "parse_system_output",
    "row_get",
    "summarise",
    "unknown_message_ids",
    "unreadable_messages",
]

# 3-character prefix (CPF, CPC, CPI, CPD, SQL, HAB, ...) + 4 hex-ish characters (CPF37C1, CPI373B).
MESSAGE_ID_PATTERN = r"[A-Z][A-Z0-9]{2}[0-9A-F]{4}"

# ibmi.md §2.3: PASE `system` prints "MSGID: text" (one space); Qshell `system` uses two spaces.
_MESSAGE_LINE = re.compile(rf"(?P<msg_id>{MESSAGE_ID_PATTERN}): {{1,2}}(?P<text>\S.*)")

MessageSource = Literal["stdout", "stderr", "joblog", "eventlog"]
SourceLabel = Literal["V", "O", "I", "G"]


class MessageType(StrEnum):
    """IBM i message type; values are the QSYS2.JOBLOG_INFO MESSAGE_TYPE spellings (ibmi.md §8).

    ``UNKNOWN`` keeps rows whose type string we do not recognise (or sources without a type, such as
    the iCluster event log) instead of dropping them.
    """

    COMPLETION = "COMPLETION"
    DIAGNOSTIC = "DIAGNOSTIC"
    ESCAPE = "ESCAPE"
    INFORMATIONAL = "INFORMATIONAL"
    INQUIRY = "INQUIRY"
    NOTIFY = "NOTIFY"
    REPLY = "REPLY"
    REQUEST = "REQUEST"
    COMMAND = "COMMAND"
    SCOPE = "SCOPE"
    SENDER = "SENDER"
    UNKNOWN = "UNKNOWN"


class Outcome(StrEnum):
    """What a message means for the step that produced it.

    ``OK``, ``INFO`` and ``ALREADY_DONE`` all mean the wanted state was reached; see ``is_success``.
    ``ALREADY_DONE`` exists so idempotent steps can report "no change" (e.g. CPF1054 when ending a
    subsystem that is not active). ``IN_PROGRESS`` marks asynchronous commands that must be polled.
    """

    OK = "OK"
    ALREADY_DONE = "ALREADY_DONE"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    IN_PROGRESS = "IN_PROGRESS"
    INFO = "INFO"
    UNKNOWN = "UNKNOWN"

    @property
    def is_success(self) -> bool:
        """True when the step reached its wanted state (OK, INFO or ALREADY_DONE)."""
        return self in _SUCCESS_OUTCOMES


_SUCCESS_OUTCOMES = frozenset({Outcome.OK, Outcome.INFO, Outcome.ALREADY_DONE})

# Worst first. FAILED: the step's effect did not happen. PARTIAL: it happened only in part, so the
# BACKUP node holds a known gap (more actionable than UNKNOWN, which is "a human must look" without
# evidence of damage). IN_PROGRESS: not failed, but not in the wanted state yet; the caller polls.
# ALREADY_DONE > INFO > OK: all successes; the higher one is more worth logging ("no change",
# "succeeded with notes", "clean").
_WORST_FIRST = (
    Outcome.FAILED,
    Outcome.PARTIAL,
    Outcome.UNKNOWN,
    Outcome.IN_PROGRESS,
    Outcome.ALREADY_DONE,
    Outcome.INFO,
    Outcome.OK,
)
_RANK = {outcome: len(_WORST_FIRST) - index for index, outcome in enumerate(_WORST_FIRST)}


@dataclass(frozen=True)
class SaveRestoreCounts:
    """Numbers and library names carried in the text of a save/restore completion or escape.

    Every field is optional because each message carries only some of them (CPC3722 has saved and
    library; CPF3773 has restored, not_restored and to_library).
    """

    saved: int | None = None
    restored: int | None = None
    not_saved: int | None = None
    not_restored: int | None = None
    library: str | None = None
    to_library: str | None = None


@dataclass(frozen=True)
class NotRestoredObject:
    """One object named by a per-object diagnostic (CPF3756 ``&2 &1 not restored to &3.``)."""

    library: str
    name: str
    type: str


# Same shape; a separate name keeps call sites honest about which list they hold.
NotSavedObject = NotRestoredObject


@dataclass(frozen=True)
class MessageInfo:
    """One catalog row: what a message ID means for an orchestrator.

    :param text_template: English first-level text with ``&1`` placeholders, or None when no text is
        known. Count regexes are generated from it, so correcting a guessed text fixes the parser.
    :param source: evidence label (ibmi.md §0) of the text; of the ID/meaning when there is no text.
    """

    msg_id: str
    type: MessageType
    outcome: Outcome
    meaning: str
    text_template: str | None
    source: SourceLabel


def _info(
    msg_id: str,
    type_: MessageType,
    outcome: Outcome,
    source: SourceLabel,
    meaning: str,
    template: str | None = None,
) -> MessageInfo:
    return MessageInfo(msg_id, type_, outcome, meaning, template, source)


_C, _D, _E, _I = (
    MessageType.COMPLETION,
    MessageType.DIAGNOSTIC,
    MessageType.ESCAPE,
    MessageType.INFORMATIONAL,
)
_OK, _DONE, _PART, _FAIL, _PROG, _INFO = (
    Outcome.OK,
    Outcome.ALREADY_DONE,
    Outcome.PARTIAL,
    Outcome.FAILED,
    Outcome.IN_PROGRESS,
    Outcome.INFO,
)

# Columns: ID, default type, outcome, label of the text (of the meaning when there is no text),
# meaning, English first-level text. Laid out by hand as a table, hence fmt: off.
# fmt: off
_CATALOG_ROWS = (
    # --- Save (ibmi.md §5.3) ---
    _info("CPC3722", _C, _OK, "O", "library saved to a save file",
          "&1 objects saved from library &2."),
    _info("CPC3701", _C, _OK, "V", "library saved to media"),
    _info("CPC3720", _C, _OK, "V", "several libraries saved (final message)"),
    _info("CPC3721", _C, _OK, "V", "several libraries saved (final message)"),
    _info("CPC370C", _C, _OK, "V", "SAV (IFS) completed; text truncated in the IBM doc"),
    _info("CPC9063", _C, _OK, "G", "SAVDLO to a save file completed",
          "&1 document library objects saved."),
    _info("CPC9410", _C, _OK, "V", "SAVDLO to media completed"),
    _info("CPF3771", _E, _PART, "G", "some objects not saved, single library",
          "&1 objects saved from &2. &3 not saved."),
    _info("CPF3751", _E, _PART, "V", "some objects not saved, more than one library"),
    _info("CPF3778", _E, _PART, "V", "some objects not saved, more than one library"),
    _info("CPF3701", _E, _PART, "V", "partial save to a save file (IBM wording ambiguous)"),
    _info("CPF3777", _E, _PART, "G", "not all objects saved from all libraries (ID is V)"),
    _info("CPF3770", _E, _FAIL, "G", "no objects saved or restored for the library",
          "No objects saved or restored for library &1."),
    _info("CPF3781", _E, _FAIL, "G", "library to save not found",
          "Library &1 not found."),
    _info("CPF3782", _E, _FAIL, "G", "file is not a save file",
          "File &1 in &2 not a save file."),
    _info("CPF3797", _E, _FAIL, "V", "save limit exceeded",
          "Objects from library &1 not saved. Save limit exceeded."),
    _info("CPF3794", _E, _FAIL, "G", "save or restore ended unsuccessfully",
          "Save or restore operation ended unsuccessfully."),
    _info("CPF3793", _E, _FAIL, "G", "machine storage limit reached",
          "Machine storage limit reached."),
    _info("CPF3812", _E, _FAIL, "G", "save file in use",
          "Save file &1 in &2 in use."),
    # Message type G. The in-use OUTPUT(*OUTFILE) file is missing from the SAVF: a (known) gap.
    _info("CPF379A", _D, _PART, "V", "object not saved: it is the in-use output file"),
    _info("CPI3710", _I, _INFO, "V", "save-while-active checkpoint reached"),
    _info("CPI3712", _I, _INFO, "V", "save-while-active checkpoint reached"),
    # --- Restore (ibmi.md §5.4) ---
    _info("CPC3703", _C, _OK, "O", "objects restored to a library",
          "&1 objects restored from &2 to &3."),
    _info("CPC370E", _C, _OK, "V", "objects restored from media"),
    _info("CPC370F", _C, _OK, "V", "objects restored from a save file"),
    _info("CPC371C", _C, _OK, "V", "deferred objects completed"),
    _info("CPC9023", _C, _OK, "V", "DLOs restored from media"),
    _info("CPC9053", _C, _OK, "G", "DLOs restored from a save file",
          "&1 document library objects restored."),
    _info("CPF37C1", _E, _PART, "V", "deferred objects completed and not completed"),
    # classify(): CPF3773 with 0 not restored is OK (ibmi.md §5.4: sent on 7.2+ with CPF3848).
    _info("CPF3773", _E, _PART, "O", "objects restored and not restored to a library",
          "&1 objects restored. &2 not restored to &3."),
    _info("CPF3839", _E, _PART, "V", "objects restored and not restored from media"),
    _info("CPF383E", _E, _PART, "V", "objects restored and not restored from a save file"),
    _info("CPF9003", _E, _PART, "V", "DLOs restored and not restored"),
    _info("CPF909B", _E, _PART, "V", "DLOs restored and not restored from a save file"),
    _info("CPI373B", _I, _INFO, "V", "all deferred objects completed"),
    # Deferred objects (e.g. LFs waiting for their PFs) are not restored yet: a gap until done.
    _info("CPI373C", _I, _PART, "V", "deferred objects remaining"),
    # Message type G; one per object not restored, read by objects_not_restored().
    _info("CPF3756", _D, _PART, "O", "one object not restored",
          "&2 &1 not restored to &3."),
    # A public restore routine treats these two as ignorable (ibmi.md §5.4); CPF3773 counts them.
    _info("CPF7086", _D, _INFO, "O", "journal not restored (treated as ignorable)",
          "Cannot restore journal &1 to library &4."),
    _info("CPF707F", _D, _INFO, "O", "journal receiver not restored (treated as ignorable)",
          "Cannot restore receiver &1 into library &2."),
    _info("CPF3848", _D, _INFO, "V", "authority or ownership changed during restore"),
    _info("CPI3811", _I, _INFO, "V", "primary group differs (pre-7.2 message)"),
    _info("CPF3780", _E, _FAIL, "O", "library not in the save file",
          "Specified file for library &1 not found."),
    _info("CPF3806", _E, _FAIL, "O", "objects from save file not restored",
          "Objects from save file &1 in &2 not restored."),
    _info("CPF9812", _E, _FAIL, "O", "file (e.g. the save file) not found",
          "File &1 in library &2 not found."),
    _info("CPF0001", _E, _FAIL, "G", "command failed parameter validation",
          "Error found on &1 command."),
    _info("CPF0006", _E, _FAIL, "G", "errors in command",
          "Errors occurred in command."),
    _info("CPC3705", _C, _OK, "G", "RSTUSRPRF: all user profiles restored",
          "&1 user profiles restored."),
    _info("CPF3775", _E, _PART, "G", "RSTUSRPRF: some user profiles not restored",
          "&1 user profiles restored. &2 not restored."),
    # RSTAUT (ibmi.md §5.2): IBM's RSTAUT job-log sample gives CPF3736 and the texts of the
    # partial-completion pair; the ids CPF3845/CPF3846 and the completion CPC3706 are guesses.
    _info("CPC3706", _C, _OK, "G", "RSTAUT: authorities restored for a user profile",
          "&1 authorities restored for user profile &2."),
    _info("CPF3736", _D, _PART, "V", "RSTAUT: an authority not restored",
          "Authority not restored for user &1."),
    _info("CPF3845", _D, _PART, "G", "RSTAUT: some authorities not restored for a profile",
          "Some authorities not restored for user profile &1."),
    _info("CPF3846", _E, _PART, "G", "RSTAUT: not every profile had all authorities restored",
          "Not all user profiles had all authorities restored."),
    # --- Save file, subsystems, jobs, libraries, SQL (ibmi.md §4, §5.1, §7.1) ---
    _info("CPF5813", _D, _DONE, "O", "save file already exists",
          "File &1 in library &2 already exists."),
    # summarise(): after CPF5813 this escape only restates "already exists".
    _info("CPF7302", _E, _FAIL, "O", "file not created (cause in the preceding diagnostic)",
          "File &1 not created in library &2."),
    _info("CPF0943", _C, _PROG, "O", "ENDSBS accepted; subsystem still ending",
          "Ending of subsystem &1 in progress."),
    _info("CPF1054", _E, _DONE, "O", "subsystem not active (ending it is a no-op)",
          "No subsystem &1 active."),
    _info("CPF0902", _C, _PROG, "O", "STRSBS accepted; subsystem starting",
          "Subsystem &1 in library &2 being started."),
    # Observed as "Subsystem name QBATCH active."; whether "name" is literal text is unverified.
    _info("CPF1010", _E, _DONE, "O", "subsystem already active",
          "Subsystem name &1 active."),
    _info("CPF1080", _E, _FAIL, "O", "subsystem description library not found",
          "Library &1 not found."),
    # The last message of a batch job's log when it ended without an escape (ibmi.md §7.1).
    _info("CPF1241", _C, _INFO, "G", "batch job completed normally",
          "Job &1 completed normally on &2 at &3."),
    # SBMJOB returns once the job is queued; the work itself still has to be polled.
    _info("CPC1221", _C, _PROG, "G", "job submitted to a job queue",
          "Job &3/&2/&1 submitted to job queue &4 in library &5."),
    # Context-dependent: after DLTLIB it means "already gone"; that step may decide so by ID.
    _info("CPF2110", _E, _FAIL, "V", "library not found",
          "Library &1 not found."),
    _info("CPC2194", _C, _OK, "V", "library deleted (DLTLIB)"),
    _info("CPF2111", _E, _DONE, "O", "library already exists",
          "Library &1 already exists."),
    _info("SQL0443", _E, _FAIL, "O", "QCMDEXC failed; the real CPF message is in the job log",
          "Trigger program or external routine detected an error."),
)
# fmt: on

MESSAGE_CATALOG: Mapping[str, MessageInfo] = MappingProxyType(
    {info.msg_id: info for info in _CATALOG_ROWS}
)

_COUNT_FIELD_NAMES = frozenset({"saved", "restored", "not_saved", "not_restored"})

# Which placeholder of a catalog template fills which SaveRestoreCounts field. The regexes are
# generated from MESSAGE_CATALOG templates, so there is one place to fix a wrong text.
COUNT_FIELDS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "CPC3722": {"&1": "saved", "&2": "library"},
        "CPF3771": {"&1": "saved", "&2": "library", "&3": "not_saved"},
        "CPC3703": {"&1": "restored", "&2": "library", "&3": "to_library"},
        "CPF3773": {"&1": "restored", "&2": "not_restored", "&3": "to_library"},
        "CPC3705": {"&1": "restored"},
        "CPF3775": {"&1": "restored", "&2": "not_restored"},
        "CPC9063": {"&1": "saved"},
        "CPC9053": {"&1": "restored"},
    }
)

# Per-object diagnostics: placeholder -> NotRestoredObject field.
OBJECT_FIELDS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"CPF3756": {"&1": "name", "&2": "type", "&3": "library"}}
)
_NOT_RESTORED_IDS = frozenset({"CPF3756"})
# ibmi.md documents no per-object "not saved" diagnostic with a text (CPF379A has a meaning only).
# Add its ID here, plus its template and OBJECT_FIELDS row, once DSPMSGD confirms one.
_NOT_SAVED_IDS: frozenset[str] = frozenset()

_PLACEHOLDER = re.compile(r"&\d+")


def _literal_regex(text: str) -> str:
    # Tolerate doubled blanks (some message texts use two spaces after a period).
    return r"\s+".join(re.escape(word) for word in re.split(r" +", text))


def _placeholder_regex(placeholder: str, fields: Mapping[str, str]) -> str:
    field = fields.get(placeholder)
    if field is None:
        return r".+?"
    if field in _COUNT_FIELD_NAMES:
        return rf"(?P<{field}>\d+)"
    return rf"(?P<{field}>\S+)"  # IBM i names contain no blanks


def _template_regex(template: str, fields: Mapping[str, str]) -> re.Pattern[str]:
    """Turn ``&1 objects saved from library &2.`` into a regex with named groups."""
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(_literal_regex(template[position : match.start()]))
        parts.append(_placeholder_regex(match.group(0), fields))
        position = match.end()
    parts.append(_literal_regex(template[position:]))
    return re.compile("".join(parts))


def _compile_patterns(table: Mapping[str, Mapping[str, str]]) -> dict[str, re.Pattern[str]]:
    patterns = {}
    for msg_id, fields in table.items():
        template = MESSAGE_CATALOG[msg_id].text_template
        if template is None:
            raise ValueError(f"{msg_id}: text fields declared but the catalog has no template")
        patterns[msg_id] = _template_regex(template, fields)
    return patterns


_COUNT_PATTERNS = _compile_patterns(COUNT_FIELDS)
_OBJECT_PATTERNS = _compile_patterns(OBJECT_FIELDS)


def _match_text(pattern: re.Pattern[str], text: str) -> dict[str, str] | None:
    match = pattern.fullmatch(text.strip())
    return None if match is None else match.groupdict()


@dataclass(frozen=True)
class IbmiMessage:
    """One IBM i (or iCluster) message, whatever channel it came from.

    ``msg_id`` is None for job-log request/command messages (JOBLOG_INFO returns NULL there).
    ``severity`` and ``timestamp`` are None for PASE ``system`` output, which carries neither.
    """

    msg_id: str | None
    type: MessageType
    severity: int | None
    text: str
    source: MessageSource
    timestamp: datetime | None = None
    second_level_text: str | None = None
    node: str | None = None
    group: str | None = None

    def __str__(self) -> str:
        return self.text if self.msg_id is None else f"{self.msg_id}: {self.text}"

    @property
    def counts(self) -> SaveRestoreCounts | None:
        """Counts read from the English first-level text; None when absent or unreadable.

        Never guessed: a German/Italian text (ibmi.md §2.3: texts follow the job language) gives
        None, and ``counts_unreadable`` tells the caller to fall back to OUTPUT(*OUTFILE) or SQL.
        """
        pattern = _COUNT_PATTERNS.get(self.msg_id or "")
        groups = None if pattern is None else _match_text(pattern, self.text)
        if groups is None:
            return None
        values: dict[str, Any] = {
            field: int(value) if field in _COUNT_FIELD_NAMES else value
            for field, value in groups.items()
        }
        return SaveRestoreCounts(**values)

    @property
    def counts_unreadable(self) -> bool:
        """True when this ID should carry counts but its text does not match the known template."""
        return self.msg_id in _COUNT_PATTERNS and self.counts is None


def _inferred_type(msg_id: str, catalog: Mapping[str, MessageInfo]) -> MessageType:
    """Type of a message printed by a successful ``system`` call, which does not print types."""
    known = catalog.get(msg_id)
    if known is not None:
        return known.type
    prefix = msg_id[:3]
    if prefix.endswith("C"):
        return MessageType.COMPLETION
    if prefix == "CPD":
        return MessageType.DIAGNOSTIC
    return MessageType.INFORMATIONAL


def _merged_catalog(extra_catalog: Mapping[str, MessageInfo] | None) -> Mapping[str, MessageInfo]:
    return {**MESSAGE_CATALOG, **extra_catalog} if extra_catalog else MESSAGE_CATALOG


def _split_lines(stream: str) -> list[str]:
    # Split on "\n" only (not str.splitlines) so form feeds etc. in spooled output stay in place.
    lines = [line.removesuffix("\r") for line in stream.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _read_stream(stream: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Split one stream into (msg_id, text) pairs and the other lines, order preserved."""
    messages: list[tuple[str, str]] = []
    others: list[str] = []
    for line in _split_lines(stream):
        match = _MESSAGE_LINE.fullmatch(line)
        if match is None:
            others.append(line)
        else:
            messages.append((match["msg_id"], match["text"].rstrip()))
    return messages, others


@dataclass(frozen=True)
class SystemResult:
    """Parsed result of one PASE (or Qshell) ``system "CL CMD"`` call.

    ``spool_lines`` holds non-message stdout lines: spooled output is written to stdout
    (ibmi.md §2.2). ``stderr_other_lines`` holds non-message stderr lines, e.g. a CCSID conversion
    error that comes with exit 255 and no message ID (ibmi.md §2.4 item 4); they are not spool
    output, but they must not be lost either.
    """

    exit_status: int
    messages: tuple[IbmiMessage, ...]
    spool_lines: tuple[str, ...] = ()
    stderr_other_lines: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        """Exit status 0. Not the same as "the step worked": see ``outcome()``."""
        return self.exit_status == 0

    @property
    def escape(self) -> IbmiMessage | None:
        """The escape message that ended the command (the last ESCAPE), or None."""
        escapes = [m for m in self.messages if m.type is MessageType.ESCAPE]
        return escapes[-1] if escapes else None

    @property
    def unknown_ids(self) -> tuple[str, ...]:
        """IDs not in MESSAGE_CATALOG, first-seen order; kept and reported, never dropped."""
        return unknown_message_ids(self.messages)

    def by_id(self, msg_id: str) -> tuple[IbmiMessage, ...]:
        """All messages with this ID (several CPF3756 may appear in one restore)."""
        return tuple(m for m in self.messages if m.msg_id == msg_id)

    def outcome(self, *, extra_catalog: Mapping[str, MessageInfo] | None = None) -> Outcome:
        """Step outcome from the messages, not from the exit status alone.

        rc 255 with only CPF3848 + CPF3773 (0 not restored) is a success (ibmi.md §5.4). A non-zero
        exit without any escape message (e.g. only a conversion error text) is FAILED: something
        went wrong and no message explains it.
        """
        summary = summarise(self.messages, extra_catalog=extra_catalog)
        if not self.succeeded and self.escape is None:
            return Outcome.FAILED
        if summary is Outcome.UNKNOWN and self.succeeded and self.escape is None:
            # Exit status 0 means the command sent no escape (ibmi.md §2.3): it completed. An
            # unknown completion or informational id (a product's own, a release's new one)
            # says nothing against that; in a job log, where no exit status exists, it would.
            return Outcome.OK
        return summary


def parse_system_output(
    stdout: str,
    stderr: str,
    exit_status: int,
    *,
    extra_catalog: Mapping[str, MessageInfo] | None = None,
) -> SystemResult:
    """Parse the output of PASE ``system`` (or Qshell ``system``) into messages and spool lines.

    ``system`` prints no message types, so they are inferred. ibmi.md §2.3: on an escape the exit
    status is 255 (Qshell: non-zero, 1 observed) and all messages are on stderr, diagnostics first
    and the escape last; so on a non-zero exit the last stderr message is the ESCAPE and earlier
    stderr messages are DIAGNOSTIC. Otherwise the catalog type is used for known IDs, else the ID
    prefix decides (CPC... completion, CPD diagnostic, anything else informational).
    """
    catalog = _merged_catalog(extra_catalog)
    out_messages, spool = _read_stream(stdout)
    err_messages, err_other = _read_stream(stderr)
    messages = [
        IbmiMessage(msg_id, _inferred_type(msg_id, catalog), None, text, "stdout")
        for msg_id, text in out_messages
    ]
    last = len(err_messages) - 1
    for index, (msg_id, text) in enumerate(err_messages):
        if exit_status == 0:
            msg_type = _inferred_type(msg_id, catalog)
        else:
            msg_type = MessageType.ESCAPE if index == last else MessageType.DIAGNOSTIC
        messages.append(IbmiMessage(msg_id, msg_type, None, text, "stderr"))
    return SystemResult(exit_status, tuple(messages), tuple(spool), tuple(err_other))


def row_get(row: Mapping[str, Any], column: str, default: Any = None) -> Any:
    """Read a column from a result row, ignoring the case of the column name.

    ODBC drivers and cursor wrappers differ in how they spell column names (``MESSAGE_ID`` vs
    ``message_id``), so rows are never indexed directly.
    """
    if column in row:
        return row[column]
    wanted = column.casefold()
    for key, value in row.items():
        if isinstance(key, str) and key.casefold() == wanted:
            return value
    return default


def _as_text(value: Any) -> str | None:
    """Strip CHAR padding; empty strings become None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError, OverflowError):
        return None


def _as_datetime(value: Any) -> datetime | None:
    """Accept a datetime (pyodbc) or an ISO / IBM ``YYYY-MM-DD-HH.MM.SS.ffffff`` string."""
    if isinstance(value, datetime):
        return value
    text = _as_text(value)
    if text is None:
        return None
    for parse in (datetime.fromisoformat, _parse_ibm_timestamp):
        try:
            return parse(text)
        except ValueError:
            continue
    return None


def _parse_ibm_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d-%H.%M.%S.%f")


def _as_message_type(value: Any) -> MessageType:
    text = _as_text(value)
    try:
        return MessageType((text or "").upper())
    except ValueError:
        return MessageType.UNKNOWN


def _ordinal_key(row: Mapping[str, Any]) -> tuple[bool, int]:
    ordinal = _as_int(row_get(row, "ORDINAL_POSITION"))
    return (ordinal is None, ordinal or 0)  # rows without a position go last, in input order


def parse_joblog_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[IbmiMessage, ...]:
    """Turn QSYS2.JOBLOG_INFO rows (ibmi.md §8, §10.1) into messages in job-log order.

    Rows are sorted by ORDINAL_POSITION because callers often query ``ORDER BY ... DESC`` to get
    the newest messages first (ibmi.md §4). A NULL MESSAGE_ID (request/command message) is kept;
    an unrecognised MESSAGE_TYPE becomes UNKNOWN and is kept.
    """
    messages = []
    for row in sorted(rows, key=_ordinal_key):
        messages.append(
            IbmiMessage(
                msg_id=_as_text(row_get(row, "MESSAGE_ID")),
                type=_as_message_type(row_get(row, "MESSAGE_TYPE")),
                severity=_as_int(row_get(row, "SEVERITY")),
                text=_as_text(row_get(row, "MESSAGE_TEXT")) or "",
                source="joblog",
                timestamp=_as_datetime(row_get(row, "MESSAGE_TIMESTAMP")),
                second_level_text=_as_text(row_get(row, "MESSAGE_SECOND_LEVEL_TEXT")),
            )
        )
    return tuple(messages)


def parse_event_log_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    extra_catalog: Mapping[str, MessageInfo],
) -> tuple[IbmiMessage, ...]:
    """Turn iCluster event-log rows into messages, in input order (the query should ORDER BY).

    Columns (any case): MESSAGE_TIMESTAMP, NODE, GROUP_NAME, MESSAGE_ID, SEVERITY, MESSAGE_TEXT,
    optional MESSAGE_SECOND_LEVEL_TEXT. The event log has no message type (icluster.md §7), so the
    type comes from the site profile's ``extra_catalog`` (iCluster IDs are not public and are never
    hard-coded here), then from MESSAGE_CATALOG, else UNKNOWN.
    """
    catalog = _merged_catalog(extra_catalog)
    messages = []
    for row in rows:
        msg_id = _as_text(row_get(row, "MESSAGE_ID"))
        known = catalog.get(msg_id) if msg_id else None
        messages.append(
            IbmiMessage(
                msg_id=msg_id,
                type=known.type if known else MessageType.UNKNOWN,
                severity=_as_int(row_get(row, "SEVERITY")),
                text=_as_text(row_get(row, "MESSAGE_TEXT")) or "",
                source="eventlog",
                timestamp=_as_datetime(row_get(row, "MESSAGE_TIMESTAMP")),
                second_level_text=_as_text(row_get(row, "MESSAGE_SECOND_LEVEL_TEXT")),
                node=_as_text(row_get(row, "NODE")),
                group=_as_text(row_get(row, "GROUP_NAME")),
            )
        )
    return tuple(messages)


# Messages without an ID that only record what ran (request/command) or say something harmless.
_HARMLESS_TYPES_WITHOUT_ID = frozenset(
    {
        MessageType.REQUEST,
        MessageType.COMMAND,
        MessageType.COMPLETION,
        MessageType.INFORMATIONAL,
    }
)


def classify(
    message: IbmiMessage, *, extra_catalog: Mapping[str, MessageInfo] | None = None
) -> Outcome:
    """Outcome of one message: catalog lookup, site catalog first.

    ``extra_catalog`` (site profile, mainly iCluster IDs) wins over MESSAGE_CATALOG and is taken
    as-is. Unknown IDs are UNKNOWN, never silently OK. Special rule (ibmi.md §5.4): since 7.2,
    CPF3773 is sent even when every object was restored (authority change, with CPF3848), so
    CPF3773 with ``not_restored == 0`` is OK; with unreadable counts it stays PARTIAL.
    """
    if message.msg_id is None:
        harmless = message.type in _HARMLESS_TYPES_WITHOUT_ID
        return Outcome.INFO if harmless else Outcome.UNKNOWN
    if extra_catalog and message.msg_id in extra_catalog:
        return extra_catalog[message.msg_id].outcome
    info = MESSAGE_CATALOG.get(message.msg_id)
    if info is None:
        return Outcome.UNKNOWN
    if message.msg_id == "CPF3773":
        counts = message.counts
        if counts is not None and counts.not_restored == 0:
            return Outcome.OK
    return info.outcome


# Escapes that only restate a failure whose cause is a preceding diagnostic: CRTSAVF on an existing
# save file sends CPF5813 then CPF7302 (ibmi.md §5.1); the pair means "already exists".
_RESTATING_ESCAPES: Mapping[str, frozenset[str]] = MappingProxyType(
    {"CPF7302": frozenset({"CPF5813"})}
)


def summarise(
    messages: Iterable[IbmiMessage],
    *,
    extra_catalog: Mapping[str, MessageInfo] | None = None,
) -> Outcome:
    """Worst outcome over the messages; OK for none.

    Order, worst first: FAILED > PARTIAL > UNKNOWN > IN_PROGRESS > ALREADY_DONE > INFO > OK.
    A failure or a known gap must never be hidden by a later success message; UNKNOWN ranks below
    PARTIAL because a known gap is the more specific report, and above IN_PROGRESS because polling
    an unexplained state is pointless. Among successes, the more informative one is reported.
    An escape listed in ``_RESTATING_ESCAPES`` is skipped when its cause is present (its cause is
    classified instead).
    """
    items = tuple(messages)
    present = {m.msg_id for m in items}
    worst = Outcome.OK
    for message in items:
        if _RESTATING_ESCAPES.get(message.msg_id or "", frozenset()) & present:
            continue
        outcome = classify(message, extra_catalog=extra_catalog)
        if _RANK[outcome] > _RANK[worst]:
            worst = outcome
    return worst


def unknown_message_ids(
    messages: Iterable[IbmiMessage],
    *,
    extra_catalog: Mapping[str, MessageInfo] | None = None,
) -> tuple[str, ...]:
    """IDs in neither catalog, first-seen order, each once: the list to review and add."""
    catalog = _merged_catalog(extra_catalog)
    seen: dict[str, None] = {}
    for message in messages:
        if message.msg_id is not None and message.msg_id not in catalog:
            seen.setdefault(message.msg_id)
    return tuple(seen)


def unreadable_messages(messages: Iterable[IbmiMessage]) -> tuple[IbmiMessage, ...]:
    """Messages whose text this module knows how to read but could not (e.g. a German job log).

    Their counts/objects are missing from ``counts``, ``objects_not_restored`` etc.; a caller must
    then verify another way (OUTPUT(*OUTFILE), SQL services) instead of assuming zero.
    """
    result = []
    for message in messages:
        pattern = _COUNT_PATTERNS.get(message.msg_id or "") or _OBJECT_PATTERNS.get(
            message.msg_id or ""
        )
        if pattern is not None and _match_text(pattern, message.text) is None:
            result.append(message)
    return tuple(result)


# ibmi.md §7.1: Ansible uses \d{6}/[A-Za-z0-9#_]{1,10}/[A-Za-z0-9#_]{1,10}; IBM i names may also
# hold $ @ and (not as the last character here, to keep a sentence's full stop out) a period.
_JOB_NAME_PART = r"[A-Za-z0-9$#@_](?:[A-Za-z0-9$#@_.]{0,8}[A-Za-z0-9$#@_])?"
_QUALIFIED_JOB = re.compile(
    rf"(?<![0-9])[0-9]{{6}}/{_JOB_NAME_PART}/{_JOB_NAME_PART}(?![A-Za-z0-9$#@_])"
)


def parse_submitted_job(
    result_or_message: SystemResult | IbmiMessage | Iterable[IbmiMessage],
) -> str | None:
    """Qualified job name ``nnnnnn/USER/NAME`` from the CPC1221 that SBMJOB sends (ibmi.md §7.1).

    Searched structurally, not by the (guessed) English wording, so it also works on a system
    running in another language. None when no CPC1221 carries a job name.
    """
    if isinstance(result_or_message, SystemResult):
        messages: Iterable[IbmiMessage] = result_or_message.messages
    elif isinstance(result_or_message, IbmiMessage):
        messages = (result_or_message,)
    else:
        messages = result_or_message
    for message in messages:
        if message.msg_id == "CPC1221":
            match = _QUALIFIED_JOB.search(message.text)
            if match is not None:
                return match.group(0)
    return None


def _objects(messages: Iterable[IbmiMessage], ids: frozenset[str]) -> tuple[NotRestoredObject, ...]:
    result = []
    for message in messages:
        if message.msg_id not in ids:
            continue
        groups = _match_text(_OBJECT_PATTERNS[message.msg_id], message.text)
        if groups is not None:
            result.append(NotRestoredObject(groups["library"], groups["name"], groups["type"]))
    return tuple(result)


def objects_not_restored(messages: Iterable[IbmiMessage]) -> tuple[NotRestoredObject, ...]:
    """Objects named by CPF3756 diagnostics (one per object not restored, ibmi.md §5.4).

    A CPF3756 whose text does not match the English template is skipped, never guessed; find such
    messages with ``unreadable_messages``.
    """
    return _objects(messages, _NOT_RESTORED_IDS)


def objects_not_saved(messages: Iterable[IbmiMessage]) -> tuple[NotSavedObject, ...]:
    """Objects named by per-object save diagnostics; currently always empty.

    ibmi.md §5.3 documents no per-object "not saved" diagnostic with a text: CPF379A is known by
    meaning only and CPF3771 carries only counts. Until a text is confirmed (DSPMSGD) and added to
    ``_NOT_SAVED_IDS``/``OBJECT_FIELDS``, nothing can be parsed; use ``counts.not_saved`` or the
    save OUTPUT(*OUTFILE) (QASAVOBJ, per-object error message ID, ibmi.md §5.5) for the list.
    """
    return _objects(messages, _NOT_SAVED_IDS)

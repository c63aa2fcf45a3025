"""The site profile: everything about Rocket iCluster that public documentation does not settle.

icluster.md §12 lists what could not be verified: the product library, most command
parameters, every message id for "positions marked", "group started" and "sync check ended",
and any SQL access to the event log, group status and latency. None of that is hard-coded in
the product. A site profile names it, per installation, and the product refuses to run
without one. The simulator ships a profile whose ids are visibly synthetic (prefix SIM).

Command templates are CL with `{placeholders}`; only the placeholders listed in
`TEMPLATE_FIELDS` exist, and every value substituted is a validated IBM i name, a number or
a special value from the profile itself, so a template cannot be turned into another command
by a group name.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ibmi_resync.cl import ClCommand
from ibmi_resync.messages import MessageInfo, MessageType, Outcome
from ibmi_resync.names import IbmiInputError, Name, require_printable
from ibmi_resync.quoting import check_cl_shape, shell_command

__all__ = [
    "COMMAND_TEMPLATES",
    "NETWORK_SYNC_COMMANDS",
    "NETWORK_SYNC_MESSAGES",
    "SITE_SQL_COLUMNS",
    "SITE_SQL_PARAMS",
    "TEMPLATE_FIELDS",
    "IclusterCommands",
    "IclusterMessages",
    "IclusterSql",
    "SiteProfile",
    "load_site_profile",
]

MESSAGE_ID_RE = re.compile(r"[A-Z][A-Z0-9]{2}[0-9A-F]{4}")
SPECIAL_VALUE_RE = re.compile(r"\*[A-Z][A-Z0-9]{0,9}")
_CL_NAME_RE = re.compile(r"[A-Z$#@][A-Z0-9$#@_.]{0,9}")  # *NAME, upper case as written

# Placeholders a command template may use, and the runbook steps that fill them.
TEMPLATE_FIELDS: dict[str, str] = {
    "product_library": "the iCluster product library (profile)",
    "group": "a replication group name (plan)",
    "node": "an iCluster node name (plan)",
    "primary_node": "the PRIMARY node's iCluster name (plan)",
    "backup_node": "the BACKUP node's iCluster name (plan)",
    "delay": "seconds for a controlled end (plan)",
    "sync_check_type": "DMSTRSC type, e.g. *OBJATTR (profile)",
    "repair": "DMSTRSC repair options, e.g. *AUTH *CBU *CRD (profile)",
}

# Which placeholders each command needs; a template missing one is refused at load time.
COMMAND_TEMPLATES: dict[str, tuple[str, ...]] = {
    "start_cluster": (),
    "start_node": ("node",),
    "end_group": ("group", "delay"),
    "mark_positions": ("group",),
    "start_group_at_mark": ("group",),
    "sync_check": ("group",),
    "end_sync_check": ("group",),
    "start_continuous_sync_check": ("group",),
    "start_group_refresh": ("group",),
}
# Only the network-sync program uses these (icluster.md §9): a profile for the save/restore
# resync alone may leave them out, and the network-sync program refuses to build without them.
NETWORK_SYNC_COMMANDS = ("start_group_refresh",)
NETWORK_SYNC_MESSAGES = ("refresh_submitted", "refresh_complete", "refresh_failed")

MessageId = Annotated[str, Field(pattern=MESSAGE_ID_RE.pattern)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IclusterCommands(_Strict):
    """CL templates for the iCluster commands of the runbook (icluster.md §2-§5)."""

    start_cluster: str
    start_node: str
    end_group: str
    mark_positions: str
    start_group_at_mark: str
    sync_check: str
    end_sync_check: str
    start_continuous_sync_check: str
    # DMSTRGRP with the refresh option (icluster.md §3.1 [I/G], §9 [V]): network sync.
    start_group_refresh: str | None = None

    @model_validator(mode="after")
    def _templates_use_known_fields(self) -> IclusterCommands:
        for action, required in COMMAND_TEMPLATES.items():
            template = getattr(self, action)
            if template is None:
                continue  # an optional (network-sync) command the site did not give
            field = f"commands.{action}"
            used = _template_fields(template, field=field)
            unknown = used - set(TEMPLATE_FIELDS)
            if unknown:
                raise IbmiInputError(
                    field,
                    template,
                    f"unknown placeholder(s) {sorted(unknown)}; known: {sorted(TEMPLATE_FIELDS)}",
                )
            missing = set(required) - used
            if missing:
                raise IbmiInputError(field, template, f"must use {sorted(missing)}")
        return self


class IclusterMessages(_Strict):
    """Event-log message ids that end each wait. None is public (icluster.md §10)."""

    mark_complete: MessageId
    mark_failed: MessageId
    group_started: MessageId
    sync_check_complete: MessageId
    sync_check_failed: MessageId
    # Network sync (icluster.md §9; no id is public): DMSTRGRP accepted the start with refresh
    # (the batch job's completion message), and the refresh ended (event log).
    refresh_submitted: MessageId | None = None
    refresh_complete: MessageId | None = None
    refresh_failed: MessageId | None = None
    # A regular expression with a named group `differences` that reads the number of
    # out-of-sync objects from the sync-check completion text (icluster.md §4.2: [I]).
    sync_check_differences_pattern: str
    # A regular expression with named groups `receiver` and `sequence` for the marked position.
    marked_position_pattern: str

    @field_validator("sync_check_differences_pattern", "marked_position_pattern")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a valid regular expression: {error}") from error
        return value

    @model_validator(mode="after")
    def _named_groups(self) -> IclusterMessages:
        pattern = self.sync_check_differences_pattern
        if "differences" not in re.compile(pattern).groupindex:
            raise IbmiInputError(
                "messages.sync_check_differences_pattern",
                pattern,
                "needs a (?P<differences>...) group",
            )
        pattern = self.marked_position_pattern
        if not {"receiver", "sequence"} <= set(re.compile(pattern).groupindex):
            raise IbmiInputError(
                "messages.marked_position_pattern",
                pattern,
                "needs (?P<receiver>...) and (?P<sequence>...) groups",
            )
        return self


# Parameters (in marker order) and result columns of each site statement: the contract the
# product reads, case-insensitively, whatever the SQL behind it looks like at a site.
SITE_SQL_PARAMS: dict[str, tuple[str, ...]] = {
    "local_node": (),
    "event_log": ("group", "since"),
    "group_status": ("group",),
    "node_status": ("node",),
    "latency": ("group",),
}
SITE_SQL_COLUMNS: dict[str, tuple[str, ...]] = {
    "local_node": ("NODE", "ROLE"),
    "event_log": (
        "MESSAGE_TIMESTAMP",
        "NODE",
        "GROUP_NAME",
        "MESSAGE_ID",
        "SEVERITY",
        "MESSAGE_TEXT",
    ),
    "group_status": ("GROUP_NAME", "STATUS", "SYNC_CHECK_ACTIVE", "CONTINUOUS_SYNC_CHECK"),
    "node_status": ("NODE", "STATUS"),
    "latency": (
        "GROUP_NAME",
        "SOURCE_LATENCY_SECONDS",
        "APPLY_LATENCY_SECONDS",
        "BACKLOG_ENTRIES",
        "LAST_APPLIED_SEQUENCE",
    ),
}


class IclusterSql(_Strict):
    """Read-only SQL that observes iCluster (icluster.md §6, §7: no public access exists).

    Each statement's parameters and result columns are fixed by SITE_SQL_PARAMS and
    SITE_SQL_COLUMNS; the SQL text behind them is the site's.
    """

    local_node: str  # params: none; which iCluster node answers, and its role
    event_log: str  # params: group, since (timestamp)
    group_status: str  # params: group
    node_status: str  # params: node
    latency: str  # params: group


class StatusValues(_Strict):
    """Status literals as the status SQL returns them ([G] icluster.md §3.1, §5)."""

    active: str = "*ACTIVE"
    inactive: str = "*INACTIVE"
    starting: str = "*STARTING"
    ending: str = "*ENDING"


class SiteProfile(_Strict):
    """One iCluster installation's product facts. See the module docstring for why."""

    name: str
    product_library: str
    product_subsystem: str = "XDMCLUSTER"  # [V] icluster.md §1
    system_program: str = "system"  # PASE `system` on the login PATH (ibmi.md §2.1)
    # Checksums of save files on each node (ibmi.md §6: compare both ends). GNU sha256sum
    # comes with coreutils from the IBM i open-source repository [I].
    checksum_program: str = "sha256sum"
    sync_check_type: str = "*OBJATTR"  # runbook step 8
    repair: tuple[str, ...] = ("*AUTH", "*CBU", "*CRD")  # runbook step 8; *CBU/*CRD are [G]
    commands: IclusterCommands
    messages: IclusterMessages
    sql: IclusterSql
    status: StatusValues = StatusValues()

    @field_validator("product_library", "product_subsystem")
    @classmethod
    def _name(cls, value: str, info: Any) -> str:
        return str(Name(value, field=info.field_name))

    @field_validator("sync_check_type")
    @classmethod
    def _special(cls, value: str) -> str:
        if not SPECIAL_VALUE_RE.fullmatch(value):
            raise ValueError("a special value such as *OBJATTR")
        return value

    @field_validator("repair")
    @classmethod
    def _specials(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not SPECIAL_VALUE_RE.fullmatch(item):
                raise ValueError(f"{item!r}: repair options are special values such as *AUTH")
        return value

    @field_validator("system_program", "checksum_program")
    @classmethod
    def _program(cls, value: str, info: Any) -> str:
        shell_command(value, field=info.field_name)
        return value

    @model_validator(mode="after")
    def _templates_render(self) -> SiteProfile:
        # Render every template and check every statement once, so a template with an
        # unbalanced parenthesis fails when the profile loads, not in the middle of an outage.
        # Each action is rendered with exactly the values the program gives it, so a template
        # that asks for more ({node} in mark_positions) is refused here, naming the template;
        # and with the shortest and the longest, oddest names, so a placeholder glued into a
        # keyword or a command name (OPT{group}ION) fails here and not with the real names.
        samples: tuple[dict[str, Any], ...] = (
            {"group": "G", "node": "N", "delay": 0},
            {"group": "$GROUP#@_.", "node": "@NODE$#_.9", "delay": 99999},
        )
        for action, needs in COMMAND_TEMPLATES.items():
            template = getattr(self.commands, action)
            if template is None:
                continue
            try:
                for sample in samples:
                    self.command(action, **{name: sample[name] for name in needs})
            except IbmiInputError as error:
                raise IbmiInputError(f"commands.{action}", template, error.rule) from None
        for name in SITE_SQL_PARAMS:
            try:
                self.statement(name)
            except ValueError as error:
                raise IbmiInputError(f"sql.{name}", getattr(self.sql, name), str(error)) from None
        return self

    def command(
        self,
        action: str,
        *,
        group: str | None = None,
        node: str | None = None,
        delay: int | None = None,
        primary_node: str | None = None,
        backup_node: str | None = None,
    ) -> ClCommand:
        """Render one iCluster command for `action` (a key of COMMAND_TEMPLATES)."""
        if action not in COMMAND_TEMPLATES:
            raise IbmiInputError("action", action, f"one of {sorted(COMMAND_TEMPLATES)}")
        if delay is not None and (
            not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 99999
        ):
            raise IbmiInputError("delay", delay, "whole seconds 0-99999")
        values = {
            "product_library": self.product_library,
            "group": _optional_name(group, "group"),
            "node": _optional_name(node, "node"),
            "primary_node": _optional_name(primary_node, "primary_node"),
            "backup_node": _optional_name(backup_node, "backup_node"),
            "delay": "" if delay is None else str(delay),
            "sync_check_type": self.sync_check_type,
            "repair": " ".join(self.repair),
        }
        template: str | None = getattr(self.commands, action)
        if template is None:
            raise IbmiInputError(
                f"commands.{action}", None, "not given in the site profile (network sync only)"
            )
        # Blanks are folded below; a control character would be folded too, silently changing
        # a quoted literal, so it is refused as cl_string refuses it.
        require_printable(f"commands.{action}", template)
        for field in _template_fields(template, field=f"commands.{action}"):
            if not values[field]:
                given = ", ".join(COMMAND_TEMPLATES[action]) or "none"
                raise IbmiInputError(
                    field, None, f"{{{field}}} is not given to {action} (plan values: {given})"
                )
        text = check_cl_shape(" ".join(template.format(**values).split()))
        head, _, params = text.partition(" ")
        library, _, command = head.rpartition("/")
        # The head is `[LIBRARY/]COMMAND`, both *NAMEs, as parameter keywords are checked.
        for part in ([library] if "/" in head else []) + [command]:
            if not _CL_NAME_RE.fullmatch(part):
                raise IbmiInputError(
                    "command", text, f"{part!r} is not a CL command or library name"
                )
        return ClCommand(command, _split_parameters(params), library=library or None)

    def message_catalog(self) -> dict[str, MessageInfo]:
        """The profile's event-log ids as catalog rows, so they classify like IBM i messages.

        The texts are unknown (icluster.md §10), hence no template and source G.
        """
        m = self.messages
        rows = (
            (m.mark_complete, MessageType.COMPLETION, Outcome.OK, "positions marked"),
            (m.mark_failed, MessageType.ESCAPE, Outcome.FAILED, "marking positions failed"),
            (m.group_started, MessageType.COMPLETION, Outcome.OK, "group started"),
            (m.sync_check_complete, MessageType.COMPLETION, Outcome.OK, "sync check ended"),
            (m.sync_check_failed, MessageType.ESCAPE, Outcome.FAILED, "sync check failed"),
            (m.refresh_submitted, MessageType.COMPLETION, Outcome.OK, "refresh submitted"),
            (m.refresh_complete, MessageType.COMPLETION, Outcome.OK, "refresh ended"),
            (m.refresh_failed, MessageType.ESCAPE, Outcome.FAILED, "refresh failed"),
        )
        return {
            msg_id: MessageInfo(msg_id, kind, outcome, f"iCluster: {meaning}", None, "G")
            for msg_id, kind, outcome, meaning in rows
            if msg_id is not None
        }

    def network_sync_missing(self) -> list[str]:
        """The profile fields the network-sync program needs and this profile leaves out."""
        return [
            f"commands.{name}" for name in NETWORK_SYNC_COMMANDS if not getattr(self.commands, name)
        ] + [
            f"messages.{name}" for name in NETWORK_SYNC_MESSAGES if not getattr(self.messages, name)
        ]

    def statement(self, name: str):  # -> ibmi_resync.sql.SqlStatement
        """The site SQL `name`, checked as one read-only SELECT with the expected markers."""
        from ibmi_resync.sql import site_statement

        return site_statement(
            name,
            getattr(self.sql, name),
            SITE_SQL_PARAMS[name],
            f"site profile sql.{name}",
            columns=SITE_SQL_COLUMNS[name],
        )


def _optional_name(value: str | None, field: str) -> str:
    return "" if value is None else str(Name(value, field=field))


def _template_fields(template: str, *, field: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise IbmiInputError(field, template, str(error)) from None
    fields = set()
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            raise IbmiInputError(field, template, "placeholders are plain {name}")
        fields.add(name)
    return fields


def _split_parameters(text: str) -> tuple[tuple[str, str], ...]:
    """Split `KWD(value) KWD2(v w)` into keyword/value pairs, respecting quotes and nesting."""
    parameters: list[tuple[str, str]] = []
    index = 0
    while index < len(text):
        if text[index] == " ":
            index += 1
            continue
        open_at = text.find("(", index)
        if open_at < 0:
            raise IbmiInputError("command", text, "parameters must be written KEYWORD(value)")
        keyword = text[index:open_at]
        depth, cursor, quoted = 0, open_at, False
        while cursor < len(text):
            char = text[cursor]
            if char == "'":
                quoted = not quoted
            elif not quoted and char == "(":
                depth += 1
            elif not quoted and char == ")":
                depth -= 1
                if depth == 0:
                    break
            cursor += 1
        if not re.fullmatch(r"[A-Z][A-Z0-9]{0,9}", keyword):
            raise IbmiInputError("command", text, f"{keyword!r} is not a CL keyword")
        parameters.append((keyword, text[open_at + 1 : cursor]))
        index = cursor + 1
    return tuple(parameters)


def load_site_profile(path: str | Path) -> SiteProfile:
    """Load a profile from YAML; errors name the file and the field (see plan.load_plan)."""
    from ibmi_resync.plan import read_yaml, validation_error

    source = Path(path)
    data = read_yaml(source)
    try:
        return SiteProfile.model_validate(data)
    except Exception as error:  # pydantic.ValidationError, IbmiInputError
        raise validation_error(str(source), error) from error

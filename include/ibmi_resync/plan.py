"""The resync plan: what to resynchronise, where, and within which limits.

A plan is a YAML file an administrator reviews like a runbook page: the two nodes, the
application subsystems to end, the replication groups with their libraries, IFS paths and
folders, the user profiles, limits, timeouts and the site profile. Trigger parameters
(a subset of groups, dry run, approvals) narrow it for one run but never widen it.

Every refusal names the file, the field path (`groups[2].libraries[0]`) and the value, so
an operator fixes the plan without reading code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ibmi_resync.names import (
    SYSTEM_LIBRARY_RULE,
    DloFolder,
    IbmiInputError,
    IfsPath,
    Name,
    QualifiedName,
    is_system_library,
)
from ibmi_resync.site_profile import SiteProfile

__all__ = [
    "Applications",
    "Group",
    "Node",
    "Notifications",
    "Plan",
    "PlanError",
    "RunOptions",
    "Schedule",
    "Window",
    "load_plan",
    "read_yaml",
    "validation_error",
]

Role = Literal["PRIMARY", "BACKUP"]
# [I] The SSH daemon and the QZDASOINIT database server jobs run in QUSRWRK, TCP/IP and host
# servers in QSYSWRK/QSERVER, and QCTL is the controlling subsystem (ibmi.md §1, §9.3):
# ending any of them in step 1 would end the jobs this run talks through.
_SUBSYSTEMS_THAT_CARRY_THE_RESYNC = frozenset({"QCTL", "QSYSWRK", "QUSRWRK", "QSERVER", "QSYS"})
_CONN_ID = r"^[A-Za-z0-9_.-]{1,200}$"
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|credential|private|key", re.IGNORECASE)


class PlanError(ValueError):
    """A plan or profile that cannot be used: which file, which field, which value, why."""

    def __init__(self, source: str, field: str, value: object, message: str) -> None:
        self.source = source
        self.field = field
        self.value = value
        self.message = message
        where = f"{source}: {field}" if field else source
        shown = "" if value is None else f" (got {value!r})"
        super().__init__(f"{where}: {message}{shown}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _name(cls: type, value: object, info: Any) -> str:
    """Shared field validator: a plan field that holds one IBM i name."""
    return str(Name(value, field=info.field_name))


class Node(_Strict):
    """One IBM i node: its iCluster node name, the role the plan expects, its connections."""

    name: str
    role: Role
    ssh_conn_id: str = Field(pattern=_CONN_ID)
    odbc_conn_id: str = Field(pattern=_CONN_ID)

    _check_name = field_validator("name")(classmethod(_name))


class Subsystem(_Strict):
    name: str
    library: str

    _check_names = field_validator("name", "library")(classmethod(_name))


class Applications(_Strict):
    """Runbook step 1: the application subsystems to end, and what to do with stray jobs."""

    subsystems: tuple[Subsystem, ...] = Field(min_length=1)
    controlled_end_seconds: int = Field(default=300, ge=0, le=99999)
    # After the controlled end: end remaining user jobs (`end`), or stop and list them (`fail`).
    remaining_jobs: Literal["end", "fail"] = "fail"
    restart: bool = True


class Group(_Strict):
    """A replication group and the objects its resync saves and restores."""

    name: str
    system: bool = False  # the group holding user profiles and authorities (runbook step 10)
    libraries: tuple[str, ...] = ()
    ifs_paths: tuple[str, ...] = ()
    dlo_folders: tuple[str, ...] = ()
    active_continuous_sync_check: bool = False

    _check_name = field_validator("name")(classmethod(_name))

    @field_validator("libraries")
    @classmethod
    def _libraries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        result = []
        for index, item in enumerate(value):
            library = Name(item, field=f"libraries[{index}]")
            if is_system_library(library):
                raise IbmiInputError(
                    f"libraries[{index}]",
                    item,
                    f"IBM-supplied libraries ({SYSTEM_LIBRARY_RULE}) are never cleared or restored",
                )
            result.append(str(library))
        return tuple(result)

    @field_validator("ifs_paths")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(IfsPath(p, field=f"ifs_paths[{i}]")) for i, p in enumerate(value))

    @field_validator("dlo_folders")
    @classmethod
    def _folders(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(DloFolder(f, field=f"dlo_folders[{i}]")) for i, f in enumerate(value))

    @model_validator(mode="after")
    def _not_empty(self) -> Group:
        if not (self.libraries or self.ifs_paths or self.dlo_folders):
            raise ValueError("a group needs at least one library, IFS path or DLO folder")
        return self


class Parallelism(_Strict):
    """How many IBM i batch jobs may run at once per node, per kind of work."""

    saves: int = Field(default=4, ge=1, le=64)
    transfers: int = Field(default=4, ge=1, le=64)
    restores: int = Field(default=4, ge=1, le=64)


class Thresholds(_Strict):
    sync_check_differences: int = Field(default=0, ge=0)
    sync_check_over_threshold: Literal["warn", "fail"] = "warn"
    latency_seconds: float = Field(default=5.0, gt=0)
    latency_stable_polls: int = Field(default=3, ge=1)
    min_free_storage_percent: float = Field(default=10.0, ge=0, lt=100)


class Timeouts(_Strict):
    """Seconds each wait may last before it fails with what it last saw."""

    subsystem_end: int = Field(default=900, ge=1)
    mark_positions: int = Field(default=1800, ge=1)
    batch_job: int = Field(default=4 * 3600, ge=1)
    sync_check: int = Field(default=3600, ge=1)
    latency: int = Field(default=3600, ge=1)
    approval: int = Field(default=3600, ge=1)


class PollIntervals(_Strict):
    subsystem: float = Field(default=5.0, gt=0)
    batch_job: float = Field(default=10.0, gt=0)
    event_log: float = Field(default=5.0, gt=0)
    latency: float = Field(default=10.0, gt=0)


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[str, ...] = get_args(Weekday)
Ordinal = Literal["first", "second", "third", "fourth", "last"]
ORDINALS: tuple[str, ...] = get_args(Ordinal)
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
# "first Sunday of the quarter, 01:00-05:00", "every Saturday 22:00-02:00": the form an
# operator writes in a change request, read into the fields below.
_WINDOW_TEXT = re.compile(
    r"\s*(?:(?P<week>[a-z]+)\s+(?P<weekday>[a-z]+)\s+of\s+the\s+(?P<every>month|quarter)"
    r"|every\s+(?P<weekly>[a-z]+))\s*,?\s*(?P<start>\S+?)\s*[-\u2013]\s*(?P<end>\S+)\s*",
    re.IGNORECASE,
)


class Window(_Strict):
    """One recurring maintenance window, in the schedule's time zone (issue 8).

    `every: quarter, week: first, weekday: sunday, start: "01:00", end: "05:00"` is the first
    Sunday of January, April, July and October from 01:00 to 05:00 local time; an `end` at or
    before `start` is on the next day. The text form "first Sunday of the quarter,
    01:00-05:00" reads into the same fields.
    """

    every: Literal["week", "month", "quarter"]
    weekday: Weekday
    week: Ordinal | None = None  # which `weekday` of the month (month, quarter); None weekly
    start: str
    end: str

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        match = _WINDOW_TEXT.fullmatch(value)
        if not match:
            raise ValueError(
                "a window such as 'first Sunday of the quarter, 01:00-05:00', "
                "'last Saturday of the month, 22:00-02:00' or 'every Sunday, 01:00-05:00'"
            )
        if match["weekly"]:
            return {
                "every": "week",
                "weekday": match["weekly"].lower(),
                "start": match["start"],
                "end": match["end"],
            }
        return {
            "every": match["every"].lower(),
            "week": match["week"].lower(),
            "weekday": match["weekday"].lower(),
            "start": match["start"],
            "end": match["end"],
        }

    @field_validator("weekday", "week", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.fullmatch(value):
            raise ValueError("a time of day as HH:MM, 00:00 to 23:59")
        return value

    @model_validator(mode="after")
    def _week_given(self) -> Window:
        if self.every == "week" and self.week is not None:
            raise ValueError("a weekly window has no `week` (it is every week)")
        if self.every != "week" and self.week is None:
            raise ValueError(f"`week` ({', '.join(ORDINALS)}) says which {self.weekday}")
        return self

    @property
    def minutes(self) -> int:
        """Length on a day without a clock change (DST days differ: ibmi_resync.window)."""
        start, end = (int(t[:2]) * 60 + int(t[3:]) for t in (self.start, self.end))
        return end - start if end > start else end + 24 * 60 - start

    def describe(self) -> str:
        day = self.weekday.capitalize()
        when = f"every {day}" if self.every == "week" else f"{self.week} {day} of the {self.every}"
        return f"{when}, {self.start}-{self.end}"


class Schedule(_Strict):
    """When scheduled runs happen, and how long their outage may last.

    Either `windows` (maintenance windows; the DAG's timetable starts a run as each opens) or
    the older `cron` with `window_minutes` (a run at each cron time, its window that long);
    neither: manual runs only. `estimated_outage_minutes` is the guard's figure while no
    forecast exists (ibmi_resync.forecast); `safety_margin_percent` is added to either.
    """

    cron: str | None = None
    timezone: str = "UTC"
    window_minutes: int | None = Field(default=None, ge=1)
    windows: tuple[Window, ...] = ()
    estimated_outage_minutes: int | None = Field(default=None, ge=1)
    safety_margin_percent: int = Field(default=0, ge=0, le=500)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("an IANA time zone such as Europe/Zurich or UTC") from None
        return value

    @model_validator(mode="after")
    def _one_way(self) -> Schedule:
        if self.windows and self.cron:
            raise IbmiInputError(
                "cron", self.cron, "give either windows or cron (with window_minutes), not both"
            )
        if self.window_minutes is not None and not self.cron:
            raise IbmiInputError(
                "window_minutes",
                self.window_minutes,
                "belongs to cron; a window in `windows` has its own start and end",
            )
        return self


NotificationEvent = Literal[
    "approval_waiting", "run_failed", "latency_not_resolved", "run_finished"
]
NOTIFICATION_EVENTS: tuple[str, ...] = get_args(NotificationEvent)
# An address the SMTP envelope and the To: header can carry as is: no display name, no
# comma, no angle brackets, no whitespace or line breaks (nothing that could add a header).
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def _email(field: str, value: object) -> str:
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value):
        raise IbmiInputError(field, value, "an e-mail address such as ha-team@example.com")
    return value


class Notifications(_Strict):
    """Who is told what, and through which SMTP connection (issue 8).

    Off unless `events` names at least one event: plans written before this section load
    unchanged and send nothing.
    """

    recipients: tuple[str, ...] = ()
    events: tuple[NotificationEvent, ...] = ()
    smtp_conn_id: str = Field(default="smtp_default", pattern=_CONN_ID)
    # None: the SMTP connection's `from_email` extra is used.
    from_email: str | None = None
    subject_prefix: str = Field(default="[iCluster resync]", max_length=60)

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: dict[str, int] = {}
        for index, address in enumerate(value):
            _email(f"recipients[{index}]", address)
            if address.lower() in seen:
                raise IbmiInputError(
                    f"recipients[{index}]", address, f"repeats recipients[{seen[address.lower()]}]"
                )
            seen[address.lower()] = index
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, event in enumerate(value):
            if event in value[:index]:
                raise IbmiInputError(f"events[{index}]", event, "names an event twice")
        return value

    @field_validator("from_email")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        return None if value is None else _email("from_email", value)

    @field_validator("subject_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        for char in value:
            if ord(char) < 32 or ord(char) == 127:
                raise IbmiInputError("subject_prefix", value, "one line, no control characters")
        return value

    @model_validator(mode="after")
    def _someone_to_tell(self) -> Notifications:
        if self.events and not self.recipients:
            raise IbmiInputError(
                "recipients", None, "events are switched on: name at least one recipient"
            )
        return self

    def wants(self, event: str) -> bool:
        """True when `event` (one of NOTIFICATION_EVENTS) is to be sent."""
        if event not in NOTIFICATION_EVENTS:
            raise ValueError(f"unknown notification event {event!r}")
        return event in self.events and bool(self.recipients)


class Plan(_Strict):
    """The whole resync plan; see the module docstring."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    primary: Node
    backup: Node
    applications: Applications
    groups: tuple[Group, ...] = Field(min_length=1)
    user_profiles: tuple[str, ...] = ()
    save_file_library: str
    target_release: str = "*CURRENT"
    approvals_required: bool = True
    parallelism: Parallelism = Parallelism()
    thresholds: Thresholds = Thresholds()
    timeouts: Timeouts = Timeouts()
    poll_intervals: PollIntervals = PollIntervals()
    schedule: Schedule = Schedule()
    notifications: Notifications = Notifications()
    site_profile: SiteProfile

    @field_validator("target_release")
    @classmethod
    def _release(cls, value: str) -> str:
        if value in ("*CURRENT", "*PRV") or re.fullmatch(r"V[0-9]R[0-9]M[0-9]", str(value)):
            return value
        raise IbmiInputError("target_release", value, "*CURRENT, *PRV or VxRyMz")

    @field_validator("save_file_library")
    @classmethod
    def _savf_library(cls, value: str) -> str:
        library = Name(value, field="save_file_library")
        if is_system_library(library):
            raise IbmiInputError(
                "save_file_library", value, "use a library of its own, not an IBM one"
            )
        return str(library)

    @field_validator("user_profiles")
    @classmethod
    def _profiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(Name(p, field=f"user_profiles[{i}]")) for i, p in enumerate(value))

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        # Cross-field rules raise IbmiInputError with the element's path, so the operator is
        # told `groups[2].libraries[1]`, not just "the plan".
        if self.primary.role != "PRIMARY":
            raise IbmiInputError("primary.role", self.primary.role, "the primary node is PRIMARY")
        if self.backup.role != "BACKUP":
            raise IbmiInputError("backup.role", self.backup.role, "the backup node is BACKUP")
        if self.primary.name == self.backup.name:
            raise IbmiInputError("backup.name", self.backup.name, "must differ from primary.name")
        self._check_groups()
        for index, subsystem in enumerate(self.applications.subsystems):
            if subsystem.name in _SUBSYSTEMS_THAT_CARRY_THE_RESYNC | {
                self.site_profile.product_subsystem
            }:
                raise IbmiInputError(
                    f"applications.subsystems[{index}].name",
                    subsystem.name,
                    "this subsystem runs iCluster or the SSH and database server jobs that drive "
                    "the resync; ending it would cut the resync off",
                )
        seen_profiles: dict[str, int] = {}
        for index, profile in enumerate(self.user_profiles):
            if profile in seen_profiles:
                raise IbmiInputError(
                    f"user_profiles[{index}]",
                    profile,
                    f"repeats user_profiles[{seen_profiles[profile]}]",
                )
            seen_profiles[profile] = index
        return self

    def _check_groups(self) -> None:
        seen_groups: dict[str, int] = {}
        owner: dict[str, str] = {}
        systems: list[int] = []
        for index, group in enumerate(self.groups):
            if group.name in seen_groups:
                raise IbmiInputError(
                    f"groups[{index}].name",
                    group.name,
                    f"repeats groups[{seen_groups[group.name]}].name",
                )
            seen_groups[group.name] = index
            for position, library in enumerate(group.libraries):
                field = f"groups[{index}].libraries[{position}]"
                if library in owner:
                    raise IbmiInputError(
                        field,
                        library,
                        f"already in group {owner[library]}; a library belongs to one group",
                    )
                if library == self.save_file_library:
                    raise IbmiInputError(
                        field, library, "is the save_file_library, which is not resynchronised"
                    )
                owner[library] = group.name
            if group.system:
                systems.append(index)
                if len(systems) > 1:
                    names = [self.groups[i].name for i in systems]
                    raise IbmiInputError(
                        f"groups[{index}].system",
                        True,
                        f"exactly one SYSTEM group (system: true); found {names}",
                    )
        if not systems:
            raise IbmiInputError(
                "groups", None, "exactly one group must be the SYSTEM group (system: true)"
            )

    @property
    def system_group(self) -> Group:
        return next(group for group in self.groups if group.system)

    def group(self, name: str) -> Group:
        for group in self.groups:
            if group.name == name:
                return group
        raise IbmiInputError("group", name, f"not in the plan ({', '.join(self.group_names)})")

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(group.name for group in self.groups)

    def save_file(self, stem: str) -> QualifiedName:
        return QualifiedName(self.save_file_library, stem, field="save_file")


class RunOptions(_Strict):
    """The trigger form, validated against the plan: it narrows a run, it never widens it."""

    groups: tuple[str, ...] = ()  # empty: every group of the plan
    dry_run: bool = False
    approvals_required: bool | None = None  # None: as the plan says
    transfer_mode: Literal["sftp"] = "sftp"
    # A run the maintenance-window guard would refuse starts anyway when a person says why
    # (ibmi_resync.window); the reason is logged and kept in the run report's params.
    window_override_reason: str = Field(default="", max_length=500)

    @field_validator("window_override_reason")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise IbmiInputError("window_override_reason", value, "one line, no control characters")
        return value.strip()

    @classmethod
    def from_trigger(cls, params: Any) -> RunOptions:
        """The trigger form as a run receives it, checked strictly before anything else runs.

        Nothing is coerced (`bool("false")` is True) and a key the form does not have is
        refused, not ignored: `dryrun: true` must not become a real run.
        """
        data = dict(params or {})
        if isinstance(data.get("groups"), list):
            data["groups"] = tuple(data["groups"])
        try:
            return cls.model_validate(data, strict=True)
        except ValidationError as error:
            refusal = validation_error("trigger params", error)
            kind = error.errors()[0]["type"]
            if kind == "extra_forbidden":
                known = ", ".join(cls.model_fields)
                refusal = PlanError(
                    "trigger params", refusal.field, None, f"not a parameter of this run ({known})"
                )
            elif kind == "tuple_type":
                refusal = PlanError("trigger params", "groups", refusal.value, "a list of names")
            raise refusal from None

    def selected_groups(self, plan: Plan) -> tuple[Group, ...]:
        """The plan's groups this run touches, in plan order; unknown names are refused."""
        if not self.groups:
            return plan.groups
        for index, name in enumerate(self.groups):
            try:
                plan.group(str(Name(name, field=f"groups[{index}]")))
            except IbmiInputError as error:
                raise PlanError("trigger params", f"groups[{index}]", name, error.rule) from None
        wanted = {str(Name(name)) for name in self.groups}
        return tuple(group for group in plan.groups if group.name in wanted)

    def approvals(self, plan: Plan) -> bool:
        return (
            plan.approvals_required
            if self.approvals_required is None
            else (self.approvals_required)
        )


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def validation_error(source: str, error: Exception) -> PlanError:
    """Turn a pydantic or IbmiInputError failure into a PlanError naming the field path."""
    if isinstance(error, ValidationError):
        first = error.errors(include_url=False)[0]
        field = _location(tuple(first["loc"]))
        message = first["msg"]
        context_error = (first.get("ctx") or {}).get("error")
        if isinstance(context_error, IbmiInputError):
            # The validator knows the element (libraries[3]); pydantic knows the parents.
            nested = context_error.field
            leaf = field.rsplit(".", 1)[-1] if field else ""
            if nested.startswith(leaf) and leaf:
                field = field[: len(field) - len(leaf)] + nested
            elif nested and nested not in field:
                field = f"{field}.{nested}" if field else nested
            return PlanError(source, field, context_error.value, context_error.rule)
        message = message.removeprefix("Value error, ")
        value = first.get("input") if first["type"] != "missing" else None
        if isinstance(value, dict):
            value = None
        if first["type"] == "extra_forbidden" and _SECRET_KEY.search(field.rsplit(".", 1)[-1]):
            # A password pasted into a plan must not be echoed into a log or an import error.
            value, message = None, f"{message}; its value is not shown (a secret?)"
        return PlanError(source, field, value, message)
    if isinstance(error, IbmiInputError):
        return PlanError(source, error.field, error.value, error.rule)
    return PlanError(source, "", None, str(error))


# libyaml's parser when PyYAML has it: the pure-Python one takes ~0.25 s for a 200-group plan,
# paid by every DAG file that loads the plan at each parse (the DAG integrity test's budget).
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping: PyYAML keeps the last
    silently, so a reviewer could read one list of libraries while the run uses another."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(source: Path) -> Any:
    """Read a YAML file; any failure (missing, not UTF-8, bad YAML) names the file."""
    try:
        return yaml.load(source.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PlanError(str(source), "", None, f"cannot read: {error}") from error


def load_plan(path: str | Path) -> Plan:
    """Read a plan YAML file. `site_profile` may be inline or a path relative to the plan."""
    source = Path(path)
    data = read_yaml(source)
    if not isinstance(data, dict):
        raise PlanError(str(source), "", None, "a plan is a YAML mapping")
    profile = data.get("site_profile")
    if isinstance(profile, str):
        from ibmi_resync.site_profile import load_site_profile

        data = {**data, "site_profile": load_site_profile(source.parent / profile)}
    try:
        return Plan.model_validate(data)
    except (ValidationError, IbmiInputError) as error:
        raise validation_error(str(source), error) from error

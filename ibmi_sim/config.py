"""Configuration of the simulated pair: nodes, ports, seed data, time and size scales.

Why pydantic: the config is the contract between a demo/benchmark and the simulator; a typo in a
library name (more than 10 characters, lower case) must fail when the file is loaded, not as a
confusing CL error later. Every field has a default so ``python -m ibmi_sim up`` works without a
file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, Field, field_validator

NodeKey = Literal["primary", "backup"]
NODE_KEYS: tuple[NodeKey, NodeKey] = ("primary", "backup")
_NAME_RE = re.compile(r"^[A-Z$#@][A-Z0-9$#@_.]{0,9}$")
STATE_DIR_ENV = "IBMI_SIM_STATE_DIR"
DEFAULT_STATE_DIR = Path(
    os.environ.get(STATE_DIR_ENV) or Path(__file__).resolve().parent.parent / ".state" / "sim"
)


def _ibm_name(value: str) -> str:
    """Apply IBM's *NAME rule (ibmi.md §6: names are upper case on IBM i)."""
    upper = value.upper()
    if not _NAME_RE.match(upper):
        raise ValueError(f"{value!r} is not an IBM i name (A-Z $ # @ first, at most 10)")
    return upper


class LibrarySeed(BaseModel):
    """A user library created on both nodes with ``objects`` objects totalling ``data_mb``."""

    name: str
    objects: int = Field(20, ge=0)
    data_mb: float = Field(50.0, ge=0)
    text: str = ""
    owner: str = "QSECOFR"  # owner of every seeded object (a profile of user_profiles)
    # Private authorities on every seeded object of the library: profile -> *USE/*CHANGE/...
    authorities: dict[str, str] = Field(default_factory=dict)
    # Objects only BACKUP has (OLDnnnnn *FILE PF, left over from an older restore): a resync
    # that skips CLRLIB keeps them and the sync check reports them (issue 3 item 8).
    stale_on_backup: int = Field(0, ge=0)

    @field_validator("name", "owner")
    @classmethod
    def _check(cls, value: str) -> str:
        return _ibm_name(value)


class AppJobSeed(BaseModel):
    """An application job of a subsystem: started with it, ended with it, holding locks.

    ``locks``: libraries whose physical files (*FILE PF) the job holds *SHRUPD while it runs
    (shown by QSYS2.OBJECT_LOCK_INFO) [G] lock state.
    """

    name: str
    user: str = "APPUSER"
    locks: list[str] = Field(default_factory=list)

    @field_validator("name", "user")
    @classmethod
    def _check(cls, value: str) -> str:
        return _ibm_name(value)

    @field_validator("locks")
    @classmethod
    def _libs(cls, value: list[str]) -> list[str]:
        return [_ibm_name(x) for x in value]


class IfsSeed(BaseModel):
    """An IFS directory with ``files`` stream files totalling ``data_mb`` (and its parents)."""

    path: str
    files: int = Field(10, ge=0)
    data_mb: float = Field(1.0, ge=0)
    owner: str = "QSECOFR"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or value.rstrip("/") == "" or "//" in value:
            raise ValueError(f"{value!r} is not an absolute IFS path")
        if value.upper().startswith(("/QSYS.LIB", "/QDLS")):
            raise ValueError(f"{value!r}: libraries and folders are seeded elsewhere")
        return value.rstrip("/")

    @field_validator("owner")
    @classmethod
    def _check(cls, value: str) -> str:
        return _ibm_name(value)


class DloSeed(BaseModel):
    """A QDLS folder with ``documents`` documents totalling ``data_mb``."""

    name: str
    documents: int = Field(10, ge=0)
    data_mb: float = Field(1.0, ge=0)
    owner: str = "QSECOFR"

    @field_validator("name")
    @classmethod
    def _folder(cls, value: str) -> str:
        upper = value.upper()
        if not re.match(r"^[A-Z$#@][A-Z0-9$#@_]{0,7}(\.[A-Z0-9$#@_]{1,3})?$", upper):
            raise ValueError(f"{value!r} is not a folder name (8.3, upper case)")
        return upper

    @field_validator("owner")
    @classmethod
    def _check(cls, value: str) -> str:
        return _ibm_name(value)


class SubsystemSeed(BaseModel):
    """A subsystem description and the nodes where it is active at start."""

    name: str
    library: str = "QSYS"
    active_on: list[NodeKey] = Field(default_factory=lambda: ["primary", "backup"])
    # Application jobs that run while the subsystem is active (ibmi_sim.appjobs).
    jobs: list[AppJobSeed] = Field(default_factory=list)

    @field_validator("name", "library")
    @classmethod
    def _check(cls, value: str) -> str:
        return _ibm_name(value)


class UserSeed(BaseModel):
    """A user profile (USER_INFO-like attributes) and its private authorities on libraries."""

    name: str
    user_class: str = "*USER"
    special_authorities: list[str] = Field(default_factory=list)
    group_profile: str | None = None
    text: str = ""
    library_authorities: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _check(cls, value: str) -> str:
        return _ibm_name(value)


class GroupSeed(BaseModel):
    """A replication group (iCluster behaviour comes later; the scope is stored now)."""

    name: str
    libraries: list[str]
    description: str = ""
    ifs_paths: list[str] = Field(default_factory=list)  # IFS directories in the group's scope
    dlo_folders: list[str] = Field(default_factory=list)  # QDLS folders in the group's scope

    @field_validator("name")
    @classmethod
    def _check(cls, value: str) -> str:
        return _ibm_name(value)

    @field_validator("libraries")
    @classmethod
    def _libs(cls, value: list[str]) -> list[str]:
        return [_ibm_name(x) for x in value]


class NodeConfig(BaseModel):
    """One node: its IBM i system name, role, SSH endpoint and database."""

    system_name: str
    role: Literal["PRIMARY", "BACKUP"]
    host: str = "127.0.0.1"
    ssh_port: int = Field(0, ge=0, le=65535)  # 0: pick a free port, reported in connections.json
    sql_port: int = Field(0, ge=0, le=65535)  # the SQL front's port; 0 as for ssh_port
    database: str
    # node_info keys that ibm_catalog serves (ENV_SYS_INFO, SYSTEM_STATUS_INFO); [G] figures.
    os_version: str = "7"
    os_release: str = "5"
    system_asp_storage_mb: float = Field(2_000_000.0, gt=0)  # 1 MB = 1,000,000 bytes
    system_asp_base_used_mb: float = Field(400_000.0, ge=0)  # used by what `objects` lacks


class Timing(BaseModel):
    """Durations before time scaling; [G] every figure (no public measurements).

    Data moves through the node's capacity (ibmi_sim.capacity, issue 3 item 9): one save job
    moves at most ``save_mb_per_s``, one restore job at most ``restore_mb_per_s``, and all of
    a node's saves and restores together at most ``node_mb_per_s``; N parallel saves of S MB
    take about max(S / save_mb_per_s, N * S / node_mb_per_s) nominal seconds.
    """

    save_mb_per_s: float = 200.0  # [G] per save job (SAVLIB/SAVOBJ/SAV/SAVDLO/SAVSECDTA)
    restore_mb_per_s: float = 150.0  # [G] per restore job (RSTLIB/RSTOBJ/RST/RSTDLO/RSTUSRPRF)
    # [G] per node, shared by its concurrent saves and restores (disk arms and IOPs of a mid-size
    # system: about three jobs at full speed); 0 means no node limit.
    node_mb_per_s: float = Field(600.0, ge=0)
    endsbs_immed_s: float = 2.0
    endsbs_cntrld_s: float = 10.0
    job_start_s: float = 0.2
    # RSTAUT is long (issue 3 item 9): a grant per private authority, plus a start per profile.
    rstaut_per_authority_s: float = 0.5
    rstaut_per_profile_s: float = 5.0
    # Nominal bytes a user profile and one of its private authorities take in SAVSECDTA.
    secdta_profile_bytes: int = 100_000
    secdta_authority_bytes: int = 1_000


class ICluster(BaseModel):
    """Rocket iCluster behaviour (ibmi_sim.icluster); [G] every figure (nominal seconds).

    DMMRKPOS takes ``mark_base_s`` + ``mark_per_object_s`` per object + data / ``mark_mb_per_s``
    + ``mark_per_lock_s`` per lock held by an active job on the group's objects.
    """

    mark_base_s: float = 5.0
    mark_per_object_s: float = 0.05
    mark_mb_per_s: float = 1000.0
    mark_per_lock_s: float = 2.0
    group_start_s: float = 5.0
    group_end_s: float = 3.0
    node_start_s: float = 3.0
    sync_check_base_s: float = 5.0
    sync_check_per_object_s: float = 0.02
    # DMSTRGRP REFRESH(*YES) (icluster.md §3.1, §9 [I/G]; ibmi_sim.refresh): the copy to BACKUP
    # takes refresh_base_s + refresh_per_object_s per object + data / refresh_mb_per_s (the
    # network, not the disks, is the limit), written in up to refresh_batches steps.
    refresh_base_s: float = 5.0
    refresh_per_object_s: float = 0.05
    refresh_mb_per_s: float = Field(20.0, gt=0)
    refresh_batches: int = Field(10, ge=1)
    # icluster.md §4.1 (S10) says only *CHKOBSLETE/*FULL report objects present only on BACKUP;
    # True makes *OBJATTR report them too (the runbook's *OBJATTR then catches a skipped CLRLIB).
    objattr_reports_obsolete: bool = True


class Replication(BaseModel):
    """Journal, workload and apply model (ibmi_sim.icluster); [G] every figure.

    Rates are nominal (per nominal second, so they follow ``time_scale``); ``tick_s`` is real.
    The workload runs on PRIMARY while an application subsystem is active: one with ``jobs``,
    or one named in ``app_subsystems``.
    """

    tick_s: float = Field(0.2, gt=0)
    workload_changes_per_s: float = Field(2.0, ge=0)
    workload_max_per_tick: int = Field(50, ge=0)
    app_subsystems: list[str] = Field(default_factory=list)
    send_entries_per_s: float = Field(200.0, ge=0)
    apply_entries_per_s: float = Field(20.0, ge=0)
    apply_max_per_tick: int = Field(500, ge=1)
    receiver_entries: int = Field(10_000, ge=1)  # journal entries per receiver


def _default_libraries() -> list[LibrarySeed]:
    return [
        LibrarySeed(name="APPLIB1", objects=30, data_mb=120, text="Orders"),
        LibrarySeed(name="APPLIB2", objects=20, data_mb=60, text="Stock"),
        LibrarySeed(name="APPLIB3", objects=10, data_mb=20, text="Reference data"),
        LibrarySeed(name="SAVFLIB", objects=0, data_mb=0, text="Save files for the resync"),
        LibrarySeed(name="QGPL", objects=0, data_mb=0, text="General purpose library"),
    ]


def _default_subsystems() -> list[SubsystemSeed]:
    system = [SubsystemSeed(name=n) for n in ("QCTL", "QBATCH", "QINTER", "QUSRWRK", "QSYSWRK")]
    return [
        *system,
        SubsystemSeed(name="QSERVER"),
        SubsystemSeed(name="XDMCLUSTER", library="ICLUSTER"),  # icluster.md §1 [V] name
        SubsystemSeed(name="APPSBS", library="QGPL", active_on=["primary"]),
    ]


def _default_users() -> list[UserSeed]:
    return [
        UserSeed(name="QSECOFR", user_class="*SECOFR", special_authorities=["*ALLOBJ", "*SAVSYS"]),
        UserSeed(
            name="SIMUSER",
            user_class="*SECOFR",
            special_authorities=["*ALLOBJ", "*SAVSYS", "*JOBCTL"],
            text="Automation profile (SSH login of the product)",
        ),
        UserSeed(name="DMCLUSTER", user_class="*SYSOPR", text="iCluster (icluster.md §1)"),
        UserSeed(
            name="APPUSER",
            library_authorities={"APPLIB1": "*CHANGE", "APPLIB2": "*CHANGE", "APPLIB3": "*USE"},
        ),
    ]


def _default_groups() -> list[GroupSeed]:
    return [
        GroupSeed(name="GRP01", libraries=["APPLIB1"]),
        GroupSeed(name="GRP02", libraries=["APPLIB2", "APPLIB3"]),
    ]


class SimConfig(BaseModel):
    """Everything the pair needs; load with :func:`load_config`."""

    server_url: str = "postgresql://postgres@127.0.0.1:5432/"
    ssh_user: str = "simuser"
    ssh_password: str = "simpass1"
    time_scale: float = Field(1.0, gt=0)  # real seconds = nominal seconds * time_scale
    size_scale: float = Field(1e-4, gt=0)  # save-file bytes per nominal object byte
    timing: Timing = Field(default_factory=Timing)
    icluster: ICluster = Field(default_factory=ICluster)
    replication: Replication = Field(default_factory=Replication)
    nodes: dict[NodeKey, NodeConfig] = Field(
        default_factory=lambda: {
            "primary": NodeConfig(
                system_name="SIMPRIM", role="PRIMARY", database="ibmi_sim_primary"
            ),
            "backup": NodeConfig(system_name="SIMBACK", role="BACKUP", database="ibmi_sim_backup"),
        }
    )
    libraries: list[LibrarySeed] = Field(default_factory=_default_libraries)
    subsystems: list[SubsystemSeed] = Field(default_factory=_default_subsystems)
    user_profiles: list[UserSeed] = Field(default_factory=_default_users)
    replication_groups: list[GroupSeed] = Field(default_factory=_default_groups)
    ifs: list[IfsSeed] = Field(default_factory=list)  # IFS directories seeded on both nodes
    dlo_folders: list[DloSeed] = Field(default_factory=list)  # QDLS folders on both nodes

    def scaled(self, nominal_seconds: float) -> float:
        """Real seconds for a nominal duration (the one time-scale setting, issue 3 item 9)."""
        return nominal_seconds * self.time_scale

    def database_url(self, database: str) -> str:
        """``server_url`` with its path replaced by ``database``."""
        parts = urlsplit(self.server_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))

    def maintenance_url(self) -> str:
        """URL of the server's ``postgres`` database, used to create and drop node databases."""
        return self.database_url("postgres")


SERVER_URL_ENV = "IBMI_SIM_SERVER_URL"


def load_config(path: Path | None) -> SimConfig:
    """Read a YAML file (missing keys take the defaults); None gives the default config.

    ``IBMI_SIM_SERVER_URL`` in the environment overrides ``server_url`` (CI machines differ).
    """
    data = (yaml.safe_load(path.read_text()) or {}) if path is not None else {}
    if os.environ.get(SERVER_URL_ENV):
        data["server_url"] = os.environ[SERVER_URL_ENV]
    return SimConfig.model_validate(data)

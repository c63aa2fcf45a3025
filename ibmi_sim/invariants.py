"""Invariants the simulator checks after a run (issue 3 item 11, issue 6 item 5).

Why from the node databases and not from the product: the fault matrix must prove, whatever
the product's report says, that (a) nothing destructive ran on PRIMARY, (b) no saved object was
lost silently, and (c) BACKUP was never left cleared without a restore attempt. The checks read
only what the nodes recorded: ``command_log`` (every CL command with the node's role at that
moment, SBMJOB batch commands included), the save files' archives on PRIMARY, BACKUP's objects
and job logs (CPF3756, ibmi.md §5.4).

Rules:

* ``destructive_on_primary``: CLRLIB, DLTLIB, RSTLIB, RSTOBJ, RST, RSTDLO, RSTUSRPRF or RSTAUT
  ran (whatever its outcome) on a node whose role was PRIMARY; a SBMJOB of one counts unless
  its batch job ran it (then that run is the violation).
* ``object_lost``: an object in the archive of a SAVLIB/SAVOBJ save file on PRIMARY that is
  neither restored on BACKUP (``restored_at`` at or after the save) nor named by a CPF3756 in
  a BACKUP job log.
* ``cleared_without_restore``: a CLRLIB that ended normally on BACKUP with no RSTLIB/RSTOBJ
  of that library after it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2

from ibmi_sim.cl_parser import CLParseError, parse
from ibmi_sim.cl_specs import SPECS
from ibmi_sim.savf import SavfDamaged, SavfEmpty, read_archive

DESTRUCTIVE = frozenset(
    {"CLRLIB", "DLTLIB", "RSTLIB", "RSTOBJ", "RST", "RSTDLO", "RSTUSRPRF", "RSTAUT"}
)
_VERB_RE = re.compile(r"^\s*(?:[A-Z0-9$#@_]+/)?([A-Z0-9$#@_]+)", re.IGNORECASE)
_SBMJOB_CMD_RE = re.compile(r"\bCMD\(\s*(?:[A-Z0-9$#@_]+/)?([A-Z0-9$#@_]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its rule, the node, what and when."""

    rule: str
    node: str
    detail: str
    command: str | None = None
    at: str | None = None
    library: str | None = None
    object: str | None = None


def verb(command: str) -> str:
    """The command name of a CL line (``QSYS/CLRLIB LIB(X)`` -> ``CLRLIB``)."""
    match = _VERB_RE.match(command)
    return match.group(1).upper() if match else ""


def _param(command: str, keyword: str) -> str | None:
    """A keyword's value through the simulator's CL parser (positional forms included)."""
    try:
        return parse(command, SPECS).text(keyword)
    except (CLParseError, KeyError, ValueError):
        return None


def _urls(source: Any) -> dict[str, str]:
    """Database URL per node from a SimPair, a state directory, or ``{node: url}``."""
    if isinstance(source, dict):
        return dict(source)
    if isinstance(source, str | Path):
        info = json.loads((Path(source) / "connections.json").read_text())
    else:
        info = source.info
    return {k: v["database_url"] for k, v in info["nodes"].items()}


def _rows(url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        conn.close()


def check_invariants(
    pair_or_urls: Any, *, since: datetime | None = None, libraries: Iterable[str] | None = None
) -> list[Violation]:
    """Every violation of the three rules on the pair (module docstring).

    ``pair_or_urls``: a :class:`ibmi_sim.testing.SimPair`, a state directory, or
    ``{"primary": url, "backup": url}``. ``since`` limits the check to commands and saves
    from that moment on, ``libraries`` to those libraries (a shared test pair holds the
    history of other tests).
    """
    urls = _urls(pair_or_urls)
    libs = {lib.upper() for lib in libraries} if libraries is not None else None
    start = since or datetime(1970, 1, 1)
    logs = {
        node: _rows(
            url,
            "SELECT id, ts, node, role, job, command, exit_status FROM command_log"
            " WHERE ts >= %s ORDER BY id",
            start,
        )
        for node, url in urls.items()
    }
    violations = _destructive(logs, libs)
    violations += _cleared(logs, libs)
    if "primary" in urls and "backup" in urls:
        violations += _lost(urls["primary"], urls["backup"], start, libs)
    return violations


def _library_of(command: str) -> str | None:
    name = verb(command)
    if name in ("CLRLIB", "DLTLIB"):
        return _param(command, "LIB")
    if name in ("RSTLIB", "RSTOBJ"):
        target = _param(command, "RSTLIB")
        return _param(command, "SAVLIB") if target in (None, "*SAVLIB") else target
    return None


def _in_scope(command: str, libs: set[str] | None) -> bool:
    if libs is None:
        return True
    lib = _library_of(command)
    return lib is not None and lib.upper() in libs


def _destructive(logs: dict[str, list[dict[str, Any]]], libs: set[str] | None) -> list[Violation]:
    found: list[Violation] = []
    for node, rows in logs.items():
        ran = {r["command"].strip() for r in rows}
        for r in rows:
            if r["role"] != "PRIMARY":
                continue
            command = r["command"]
            name = verb(command)
            inner = None
            if name == "SBMJOB":
                match = _SBMJOB_CMD_RE.search(command)
                inner = match.group(1).upper() if match else None
                if inner not in DESTRUCTIVE:
                    continue
                text = _param(command, "CMD") or ""
                if text.strip() in ran:
                    continue  # its batch job ran it: that row is reported
                if not _in_scope(text, libs):
                    continue
            elif name not in DESTRUCTIVE or not _in_scope(command, libs):
                continue
            found.append(
                Violation(
                    "destructive_on_primary",
                    node,
                    f"{inner or name} ran on PRIMARY in job {r['job']}"
                    f" (exit status {r['exit_status']})",
                    command=command,
                    at=r["ts"].isoformat(),
                    library=_library_of(command),
                )
            )
    return found


def _cleared(logs: dict[str, list[dict[str, Any]]], libs: set[str] | None) -> list[Violation]:
    found: list[Violation] = []
    for node, rows in logs.items():
        for i, r in enumerate(rows):
            if r["role"] != "BACKUP" or verb(r["command"]) != "CLRLIB" or r["exit_status"]:
                continue
            lib = _library_of(r["command"])
            if lib is None or (libs is not None and lib.upper() not in libs):
                continue
            restored = any(
                verb(later["command"]) in ("RSTLIB", "RSTOBJ")
                and (_library_of(later["command"]) or "").upper() == lib.upper()
                for later in rows[i + 1 :]
            )
            if not restored:
                found.append(
                    Violation(
                        "cleared_without_restore",
                        node,
                        f"library {lib} cleared on BACKUP and no restore attempted after it",
                        command=r["command"],
                        at=r["ts"].isoformat(),
                        library=lib,
                    )
                )
    return found


def _lost(primary: str, backup: str, since: datetime, libs: set[str] | None) -> list[Violation]:
    saves = _rows(
        primary,
        "SELECT library, name, blob_path, saved_library, saved_at FROM save_files"
        " WHERE save_command IN ('SAVLIB', 'SAVOBJ') AND saved_at >= %s ORDER BY saved_at",
        since,
    )
    reported = {
        r["message_text"]
        for r in _rows(
            backup,
            "SELECT message_text FROM job_log WHERE message_id = 'CPF3756'"
            " AND message_timestamp >= %s",
            since,
        )
    }
    found: list[Violation] = []
    for save in saves:
        lib = save["saved_library"]
        if libs is not None and lib.upper() not in libs:
            continue
        try:
            archive = read_archive(Path(save["blob_path"]))
        except (OSError, SavfEmpty, SavfDamaged):
            continue  # overwritten or cleared since: nothing left to compare
        restored = {
            (r["library"], r["name"], r["obj_type"])
            for r in _rows(
                backup,
                "SELECT library, name, obj_type FROM objects WHERE restored_at >= %s",
                save["saved_at"],
            )
        }
        for obj in archive.objects:
            if (lib, obj.name, obj.obj_type) in restored:
                continue
            # CPF3756 "&2 &1 not restored to &3." (messages.py): "*FILE X not restored to L."
            if f"{obj.obj_type} {obj.name} not restored to {lib}." in reported:
                continue
            found.append(
                Violation(
                    "object_lost",
                    "backup",
                    f"{lib}/{obj.name} {obj.obj_type} saved on PRIMARY into"
                    f" {save['library']}/{save['name']} is neither restored on BACKUP nor"
                    " reported not restored (CPF3756)",
                    at=save["saved_at"].isoformat(),
                    library=lib,
                    object=obj.name,
                )
            )
    return found


def as_json(violations: list[Violation]) -> str:
    """The CLI's output: ``{"ok": bool, "violations": [...]}``."""
    return json.dumps(
        {"ok": not violations, "violations": [asdict(v) for v in violations]}, indent=2
    )

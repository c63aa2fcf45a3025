"""Seed a node database from the config: libraries with generated objects, subsystems, users.

Why deterministic generation: both nodes start in sync, object for object, because each object's
size and content hash derive only from (library, name, type, version). A later comparison of the
two databases then shows exactly what the runbook changed, or failed to change.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from ibmi_sim.config import DloSeed, IfsSeed, LibrarySeed, NodeKey, SimConfig

# (type, attribute, name prefix, share of objects, share of data) [G] a plausible mix.
_OBJECT_MIX: tuple[tuple[str, str, str, float, float], ...] = (
    ("*FILE", "PF", "F", 0.5, 0.85),
    ("*FILE", "LF", "L", 0.15, 0.05),
    ("*PGM", "CLLE", "P", 0.2, 0.07),
    ("*SRVPGM", "RPGLE", "S", 0.05, 0.02),
    ("*DTAARA", "", "D", 0.1, 0.01),
)


# Both nodes start from the same restore, so their objects share a creation timestamp; RSTLIB
# compares it (ALWOBJDIF, ibmi.md §5.1) and keeps it.
SEED_CREATED = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ObjectRow:
    """One object as stored in the ``objects`` table."""

    library: str
    name: str
    obj_type: str
    attribute: str
    size_bytes: int
    version: int
    content_hash: str


def content_hash(library: str, name: str, obj_type: str, version: int) -> str:
    """Hash standing for an object's content at ``version`` (same on every node)."""
    return hashlib.sha256(f"{library}|{name}|{obj_type}|{version}".encode()).hexdigest()


def library_objects(lib: LibrarySeed) -> list[ObjectRow]:
    """The objects of a seeded library: ``lib.objects`` of them, ``lib.data_mb`` in total."""
    if lib.objects == 0:
        return []
    rng = random.Random(lib.name)
    counts = [max(0, round(lib.objects * share)) for _, _, _, share, _ in _OBJECT_MIX]
    counts[0] += lib.objects - sum(counts)
    rows: list[ObjectRow] = []
    total = lib.data_mb * 1_000_000
    for (obj_type, attr, prefix, _, data_share), count in zip(_OBJECT_MIX, counts, strict=True):
        if count <= 0:
            continue
        weights = [rng.paretovariate(1.5) for _ in range(count)]
        scale = total * data_share / sum(weights)
        for index, weight in enumerate(weights, start=1):
            name = f"{prefix}{index:05d}"
            size = max(4096, int(weight * scale))
            digest = content_hash(lib.name, name, obj_type, 1)
            rows.append(ObjectRow(lib.name, name, obj_type, attr, size, 1, digest))
    return rows


@dataclass(frozen=True)
class StreamRow:
    """One IFS object (``ifs_objects``) or QDLS object (``dlo_objects``, path = FOLDER/NAME)."""

    path: str
    obj_type: str
    size_bytes: int
    content_hash: str
    owner: str


def _sizes(seed_name: str, count: int, data_mb: float) -> list[int]:
    rng = random.Random(seed_name)
    weights = [rng.paretovariate(1.5) for _ in range(count)]
    total = data_mb * 1_000_000
    return [max(512, int(w * total / sum(weights))) for w in weights]


def ifs_objects(seed: IfsSeed) -> list[StreamRow]:
    """The directory of ``seed`` (its parents owned by QSYS [G]) and its stream files."""
    parts = seed.path.strip("/").split("/")
    parents = ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]
    rows = [StreamRow(p, "*DIR", 0, content_hash("IFS", p, "*DIR", 1), "QSYS") for p in parents]
    rows.append(
        StreamRow(seed.path, "*DIR", 0, content_hash("IFS", seed.path, "*DIR", 1), seed.owner)
    )
    for index, size in enumerate(_sizes(seed.path, seed.files, seed.data_mb), start=1):
        path = f"{seed.path}/EXP{index:05d}.CSV"
        rows.append(
            StreamRow(path, "*STMF", size, content_hash("IFS", path, "*STMF", 1), seed.owner)
        )
    return rows


def dlo_objects(seed: DloSeed) -> list[StreamRow]:
    """The folder of ``seed`` (path ``/NAME``) and its documents (``NAME/Dnnnnn.PDF``)."""
    rows = [
        StreamRow(f"/{seed.name}", "*FLR", 0, content_hash("DLO", seed.name, "*FLR", 1), seed.owner)
    ]
    for index, size in enumerate(_sizes(seed.name, seed.documents, seed.data_mb), start=1):
        path = f"{seed.name}/D{index:05d}.PDF"
        rows.append(StreamRow(path, "*DOC", size, content_hash("DLO", path, "*DOC", 1), seed.owner))
    return rows


def stale_objects(lib: LibrarySeed) -> list[ObjectRow]:
    """``lib.stale_on_backup`` objects only BACKUP has (seeded there only)."""
    return [
        ObjectRow(lib.name, name, "*FILE", "PF", 40_960, 1, content_hash(lib.name, name, "OLD", 1))
        for name in (f"OLD{index:05d}" for index in range(1, lib.stale_on_backup + 1))
    ]


async def seed_node(conn: asyncpg.Connection, cfg: SimConfig, node: NodeKey) -> None:
    """Fill an empty node database; a database already seeded is left as it is."""
    if await conn.fetchval("SELECT value FROM node_info WHERE key = 'seeded'"):
        return
    node_cfg = cfg.nodes[node]
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO node_info (key, value) VALUES ($1, $2)",
            [
                ("node", node),
                ("role", node_cfg.role),
                ("system_name", node_cfg.system_name),
                ("os_version", node_cfg.os_version),
                ("os_release", node_cfg.os_release),
                ("system_asp_storage_mb", f"{node_cfg.system_asp_storage_mb:g}"),
                ("system_asp_base_used_mb", f"{node_cfg.system_asp_base_used_mb:g}"),
                ("seeded", "yes"),
            ],
        )
        libraries = {lib.name: lib for lib in cfg.libraries}
        for name in ("QSYS", *(s.library for s in cfg.subsystems)):
            libraries.setdefault(name, LibrarySeed(name=name, objects=0, data_mb=0))
        await conn.executemany(
            "INSERT INTO libraries (name, text_description) VALUES ($1, $2)",
            [(lib.name, lib.text) for lib in libraries.values()],
        )
        rows = [row for lib in libraries.values() for row in library_objects(lib)]
        if node == "backup":
            rows += [row for lib in libraries.values() for row in stale_objects(lib)]
        await conn.executemany(
            "INSERT INTO objects (library, name, obj_type, attribute, size_bytes, version,"
            " content_hash, created_at, changed_at, owner)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
            [
                (
                    r.library,
                    r.name,
                    r.obj_type,
                    r.attribute,
                    r.size_bytes,
                    r.version,
                    r.content_hash,
                    SEED_CREATED,
                    libraries[r.library].owner,
                )
                for r in rows
            ],
        )
        # LibrarySeed.authorities: a private authority on every seeded object of the library.
        await conn.executemany(
            "INSERT INTO authorities (library, object_name, obj_type, user_profile, authority)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            [
                (r.library, r.name, r.obj_type, profile, aut)
                for r in rows
                for profile, aut in libraries[r.library].authorities.items()
            ],
        )
        ifs_rows = {row.path: row for seed in cfg.ifs for row in ifs_objects(seed)}
        await conn.executemany(
            "INSERT INTO ifs_objects (path, obj_type, size_bytes, content_hash, owner,"
            " created_at, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            [
                (r.path, r.obj_type, r.size_bytes, r.content_hash, r.owner, SEED_CREATED)
                for r in ifs_rows.values()
            ],
        )
        await conn.executemany(
            "INSERT INTO dlo_objects (folder, name, obj_type, size_bytes, content_hash, owner,"
            " created_at, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            [
                (
                    *r.path.rsplit("/", 1),
                    r.obj_type,
                    r.size_bytes,
                    r.content_hash,
                    r.owner,
                    SEED_CREATED,
                )
                for seed in cfg.dlo_folders
                for r in dlo_objects(seed)
            ],
        )
        await conn.executemany(
            "INSERT INTO subsystems (name, library, status) VALUES ($1, $2, $3)",
            [
                (s.name, s.library, "ACTIVE" if node in s.active_on else "INACTIVE")
                for s in cfg.subsystems
            ],
        )
        await conn.executemany(
            "INSERT INTO user_profiles (name, user_class, special_authorities, group_profile,"
            " text_description) VALUES ($1, $2, $3, $4, $5)",
            [
                (u.name, u.user_class, u.special_authorities, u.group_profile, u.text)
                for u in cfg.user_profiles
            ],
        )
        await conn.executemany(
            "INSERT INTO authorities (library, object_name, obj_type, user_profile, authority)"
            " VALUES ('QSYS', $1, '*LIB', $2, $3)",
            [
                (lib, u.name, aut)
                for u in cfg.user_profiles
                for lib, aut in u.library_authorities.items()
            ],
        )
        await conn.executemany(
            "INSERT INTO replication_groups (name, description) VALUES ($1, $2)",
            [(g.name, g.description) for g in cfg.replication_groups],
        )
        await conn.executemany(
            "INSERT INTO replication_group_libraries (group_name, library) VALUES ($1, $2)",
            [(g.name, lib) for g in cfg.replication_groups for lib in g.libraries],
        )

"""Node state in PostgreSQL: one database per node, its schema, creation and removal.

Why PostgreSQL and one database per node: the two nodes must be compared object for object after
a resync (issue 3 item 8), by SQL, from outside the simulator process; and a later session
serves IBM's SQL services (QSYS2 views) from the same tables through a PostgreSQL-protocol front.
"""

from __future__ import annotations

import asyncpg

SCHEMA = """
CREATE TABLE IF NOT EXISTS node_info (
    key   text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE IF NOT EXISTS libraries (
    name             varchar(10) PRIMARY KEY,
    lib_type         varchar(5)  NOT NULL DEFAULT 'PROD',
    text_description text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    restored_at      timestamptz
);
-- One row per object; (size, version, content_hash) is what two nodes compare.
CREATE TABLE IF NOT EXISTS objects (
    library          varchar(10) NOT NULL REFERENCES libraries(name) ON DELETE CASCADE,
    name             varchar(10) NOT NULL,
    obj_type         varchar(10) NOT NULL,
    attribute        varchar(10) NOT NULL DEFAULT '',
    size_bytes       bigint      NOT NULL DEFAULT 0,
    version          integer     NOT NULL DEFAULT 1,
    content_hash     char(64)    NOT NULL,
    owner            varchar(10) NOT NULL DEFAULT 'QSECOFR',
    text_description text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    changed_at       timestamptz NOT NULL DEFAULT now(),
    saved_at         timestamptz,
    restored_at      timestamptz,
    PRIMARY KEY (library, name, obj_type)
);
-- Save files are also *FILE objects (attribute SAVF); their bytes live in a blob file.
CREATE TABLE IF NOT EXISTS save_files (
    library        varchar(10) NOT NULL,
    name           varchar(10) NOT NULL,
    blob_path      text        NOT NULL,
    max_records    bigint,
    save_command   text,
    saved_library  varchar(10),
    objects_saved  integer,
    saved_at       timestamptz,
    PRIMARY KEY (library, name),
    FOREIGN KEY (library) REFERENCES libraries(name) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS subsystems (
    name       varchar(10) PRIMARY KEY,
    library    varchar(10) NOT NULL,
    status     varchar(8)  NOT NULL CHECK (status IN ('ACTIVE', 'ENDING', 'INACTIVE')),
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE IF NOT EXISTS job_number_seq START 100001 MAXVALUE 999999 CYCLE;
CREATE TABLE IF NOT EXISTS jobs (
    job_number        integer PRIMARY KEY,
    user_name         varchar(10) NOT NULL,
    job_name          varchar(10) NOT NULL,
    qualified_name    varchar(28) NOT NULL UNIQUE,
    job_type          varchar(3)  NOT NULL,
    status            varchar(10) NOT NULL,
    subsystem         varchar(10),
    job_queue         varchar(21),
    command           text,
    submitted_by      varchar(28),
    submitted_at      timestamptz,
    started_at        timestamptz,
    ended_at          timestamptz,
    completion_status varchar(10),
    end_escape        varchar(7)
);
CREATE TABLE IF NOT EXISTS job_log (
    job_number        integer     NOT NULL REFERENCES jobs(job_number) ON DELETE CASCADE,
    ordinal_position  integer     NOT NULL,
    message_id        varchar(7),
    message_type      varchar(13) NOT NULL,
    severity          integer     NOT NULL,
    message_timestamp timestamptz NOT NULL DEFAULT clock_timestamp(),
    message_text      text        NOT NULL,
    second_level_text text,
    PRIMARY KEY (job_number, ordinal_position)
);
CREATE TABLE IF NOT EXISTS user_profiles (
    name                 varchar(10) PRIMARY KEY,
    status               varchar(9)  NOT NULL DEFAULT '*ENABLED',
    user_class           varchar(7)  NOT NULL DEFAULT '*USER',
    special_authorities  text[]      NOT NULL DEFAULT '{}',
    group_profile        varchar(10),
    text_description     text        NOT NULL DEFAULT '',
    password_expired     boolean     NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS authorities (
    library      varchar(10) NOT NULL,
    object_name  varchar(10) NOT NULL,
    obj_type     varchar(10) NOT NULL,
    user_profile varchar(10) NOT NULL,
    authority    varchar(8)  NOT NULL,
    PRIMARY KEY (library, object_name, obj_type, user_profile)
);
-- What RSTUSRPRF restored and RSTAUT has yet to grant: IBM's authority reference table per
-- profile (ibmi.md §5.1 RSTAUT: failed grants stay and RSTAUT can be re-run).
CREATE TABLE IF NOT EXISTS authority_reference (
    user_profile varchar(10) NOT NULL,
    library      varchar(10) NOT NULL,
    object_name  varchar(10) NOT NULL,
    obj_type     varchar(10) NOT NULL,
    authority    varchar(8)  NOT NULL,
    PRIMARY KEY (user_profile, library, object_name, obj_type)
);
-- IFS directories (*DIR) and stream files (*STMF), by absolute path (SAV/RST, ibmi.md §5.1).
CREATE TABLE IF NOT EXISTS ifs_objects (
    path         text        PRIMARY KEY,
    obj_type     varchar(10) NOT NULL,
    size_bytes   bigint      NOT NULL DEFAULT 0,
    version      integer     NOT NULL DEFAULT 1,
    content_hash char(64)    NOT NULL,
    owner        varchar(10) NOT NULL DEFAULT 'QSECOFR',
    created_at   timestamptz NOT NULL DEFAULT now(),
    changed_at   timestamptz NOT NULL DEFAULT now(),
    saved_at     timestamptz,
    restored_at  timestamptz
);
-- QDLS folders (*FLR, folder '' = the root) and documents (*DOC) (SAVDLO/RSTDLO).
CREATE TABLE IF NOT EXISTS dlo_objects (
    folder       varchar(63) NOT NULL,
    name         varchar(12) NOT NULL,
    obj_type     varchar(5)  NOT NULL,
    size_bytes   bigint      NOT NULL DEFAULT 0,
    version      integer     NOT NULL DEFAULT 1,
    content_hash char(64)    NOT NULL,
    owner        varchar(10) NOT NULL DEFAULT 'QSECOFR',
    created_at   timestamptz NOT NULL DEFAULT now(),
    changed_at   timestamptz NOT NULL DEFAULT now(),
    saved_at     timestamptz,
    restored_at  timestamptz,
    PRIMARY KEY (folder, name)
);
CREATE TABLE IF NOT EXISTS command_log (
    id          bigserial   PRIMARY KEY,
    ts          timestamptz NOT NULL DEFAULT clock_timestamp(),
    node        varchar(8)  NOT NULL,
    role        varchar(7)  NOT NULL,
    job         varchar(28),
    user_name   varchar(10),
    command     text        NOT NULL,
    exit_status integer     NOT NULL,
    escape_id   varchar(7)
);
-- IBM i work that runs without a job of its own (a subsystem ending after ENDSBS), for the
-- critical path (ibmi_sim.critical_path); simulator bookkeeping, not an IBM i catalog.
CREATE TABLE IF NOT EXISTS work_spans (
    id         bigserial   PRIMARY KEY,
    kind       varchar(10) NOT NULL,
    name       varchar(28) NOT NULL,
    detail     text,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS replication_groups (
    name        varchar(10) PRIMARY KEY,
    description text NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS replication_group_libraries (
    group_name varchar(10) NOT NULL REFERENCES replication_groups(name) ON DELETE CASCADE,
    library    varchar(10) NOT NULL,
    PRIMARY KEY (group_name, library)
);
"""


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def database_exists(maintenance_url: str, database: str) -> bool:
    """True when ``database`` exists on the server behind ``maintenance_url``."""
    conn = await asyncpg.connect(maintenance_url)
    try:
        found = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        return bool(found)
    finally:
        await conn.close()


async def drop_database(maintenance_url: str, database: str) -> None:
    """Drop ``database`` even if connections are left (``WITH (FORCE)``, PostgreSQL 13+)."""
    conn = await asyncpg.connect(maintenance_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(database)} WITH (FORCE)")
    finally:
        await conn.close()


async def ensure_database(maintenance_url: str, database: str, *, reset: bool) -> bool:
    """Create ``database`` (dropping it first when ``reset``); True if it was created now."""
    if reset:
        await drop_database(maintenance_url, database)
    if await database_exists(maintenance_url, database):
        return False
    conn = await asyncpg.connect(maintenance_url)
    try:
        await conn.execute(f"CREATE DATABASE {_quote_ident(database)}")
    finally:
        await conn.close()
    return True


async def create_schema(conn: asyncpg.Connection) -> None:
    """Create every table (idempotent)."""
    await conn.execute(SCHEMA)

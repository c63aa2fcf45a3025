"""IBM's SQL services (QSYS2, SYSIBMADM) in a node database, with IBM's names and columns.

Why: the product reads IBM i state only through DB2 for i SQL services (ibmi.md §7.2, §8; the
statements are ``ibmi_resync.sql.CATALOG``). The SQL front (:mod:`ibmi_sim.sql_front`) strips
only DB2's ``TABLE(QSYS2.F(args)) X`` wrapper, so each service must exist in the node database
as the same kind of object IBM ships: a VIEW where IBM has a view, a table FUNCTION where IBM
has a UDTF, with IBM's parameter names (PostgreSQL resolves ``NAME => value`` against them, so a
misspelt argument fails here as it fails on IBM i) and IBM's column names. A table function
queried like a view (``FROM QSYS2.JOBLOG_INFO``) fails too: there is no relation of that name.

PostgreSQL folds unquoted identifiers to lower case, so columns come back lower case through
psqlODBC (``job_name``); the product upper-cases names when it reads rows
(``ibmi_resync.sql.normalise_row``), as it must for IBM i drivers whose case settings differ.

Objects :func:`install_async` creates (asyncpg, as :mod:`ibmi_sim.db` uses):

* schema ``qsys2``: views SUBSYSTEM_INFO, USER_INFO, OBJECT_LOCK_INFO, SAVE_FILE_INFO,
  SAVE_FILE_OBJECTS, SYSTEM_STATUS_INFO; table functions ACTIVE_JOB_INFO, JOB_INFO,
  GET_JOB_INFO, JOBLOG_INFO, LIBRARY_INFO, OBJECT_STATISTICS, HISTORY_LOG_INFO.
* schema ``sysibmadm``: view ENV_SYS_INFO.
* schema ``ibm_catalog_impl``: private helpers (current job, name lists, IBM-style errors).
* schema ``ibm_catalog_data``: tables for state IBM i has and the sim's own tables do not:
  ``object_locks``, ``history_log``, ``save_file_archives`` + ``save_file_archive_objects``.
  They start empty; the node process fills them (see "Wiring").

``qsys2``, ``sysibmadm`` and ``ibm_catalog_impl`` hold no data and are dropped and rebuilt on
every install, so a changed column list never meets an old definition; ``ibm_catalog_data`` is
created only if missing and never dropped. A save's OUTPUT(*OUTFILE) is a plain table in a schema
named after the library: :func:`write_save_outfile` (model QASAVOBJ, ibmi.md §5.5).

Wiring (for the node process; nothing here is called by the sim yet):

1. After ``db.create_schema`` (and seeding) at every node open: ``await install_async(conn)``.
   It needs the sim's tables (foreign keys on ``jobs`` and ``save_files``).
2. Per SQL connection: a ``jobs`` row for the connection's server job (IBM: QZDASOINIT, type PJ,
   subsystem QUSRWRK, status *ACTIVE), and the session setting ``ibmi.current_job`` set to its
   qualified name, e.g. ``SET ibmi.current_job = '123456/QUSER/QZDASOINIT'`` or, from the front,
   ``options=-c ibmi.current_job=123456/QUSER/QZDASOINIT`` in the StartupMessage. Then
   ``JOB_NAME_FILTER => '*'``, ``JOBLOG_INFO('*')`` and ``GET_JOB_INFO('*')`` name that job
   (ibmi.md §7.2). Unset, they raise SQLSTATE 55000 saying so (IBM always has a current job).
   End the row (status *OUTQ) when the connection closes.
3. After every change of a save file's bytes (SAVLIB, CLRSAVF, SFTP write; where
   ``commands.refresh_savf_object`` runs): ``await record_save_file(conn, lib, name, path)``.
   SAVE_FILE_OBJECTS lists only recorded archives whose SHA-256 equals the ``*FILE`` object's
   ``content_hash`` (so a stale record hides itself); SAVE_FILE_INFO falls back to the
   ``save_files`` columns (which SAVLIB fills on the saving node only).
4. SAVLIB/SAVOBJ with OUTPUT(*OUTFILE): ``await write_save_outfile(...)`` (and the outfile's
   ``*FILE`` PF object in ``objects``, which is the command's business).
5. Optional feeds: a lock a job holds → row in ``ibm_catalog_data.object_locks`` (shown while the
   job is *ACTIVE, removed with the job row); a QHST message (RSTUSRPRF's CPC3705/CPF3775, job
   ends CPF1164; ibmi.md §8, §12) → row in ``ibm_catalog_data.history_log``.
6. ``node_info`` keys read here (none is seeded today; absent = NULL columns):
   ``system_asp_storage_mb`` (system ASP capacity, 1 MB = 1,000,000 bytes),
   ``total_auxiliary_storage_mb`` (defaults to the former: the sim has one ASP),
   ``system_asp_base_used_mb`` (used by what ``objects`` does not hold, default 0),
   ``os_version`` / ``os_release`` (e.g. '7' / '5'), ``system_name`` (seeded).

Errors, as IBM reports a failing service (SQL0443, SQLSTATE 38501 [G] for all of them):
unknown job (GET_JOB_INFO, JOBLOG_INFO: CPF3C53 [G]) and unknown library (LIBRARY_INFO,
OBJECT_STATISTICS: CPF2110 / CPF9810 [G]); where the service has IGNORE_ERRORS, 'YES' gives a
warning and no row instead [G]. A bad special value is SQLSTATE 22023, a special value the sim
does not serve 0A000.

Columns. Labels as ibmi.md §0: V = named in ibmi.md §7.2/§8 or on the IBM page cited there,
I = inferred, G = guessed (confirm on a real IBM i). Types are the closest PostgreSQL type, [G]
unless IBM's page gives them. "NULL" = the sim has no data for it: always NULL, typed.

=========================  ==========================  ========================================  ==
service                    column                      source                                    lb
=========================  ==========================  ========================================  ==
SUBSYSTEM_INFO (view)      SUBSYSTEM_DESCRIPTION_LIB.  subsystems.library                        V
                           SUBSYSTEM_DESCRIPTION       subsystems.name                           V
                           STATUS                      subsystems.status (ACTIVE/ENDING/INAC.)   V
                           MAXIMUM_ACTIVE_JOBS         NULL (= *NOMAX on IBM i)                  V
                           CURRENT_ACTIVE_JOBS         jobs *ACTIVE in it, type <> SBS; 0 inact. I
                           SUBSYSTEM_MONITOR_JOB       jobs row of type SBS, *ACTIVE, if any     I
                           TEXT_DESCRIPTION            NULL                                      G
USER_INFO (view)           AUTHORIZATION_NAME          user_profiles.name                        V
                           STATUS                      user_profiles.status (*ENABLED ...)       G
                           USER_CLASS_NAME             user_profiles.user_class                  G
                           SPECIAL_AUTHORITIES         special_authorities joined by blanks      G
                           GROUP_PROFILE_NAME          group_profile, '*NONE' when none          G
                           TEXT_DESCRIPTION            user_profiles.text_description            G
                           PREVIOUS_SIGNON             NULL                                      G
                           SET_PASSWORD_TO_EXPIRE      password_expired as YES/NO                G
OBJECT_LOCK_INFO (view)    OBJECT_SCHEMA, OBJECT_NAME  object_locks.library / .object_name       V
                           SYSTEM_OBJECT_SCHEMA, _NAME object_locks.library / .object_name       V
                           SYSTEM_TABLE_MEMBER         object_locks.member                       V
                           OBJECT_TYPE                 object_locks.object_type                  V
                           SQL_OBJECT_TYPE, ASP_NUMBER NULL                                      V
                           LOCK_STATE/STATUS/SCOPE     object_locks.lock_state/status/scope      G
                           JOB_NAME                    jobs.qualified_name (only *ACTIVE jobs)   V
                           JOB_NAME_SHORT/USER/NUMBER  jobs.job_name / user_name / job_number    V
SAVE_FILE_INFO (view)      SAVE_FILE_LIBRARY, SAVE_FILE save_files.library / .name               V
                           SAVE_COMMAND                archive meta, else save_files.save_command G
                           SAVE_TIMESTAMP              archive meta, else save_files.saved_at    G
                           OBJECTS_SAVED               archive objects, else save_files.objects_ G
                           TARGET_RELEASE              archive TGTRLS if VxRyMz; *CURRENT = NULL G
SAVE_FILE_OBJECTS (view)   SAVE_FILE_LIBRARY, SAVE_FILE recorded archive                         V
                           LIBRARY_NAME                archive meta library (the saved library)  V
                           OBJECT_NAME/TYPE/ATTRIBUTE  archive object name / obj_type / attribute V
                           TEXT_DESCRIPTION            archive object text                       V
                           OBJECT_SIZE, OBJECT_OWNER   archive object size_bytes / owner         G
SYSTEM_STATUS_INFO (view)  TOTAL_JOBS_IN_SYSTEM        count(jobs)                               V
                           MAXIMUM_JOBS_IN_SYSTEM      NULL                                      V
                           ACTIVE_JOBS_IN_SYSTEM       count(jobs *ACTIVE)                       V
                           SYSTEM_ASP_USED             % of capacity: base_used + sum(objects)   G
                           SYSTEM_ASP_STORAGE          node_info system_asp_storage_mb (MB)      G
                           TOTAL_AUXILIARY_STORAGE     node_info total_auxiliary_storage_mb      G
ENV_SYS_INFO (view)        OS_NAME                     NULL                                      G
                           HOST_NAME                   node_info system_name                     I
                           OS_VERSION, OS_RELEASE      node_info os_version / os_release         V
                           TOTAL_CPUS, CONFIGURED_CPUS NULL                                      G
                           TOTAL_MEMORY                NULL                                      G
ACTIVE_JOB_INFO (UDTF)     JOB_NAME                    jobs.qualified_name; only status *ACTIVE  V
                           JOB_NAME_SHORT, JOB_USER    jobs.job_name / user_name                 V
                           JOB_NUMBER                  jobs.job_number as 6 digits               V
                           SUBSYSTEM                   jobs.subsystem                            V
                           SUBSYSTEM_LIBRARY_NAME      subsystems.library                        V
                           AUTHORIZATION_NAME          jobs.user_name (sim: job user = current)  I
                           JOB_TYPE                    jobs.job_type                             V
                           FUNCTION_TYPE, FUNCTION     NULL                                      V
                           JOB_STATUS (RUN, MSGW ...)  NULL                                      V
                           MEMORY_POOL, RUN_PRIORITY   NULL                                      V
                           THREAD_COUNT, CPU_TIME      NULL                                      V
                           TEMPORARY_STORAGE           NULL                                      V
                           TOTAL_DISK_IO_COUNT         NULL                                      V
                           JOB_END_REASON, SERVER_TYPE NULL                                      V
                           CLIENT_IP_ADDRESS           NULL                                      V
JOB_INFO (UDTF)            JOB_NAME, JOB_NAME_SHORT    jobs.qualified_name / job_name            G/V
                           JOB_USER, JOB_NUMBER        jobs.user_name / job_number               V
                           JOB_STATUS                  jobs.status (*ACTIVE / *JOBQ / *OUTQ)     G
                           JOB_TYPE, JOB_SUBSYSTEM     jobs.job_type / subsystem                 G
                           JOB_QUEUE_LIBRARY, _NAME    jobs.job_queue split at '/'               G
                           JOB_ENTERED_SYSTEM_TIME     jobs.submitted_at                         G
                           JOB_ACTIVE_TIME             jobs.started_at                           G
                           JOB_END_TIME                jobs.ended_at                             G
                           COMPLETION_STATUS           jobs.completion_status                    G
                           SUBMITTER_JOB_NAME          jobs.submitted_by                         G
GET_JOB_INFO (UDTF)        V_JOB_STATUS                jobs.status (*ACTIVE / *JOBQ / *OUTQ)     V
                           V_ACTIVE_JOB_STATUS         NULL (sim has no RUN/MSGW...)             V
                           V_SBS_NAME                  jobs.subsystem while *ACTIVE              V
                           V_ACTIVE_JOB_TYPE           jobs.job_type while *ACTIVE               V
                           V_AUTHORIZATION_NAME        jobs.user_name while *ACTIVE              V
                           V_RUN_PRIORITY .. V_PJ_*    NULL (17 columns, see the DDL)            V
JOBLOG_INFO (UDTF)         ORDINAL_POSITION            job_log.ordinal_position                  V
                           MESSAGE_ID, MESSAGE_TYPE    job_log.message_id / message_type         V
                           SEVERITY                    job_log.severity                          V
                           MESSAGE_TIMESTAMP           job_log.message_timestamp, session zone   V
                           MESSAGE_TEXT                job_log.message_text                      V
                           MESSAGE_SECOND_LEVEL_TEXT   job_log.second_level_text                 V
                           FROM_USER                   jobs.user_name of the job                 I
                           MESSAGE_SUBTYPE, FROM_* ,   NULL                                      V
                           TO_*, MESSAGE_FILE/LIBRARY, NULL                                      V
                           MESSAGE_TOKENS, MESSAGE_KEY NULL                                      V
LIBRARY_INFO (UDTF)        OBJECT_COUNT                count(objects) (+ libraries for QSYS)     V
                           LIBRARY_SIZE                sum(objects.size_bytes); NULL if 'NO'     V
                           LIBRARY_SIZE_COMPLETE       'YES' (NULL with DETAILED_INFO 'NO')      I
                           LIBRARY_TYPE                libraries.lib_type (PROD/TEST)            V
                           TEXT_DESCRIPTION            libraries.text_description                V
                           IASP_*, JOURNAL*, CREATE_A.., NULL                                    V
                           OBJECT_AUDIT_CREATE, APPLY_* NULL                                     V
OBJECT_STATISTICS (UDTF)   OBJNAME, OBJTYPE            objects.name / obj_type; *LIB from libr.  V
                           OBJOWNER, OBJATTRIBUTE      objects.owner / attribute; lib_type (*LIB) V
                           OBJCREATED                  objects / libraries created_at            V
                           OBJSIZE                     objects.size_bytes; NULL for *LIB         V
                           OBJTEXT                     text_description                          V
                           CHANGE_TIMESTAMP            objects.changed_at; NULL for *LIB         V
                           OBJLIB                      objects.library; 'QSYS' for *LIB          V
                           SAVE_TIMESTAMP              objects.saved_at                          G
                           RESTORE_TIMESTAMP           objects.restored_at / libraries.restored_ G
                           OBJDEFINER, OBJLONGNAME,    NULL                                      V
                           LAST_USED_*, DAYS_USED_CNT, NULL                                      V
                           LAST_RESET_TIMESTAMP, IASP_* NULL                                     V
HISTORY_LOG_INFO (UDTF)    ORDINAL_POSITION            rank by time within the result            G
                           MESSAGE_ID .. MESSAGE_TEXT  ibm_catalog_data.history_log (same names) V
=========================  ==========================  ========================================  ==

Parameters (names as IBM's named arguments, ibmi.md §8 unless marked): ACTIVE_JOB_INFO
(RESET_STATISTICS, SUBSYSTEM_LIST_FILTER, JOB_NAME_FILTER, CURRENT_USER_LIST_FILTER,
DETAILED_INFO); JOB_INFO (JOB_STATUS_FILTER, JOB_TYPE_FILTER, JOB_SUBSYSTEM_FILTER,
JOB_USER_FILTER, JOB_SUBMITTER_FILTER); GET_JOB_INFO (V_JOB_NAME [G name; the product passes it
positionally], V_IGNORE_ERRORS [G name]); JOBLOG_INFO (JOB_NAME, IGNORE_ERRORS); LIBRARY_INFO
(LIBRARY_NAME, IGNORE_ERRORS, DETAILED_INFO); OBJECT_STATISTICS (OBJECT_SCHEMA, OBJTYPELIST,
OBJECT_NAME); HISTORY_LOG_INFO (START_TIME, END_TIME; GENERATE_SYSLOG and EOF_DELAY are not
served: passing them fails). Not served at all: the SAVE_FILE_OBJECTS table function (the
product uses the view), JOB_INFO's job-name filter (7.6 L1 / 7.5 L9 / 7.4 L30).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import asyncpg

from ibmi_sim.savf import Archive, ArchivedObject, SavfError, read_archive

__all__ = [
    "DDL",
    "QASAVOBJ_FIELDS",
    "OutfileEntry",
    "install_async",
    "outfile_entries",
    "record_save_file",
    "save_outfile_ddl",
    "write_save_outfile",
]

# ---------------------------------------------------------------------------------------------
# Schemas and the tables that feed the catalog
# ---------------------------------------------------------------------------------------------

SCHEMAS_DDL: Final = """
DROP SCHEMA IF EXISTS qsys2 CASCADE;
DROP SCHEMA IF EXISTS sysibmadm CASCADE;
DROP SCHEMA IF EXISTS ibm_catalog_impl CASCADE;
CREATE SCHEMA qsys2;
CREATE SCHEMA sysibmadm;
CREATE SCHEMA ibm_catalog_impl;
CREATE SCHEMA IF NOT EXISTS ibm_catalog_data;
"""

# State IBM i has and the sim's tables (db.py) do not. Kept across installs.
DATA_DDL: Final = """
-- Locks held by jobs (ibmi.md §7.2 OBJECT_LOCK_INFO). lock_state e.g. *SHRRD *SHRUPD *EXCL,
-- lock_status HELD / WAITING, lock_scope JOB / THREAD [G values].
CREATE TABLE IF NOT EXISTS ibm_catalog_data.object_locks (
    id          bigserial   PRIMARY KEY,
    job_number  integer     NOT NULL REFERENCES jobs(job_number) ON DELETE CASCADE,
    library     varchar(10) NOT NULL,
    object_name varchar(10) NOT NULL,
    object_type varchar(7)  NOT NULL,
    member      varchar(10),
    lock_state  varchar(7)  NOT NULL,
    lock_status varchar(9)  NOT NULL DEFAULT 'HELD',
    lock_scope  varchar(11) NOT NULL DEFAULT 'JOB'
);
-- The history log QHST (ibmi.md §8 HISTORY_LOG_INFO): RSTUSRPRF completion, job ends, ...
CREATE TABLE IF NOT EXISTS ibm_catalog_data.history_log (
    id                        bigserial   PRIMARY KEY,
    message_id                varchar(7),
    message_type              varchar(13) NOT NULL,
    message_subtype           varchar(22),
    severity                  integer     NOT NULL,
    message_timestamp         timestamptz NOT NULL DEFAULT clock_timestamp(),
    from_user                 varchar(10),
    from_job                  varchar(28),
    from_program              varchar(10),
    message_library           varchar(10),
    message_file              varchar(10),
    message_tokens            bytea,
    message_text              text        NOT NULL,
    message_second_level_text text
);
-- What a save file's archive says (ibmi_sim.savf), recorded by record_save_file(). Valid only
-- while content_hash equals the *FILE object's content_hash (the bytes it was read from).
CREATE TABLE IF NOT EXISTS ibm_catalog_data.save_file_archives (
    library        varchar(10) NOT NULL,
    name           varchar(10) NOT NULL,
    content_hash   char(64)    NOT NULL,
    save_command   text,
    saved_library  varchar(10),
    saved_at       timestamptz,
    target_release text,
    system_name    text,
    objects_saved  integer     NOT NULL,
    PRIMARY KEY (library, name),
    FOREIGN KEY (library, name) REFERENCES save_files(library, name) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS ibm_catalog_data.save_file_archive_objects (
    library          varchar(10) NOT NULL,
    name             varchar(10) NOT NULL,
    position         integer     NOT NULL,
    object_name      varchar(10) NOT NULL,
    object_type      varchar(10) NOT NULL,
    object_attribute varchar(10) NOT NULL,
    size_bytes       bigint      NOT NULL,
    owner            varchar(10) NOT NULL,
    text_description text        NOT NULL,
    PRIMARY KEY (library, name, position),
    FOREIGN KEY (library, name)
        REFERENCES ibm_catalog_data.save_file_archives(library, name) ON DELETE CASCADE
);
"""

# ---------------------------------------------------------------------------------------------
# Private helpers
# ---------------------------------------------------------------------------------------------

HELPERS_DDL: Final = r"""
-- ibmi.md §7.2, §9.3: '*' is the job serving this connection. The node sets ibmi.current_job.
CREATE FUNCTION ibm_catalog_impl.current_job() RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    job text := NULLIF(current_setting('ibmi.current_job', true), '');
BEGIN
    IF job IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = '55000',
            MESSAGE = 'the current job is unknown: ibmi.current_job is not set on this connection',
            HINT = 'the node process sets it to the connection''s server job '
                   '(SET ibmi.current_job = ''nnnnnn/USER/NAME''; see ibmi_sim.ibm_catalog)';
    END IF;
    RETURN job;
END
$$;

-- A job name as IBM's services take it: '*', 'nnnnnn/USER/NAME', or the 26-character form
-- (name 10, user 10, number 6; IBM's GET_JOB_INFO page).
CREATE FUNCTION ibm_catalog_impl.qualified_job(job text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF job = '*' THEN
        RETURN ibm_catalog_impl.current_job();
    END IF;
    IF length(job) = 26 AND strpos(job, '/') = 0 THEN
        RETURN substr(job, 21, 6) || '/' || rtrim(substr(job, 11, 10)) || '/'
            || rtrim(substr(job, 1, 10));
    END IF;
    RETURN job;
END
$$;

-- ibmi.md §8: SUBSYSTEM_LIST_FILTER / CURRENT_USER_LIST_FILTER are one comma-separated string.
CREATE FUNCTION ibm_catalog_impl.name_list(list text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(btrim(item)), '{}'::text[])
      FROM regexp_split_to_table(list, ',') AS item
     WHERE btrim(item) <> ''
$$;

-- A name against an IBM name or generic name ('ABC*').
CREATE FUNCTION ibm_catalog_impl.matches(subject text, pattern text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN right(pattern, 1) = '*' THEN starts_with(subject, left(pattern, -1))
                ELSE subject = pattern END
$$;

-- A service failing as IBM's do: SQL0443 with the CPF message, SQLSTATE 38501 [G].
CREATE FUNCTION ibm_catalog_impl.service_error(service text, message_id text, message_text text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = '38501',
        MESSAGE = format('SQL0443 QSYS2.%s: %s %s', service, message_id, message_text);
END
$$;

-- IGNORE_ERRORS => 'YES': a warning instead of the error, and no row [G].
CREATE FUNCTION ibm_catalog_impl.service_warning(service text, message_id text, message_text text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE WARNING '%', format('QSYS2.%s: %s %s', service, message_id, message_text);
END
$$;

-- A special value must be one IBM documents (ibmi.md §8); upper case as DB2 compares them [G].
CREATE FUNCTION ibm_catalog_impl.choice(service text, argument text, given text, allowed text[])
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF given IS NULL OR NOT upper(given) = ANY (allowed) THEN
        RAISE EXCEPTION USING
            ERRCODE = '22023',
            MESSAGE = format('QSYS2.%s: %s => %L is not valid; expected one of %s',
                             service, argument, given, array_to_string(allowed, ', '));
    END IF;
    RETURN upper(given);
END
$$;

-- A value IBM accepts but the sim does not serve: refuse it rather than answer wrongly.
CREATE FUNCTION ibm_catalog_impl.not_simulated(service text, argument text, given text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = '0A000',
        MESSAGE = format('QSYS2.%s: %s => %L is not simulated', service, argument, given);
END
$$;

CREATE FUNCTION ibm_catalog_impl.node_setting(setting text) RETURNS text
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT value FROM node_info WHERE key = setting
$$;
"""

# ---------------------------------------------------------------------------------------------
# Views (ibmi.md §8: queried as FROM QSYS2.NAME, never wrapped in TABLE())
# ---------------------------------------------------------------------------------------------

VIEWS_DDL: Final = """
-- ibmi.md §7.2, §8: inactive subsystem descriptions are listed too; CURRENT_ACTIVE_JOBS is 0
-- when INACTIVE [V]. The monitor job (type SBS) is not counted [G].
CREATE VIEW qsys2.subsystem_info AS
SELECT s.library::varchar(10) AS subsystem_description_library,
       s.name::varchar(10)    AS subsystem_description,
       s.status::varchar(10)  AS status,
       NULL::integer          AS maximum_active_jobs,
       (CASE WHEN s.status = 'INACTIVE' THEN 0
             ELSE (SELECT count(*) FROM jobs AS j
                    WHERE j.subsystem = s.name AND j.status = '*ACTIVE' AND j.job_type <> 'SBS')
        END)::integer         AS current_active_jobs,
       (SELECT min(j.qualified_name) FROM jobs AS j
         WHERE j.subsystem = s.name AND j.status = '*ACTIVE' AND j.job_type = 'SBS'
       )::varchar(28)         AS subsystem_monitor_job,
       NULL::varchar(50)      AS text_description
  FROM subsystems AS s;

-- ibmi.md §8: a VIEW filtered by AUTHORIZATION_NAME [V kind]; columns [G].
CREATE VIEW qsys2.user_info AS
SELECT u.name::varchar(10)                                   AS authorization_name,
       u.status::varchar(10)                                 AS status,
       u.user_class::varchar(10)                             AS user_class_name,
       array_to_string(u.special_authorities, ' ')::varchar(88) AS special_authorities,
       coalesce(u.group_profile, '*NONE')::varchar(10)       AS group_profile_name,
       u.text_description::varchar(50)                       AS text_description,
       NULL::timestamp                                       AS previous_signon,
       (CASE WHEN u.password_expired THEN 'YES' ELSE 'NO' END)::varchar(4)
                                                             AS set_password_to_expire
  FROM user_profiles AS u;

-- ibmi.md §7.2, §8: one row per lock held; a lock ends with its job [I].
CREATE VIEW qsys2.object_lock_info AS
SELECT l.library::varchar(128)                      AS object_schema,
       l.object_name::varchar(128)                  AS object_name,
       l.library::varchar(10)                       AS system_object_schema,
       l.object_name::varchar(10)                   AS system_object_name,
       l.member::varchar(10)                        AS system_table_member,
       l.object_type::varchar(7)                    AS object_type,
       NULL::varchar(9)                             AS sql_object_type,
       NULL::smallint                               AS asp_number,
       l.lock_state::varchar(7)                     AS lock_state,
       l.lock_status::varchar(9)                    AS lock_status,
       l.lock_scope::varchar(11)                    AS lock_scope,
       j.qualified_name::varchar(28)                AS job_name,
       j.job_name::varchar(10)                      AS job_name_short,
       j.user_name::varchar(10)                     AS job_user,
       lpad(j.job_number::text, 6, '0')::varchar(6) AS job_number
  FROM ibm_catalog_data.object_locks AS l
  JOIN jobs AS j ON j.job_number = l.job_number
 WHERE j.status = '*ACTIVE';

-- ibmi.md §5.5, §8 (gap 5: column names [G]). Every save file is listed, empty ones with NULLs
-- [G]; a recorded archive of the current bytes wins over the save_files columns.
CREATE VIEW qsys2.save_file_info AS
WITH current_archive AS (
    SELECT a.*
      FROM ibm_catalog_data.save_file_archives AS a
      JOIN objects AS o ON o.library = a.library AND o.name = a.name
                       AND o.obj_type = '*FILE' AND o.content_hash = a.content_hash
)
SELECT s.library::varchar(10) AS save_file_library,
       s.name::varchar(10)    AS save_file,
       (CASE WHEN a.name IS NULL THEN s.save_command ELSE a.save_command END)::varchar(10)
                              AS save_command,
       (CASE WHEN a.name IS NULL THEN s.saved_at ELSE a.saved_at END)::timestamp
                              AS save_timestamp,
       (CASE WHEN a.name IS NULL THEN s.objects_saved ELSE a.objects_saved END)::integer
                              AS objects_saved,
       (CASE WHEN a.target_release ~ '^V[0-9]R[0-9]M[0-9]$' THEN a.target_release END)::varchar(6)
                              AS target_release
  FROM save_files AS s
  LEFT JOIN current_archive AS a ON a.library = s.library AND a.name = s.name;

-- ibmi.md §5.5, §8: the view (also a UDTF on IBM i, not served here) [V columns].
CREATE VIEW qsys2.save_file_objects AS
SELECT a.library::varchar(10)           AS save_file_library,
       a.name::varchar(10)              AS save_file,
       a.saved_library::varchar(10)     AS library_name,
       x.object_name::varchar(10)       AS object_name,
       x.object_type::varchar(8)        AS object_type,
       x.object_attribute::varchar(10)  AS object_attribute,
       x.size_bytes::bigint             AS object_size,
       x.owner::varchar(10)             AS object_owner,
       x.text_description::varchar(50)  AS text_description
  FROM ibm_catalog_data.save_file_archives AS a
  JOIN objects AS o ON o.library = a.library AND o.name = a.name
                   AND o.obj_type = '*FILE' AND o.content_hash = a.content_hash
  JOIN ibm_catalog_data.save_file_archive_objects AS x
    ON x.library = a.library AND x.name = a.name;

-- ibmi.md §8: a VIEW [V]; column names and units [G]. Capacity comes from node_info (module
-- docstring, "Wiring" 6); used = base + the nominal bytes of every object.
CREATE VIEW qsys2.system_status_info AS
WITH capacity AS (
    SELECT ibm_catalog_impl.node_setting('system_asp_storage_mb')::numeric      AS asp_mb,
           ibm_catalog_impl.node_setting('total_auxiliary_storage_mb')::numeric AS total_mb,
           coalesce(ibm_catalog_impl.node_setting('system_asp_base_used_mb')::numeric, 0)
                                                                               AS base_mb,
           (SELECT coalesce(sum(o.size_bytes), 0) FROM objects AS o) / 1000000.0 AS objects_mb
)
SELECT (SELECT count(*) FROM jobs)::integer                               AS total_jobs_in_system,
       NULL::integer                                                      AS maximum_jobs_in_system,
       (SELECT count(*) FROM jobs AS j WHERE j.status = '*ACTIVE')::integer
                                                                          AS active_jobs_in_system,
       (CASE WHEN c.asp_mb > 0
             THEN least(100, round(100 * (c.base_mb + c.objects_mb) / c.asp_mb, 2)) END
       )::numeric(5, 2)                                                   AS system_asp_used,
       c.asp_mb::bigint                                                   AS system_asp_storage,
       coalesce(c.total_mb, c.asp_mb)::bigint                             AS total_auxiliary_storage
  FROM capacity AS c;

-- ibmi.md §8: SYSIBMADM.ENV_SYS_INFO, OS_VERSION and OS_RELEASE as Ansible reads them [V].
CREATE VIEW sysibmadm.env_sys_info AS
SELECT NULL::varchar(256)                                              AS os_name,
       ibm_catalog_impl.node_setting('system_name')::varchar(255)      AS host_name,
       ibm_catalog_impl.node_setting('os_version')::varchar(256)       AS os_version,
       ibm_catalog_impl.node_setting('os_release')::varchar(256)       AS os_release,
       NULL::integer                                                   AS total_cpus,
       NULL::integer                                                   AS configured_cpus,
       NULL::integer                                                   AS total_memory;
"""

# ---------------------------------------------------------------------------------------------
# Table functions (ibmi.md §8: called as TABLE(QSYS2.NAME(ARG => value)) X)
# ---------------------------------------------------------------------------------------------
# PL/pgSQL where the service must raise (SQL functions cannot); parameters are always referred
# to as function.parameter and table columns through an alias, so that "#variable_conflict
# use_column" can never bind an OUT column or a parameter where a table column was meant.

FUNCTIONS_DDL: Final = """
-- ibmi.md §7.2, §8: one row per active job; filters combine with AND.
CREATE FUNCTION qsys2.active_job_info(
    reset_statistics         text DEFAULT 'NO',
    subsystem_list_filter    text DEFAULT NULL,
    job_name_filter          text DEFAULT NULL,
    current_user_list_filter text DEFAULT NULL,
    detailed_info            text DEFAULT 'NONE'
) RETURNS TABLE (
    job_name               varchar(28),
    job_name_short         varchar(10),
    job_user               varchar(10),
    job_number             varchar(6),
    subsystem              varchar(10),
    subsystem_library_name varchar(10),
    authorization_name     varchar(10),
    job_type               varchar(3),
    function_type          varchar(3),
    "function"             varchar(10),
    job_status             varchar(4),
    memory_pool            varchar(10),
    run_priority           integer,
    thread_count           integer,
    temporary_storage      integer,
    cpu_time               bigint,
    total_disk_io_count    bigint,
    job_end_reason         varchar(60),
    server_type            varchar(30),
    client_ip_address      varchar(45)
) LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $fn$
#variable_conflict use_column
DECLARE
    l_subsystems text[];
    l_users      text[];
    l_name       text := active_job_info.job_name_filter;
    l_current    text;
BEGIN
    PERFORM ibm_catalog_impl.choice('ACTIVE_JOB_INFO', 'RESET_STATISTICS',
                                    active_job_info.reset_statistics, ARRAY['YES', 'NO']);
    PERFORM ibm_catalog_impl.choice('ACTIVE_JOB_INFO', 'DETAILED_INFO',
                                    active_job_info.detailed_info,
                                    ARRAY['NONE', 'WORK', 'QTEMP', 'ALL', 'FULL']);
    IF active_job_info.subsystem_list_filter IS NOT NULL THEN
        l_subsystems := ibm_catalog_impl.name_list(active_job_info.subsystem_list_filter);
        IF cardinality(l_subsystems) > 25 THEN  -- ibmi.md §8: at most 25 names
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = 'QSYS2.ACTIVE_JOB_INFO: SUBSYSTEM_LIST_FILTER takes at most 25 names';
        END IF;
    END IF;
    IF active_job_info.current_user_list_filter IS NOT NULL THEN
        l_users := ibm_catalog_impl.name_list(active_job_info.current_user_list_filter);
        IF cardinality(l_users) > 10 THEN  -- IBM's page: at most 10 names [G]
            RAISE EXCEPTION USING ERRCODE = '22023',
                MESSAGE = 'QSYS2.ACTIVE_JOB_INFO: CURRENT_USER_LIST_FILTER takes at most 10 names';
        END IF;
    END IF;
    IF l_name = '*' THEN
        l_current := ibm_catalog_impl.current_job();
    END IF;
    RETURN QUERY
    SELECT j.qualified_name::varchar(28),
           j.job_name::varchar(10),
           j.user_name::varchar(10),
           lpad(j.job_number::text, 6, '0')::varchar(6),
           j.subsystem::varchar(10),
           s.library::varchar(10),
           j.user_name::varchar(10),
           j.job_type::varchar(3),
           NULL::varchar(3), NULL::varchar(10), NULL::varchar(4), NULL::varchar(10),
           NULL::integer, NULL::integer, NULL::integer, NULL::bigint, NULL::bigint,
           NULL::varchar(60), NULL::varchar(30), NULL::varchar(45)
      FROM jobs AS j
      LEFT JOIN subsystems AS s ON s.name = j.subsystem
     WHERE j.status = '*ACTIVE'
       AND (l_subsystems IS NULL OR j.subsystem = ANY (l_subsystems))
       AND (l_users IS NULL OR j.user_name = ANY (l_users))
       AND (l_name IS NULL OR l_name = '*ALL'
            OR (l_name = '*' AND j.qualified_name = l_current)
            OR (l_name <> '*' AND ibm_catalog_impl.matches(j.job_name, l_name)));
    IF l_name = '*' AND NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '55000',
            MESSAGE = format('the current job %s (ibmi.current_job) has no *ACTIVE row in jobs',
                             l_current);
    END IF;
END
$fn$;

-- ibmi.md §8: jobs in any state (WRKUSRJOB / WRKSBMJOB); result columns [G] but JOB_NAME_SHORT,
-- JOB_USER, JOB_NUMBER (IBM support page: 7.4 SF99704 L13).
CREATE FUNCTION qsys2.job_info(
    job_status_filter    text DEFAULT '*ALL',
    job_type_filter      text DEFAULT '*ALL',
    job_subsystem_filter text DEFAULT '*ALL',
    job_user_filter      text DEFAULT '*ALL',
    job_submitter_filter text DEFAULT '*ALL'
) RETURNS TABLE (
    job_name                varchar(28),
    job_name_short          varchar(10),
    job_user                varchar(10),
    job_number              varchar(6),
    job_status              varchar(10),
    job_type                varchar(3),
    job_subsystem           varchar(10),
    job_queue_library       varchar(10),
    job_queue_name          varchar(10),
    job_entered_system_time timestamp,
    job_active_time         timestamp,
    job_end_time            timestamp,
    completion_status       varchar(10),
    submitter_job_name      varchar(28)
) LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $fn$
#variable_conflict use_column
DECLARE
    l_status    text := ibm_catalog_impl.choice('JOB_INFO', 'JOB_STATUS_FILTER',
                          job_info.job_status_filter, ARRAY['*ALL', '*ACTIVE', '*JOBQ', '*OUTQ']);
    l_type      text := ibm_catalog_impl.choice('JOB_INFO', 'JOB_TYPE_FILTER',
                          job_info.job_type_filter, ARRAY['*ALL', '*BATCH', '*INTERACT']);
    l_submitter text := ibm_catalog_impl.choice('JOB_INFO', 'JOB_SUBMITTER_FILTER',
                          job_info.job_submitter_filter, ARRAY['*ALL', '*JOB', '*USER', '*WRKSTN']);
    l_subsystem text := job_info.job_subsystem_filter;
    l_user      text := job_info.job_user_filter;
    l_current   text;
BEGIN
    IF l_user IS NULL OR (left(l_user, 1) = '*' AND l_user <> '*ALL') THEN
        PERFORM ibm_catalog_impl.not_simulated('JOB_INFO', 'JOB_USER_FILTER', l_user);
    END IF;
    IF l_subsystem IS NULL OR (left(l_subsystem, 1) = '*' AND l_subsystem <> '*ALL') THEN
        PERFORM ibm_catalog_impl.not_simulated('JOB_INFO', 'JOB_SUBSYSTEM_FILTER', l_subsystem);
    END IF;
    IF l_submitter IN ('*USER', '*WRKSTN') THEN
        PERFORM ibm_catalog_impl.not_simulated('JOB_INFO', 'JOB_SUBMITTER_FILTER', l_submitter);
    END IF;
    IF l_submitter = '*JOB' THEN
        l_current := ibm_catalog_impl.current_job();
    END IF;
    RETURN QUERY
    SELECT j.qualified_name::varchar(28),
           j.job_name::varchar(10),
           j.user_name::varchar(10),
           lpad(j.job_number::text, 6, '0')::varchar(6),
           j.status::varchar(10),
           j.job_type::varchar(3),
           j.subsystem::varchar(10),
           nullif(split_part(j.job_queue, '/', 1), '')::varchar(10),
           nullif(split_part(j.job_queue, '/', 2), '')::varchar(10),
           j.submitted_at::timestamp,
           j.started_at::timestamp,
           j.ended_at::timestamp,
           j.completion_status::varchar(10),
           j.submitted_by::varchar(28)
      FROM jobs AS j
     WHERE (l_status = '*ALL' OR j.status = l_status)
       AND (l_type = '*ALL'
            OR (l_type = '*INTERACT' AND j.job_type = 'INT')
            -- IBM's page: batch includes prestart, batch immediate and autostart jobs
            OR (l_type = '*BATCH' AND j.job_type IN ('BCH', 'BCI', 'PJ', 'ASJ')))
       AND (l_subsystem = '*ALL' OR j.subsystem = l_subsystem)
       AND (l_user = '*ALL' OR j.user_name = l_user)
       AND (l_submitter = '*ALL' OR j.submitted_by = l_current);
END
$fn$;

-- ibmi.md §7.1, §8: one row for one job; IBM's page: an unknown job is an error unless
-- V_IGNORE_ERRORS => 'YES' (then a warning and no row). V_ columns are CHAR as on IBM's page.
CREATE FUNCTION qsys2.get_job_info(
    v_job_name      text,
    v_ignore_errors text DEFAULT 'NO'
) RETURNS TABLE (
    v_job_status               char(10),
    v_active_job_status        char(4),
    v_run_priority             integer,
    v_sbs_name                 char(10),
    v_cpu_used                 bigint,
    v_temp_storage_used_mb     integer,
    v_aux_io_requested         bigint,
    v_page_faults              bigint,
    v_client_wrkstnname        char(255),
    v_client_applname          char(255),
    v_client_acctng            char(255),
    v_client_programid         char(255),
    v_client_userid            char(255),
    v_sql_statement_text       varchar(10000),
    v_sql_stmt_status          char(8),
    v_sql_stmt_start_timestamp timestamp,
    v_query_options_lib_name   char(10),
    v_client_ip_address        varchar(45),
    v_pj_reuse_count           integer,
    v_pj_maxuse_count          integer,
    v_active_job_type          char(3),
    v_authorization_name       varchar(10)
) LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $fn$
#variable_conflict use_column
DECLARE
    l_ignore text := ibm_catalog_impl.choice('GET_JOB_INFO', 'V_IGNORE_ERRORS',
                                             get_job_info.v_ignore_errors, ARRAY['NO', 'YES']);
    l_job    text := ibm_catalog_impl.qualified_job(get_job_info.v_job_name);
BEGIN
    RETURN QUERY
    SELECT j.status::char(10),
           NULL::char(4),
           NULL::integer,
           (CASE WHEN j.status = '*ACTIVE' THEN j.subsystem END)::char(10),
           NULL::bigint, NULL::integer, NULL::bigint, NULL::bigint,
           NULL::char(255), NULL::char(255), NULL::char(255), NULL::char(255), NULL::char(255),
           NULL::varchar(10000), NULL::char(8), NULL::timestamp, NULL::char(10),
           NULL::varchar(45), NULL::integer, NULL::integer,
           (CASE WHEN j.status = '*ACTIVE' THEN j.job_type END)::char(3),
           (CASE WHEN j.status = '*ACTIVE' THEN j.user_name END)::varchar(10)
      FROM jobs AS j
     WHERE j.qualified_name = l_job;
    IF NOT FOUND THEN
        IF l_ignore = 'YES' THEN
            PERFORM ibm_catalog_impl.service_warning('GET_JOB_INFO', 'CPF3C53',
                                                     format('Job %s not found.', l_job));
        ELSE
            PERFORM ibm_catalog_impl.service_error('GET_JOB_INFO', 'CPF3C53',
                                                   format('Job %s not found.', l_job));
        END IF;
    END IF;
END
$fn$;

-- ibmi.md §8: JOB_NAME => 'nnnnnn/USER/NAME' or '*' (current job); column list as Ansible's
-- get_job_log reads it [V]. Timestamps in the session's zone, as IBM's local TIMESTAMP.
CREATE FUNCTION qsys2.joblog_info(
    job_name      text,
    ignore_errors text DEFAULT 'NO'
) RETURNS TABLE (
    ordinal_position          integer,
    message_id                varchar(7),
    message_type              varchar(13),
    message_subtype           varchar(22),
    severity                  smallint,
    message_timestamp         timestamp,
    from_library              varchar(10),
    from_program              varchar(256),
    from_module               varchar(10),
    from_procedure            varchar(4096),
    from_instruction          varchar(10),
    to_library                varchar(10),
    to_program                varchar(10),
    to_module                 varchar(10),
    to_procedure              varchar(4096),
    to_instruction            varchar(10),
    from_user                 varchar(10),
    message_file              varchar(10),
    message_library           varchar(10),
    message_text              text,
    message_second_level_text text,
    message_tokens            bytea,
    message_key               bytea
) LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $fn$
#variable_conflict use_column
DECLARE
    l_ignore text := ibm_catalog_impl.choice('JOBLOG_INFO', 'IGNORE_ERRORS',
                                             joblog_info.ignore_errors, ARRAY['NO', 'YES']);
    l_job    text := ibm_catalog_impl.qualified_job(joblog_info.job_name);
    l_number integer;
    l_user   text;
BEGIN
    SELECT j.job_number, j.user_name INTO l_number, l_user
      FROM jobs AS j WHERE j.qualified_name = l_job;
    IF l_number IS NULL THEN
        IF l_ignore = 'YES' THEN
            PERFORM ibm_catalog_impl.service_warning('JOBLOG_INFO', 'CPF3C53',
                                                     format('Job %s not found.', l_job));
            RETURN;
        END IF;
        PERFORM ibm_catalog_impl.service_error('JOBLOG_INFO', 'CPF3C53',
                                               format('Job %s not found.', l_job));
    END IF;
    RETURN QUERY
    SELECT m.ordinal_position::integer,
           m.message_id::varchar(7),
           m.message_type::varchar(13),
           NULL::varchar(22),
           m.severity::smallint,
           m.message_timestamp::timestamp,
           NULL::varchar(10), NULL::varchar(256), NULL::varchar(10), NULL::varchar(4096),
           NULL::varchar(10), NULL::varchar(10), NULL::varchar(10), NULL::varchar(10),
           NULL::varchar(4096), NULL::varchar(10),
           l_user::varchar(10),
           NULL::varchar(10), NULL::varchar(10),
           m.message_text::text,
           m.second_level_text::text,
           NULL::bytea, NULL::bytea
      FROM job_log AS m
     WHERE m.job_number = l_number
     ORDER BY m.ordinal_position;
END
$fn$;

-- ibmi.md §8: one row per library; DETAILED_INFO 'NO' leaves LIBRARY_SIZE NULL. QSYS also
-- holds every library as a *LIB object (as OBJECT_STATISTICS lists them).
CREATE FUNCTION qsys2.library_info(
    library_name  text,
    ignore_errors text DEFAULT 'NO',
    detailed_info text DEFAULT 'LIBRARY_SIZE'
) RETURNS TABLE (
    object_count                    integer,
    library_size                    bigint,
    library_size_complete           varchar(3),
    library_type                    varchar(7),
    text_description                varchar(50),
    iasp_name                       varchar(10),
    iasp_number                     smallint,
    create_authority                varchar(10),
    object_audit_create             varchar(7),
    journaled                       varchar(3),
    journal_library                 varchar(10),
    journal_name                    varchar(10),
    inherit_journaling              varchar(3),
    journal_start_timestamp         timestamp,
    apply_starting_receiver_library varchar(10),
    apply_starting_receiver         varchar(10),
    apply_starting_receiver_asp     varchar(10),
    journal_inherit_rules           text
) LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $fn$
#variable_conflict use_column
DECLARE
    l_ignore text := ibm_catalog_impl.choice('LIBRARY_INFO', 'IGNORE_ERRORS',
                                             library_info.ignore_errors, ARRAY['NO', 'YES']);
    l_detail text := ibm_catalog_impl.choice('LIBRARY_INFO', 'DETAILED_INFO',
                                             library_info.detailed_info,
                                             ARRAY['LIBRARY_SIZE', 'NO']);
BEGIN
    RETURN QUERY
    SELECT ((SELECT count(*) FROM objects AS o WHERE o.library = l.name)
            + (CASE WHEN l.name = 'QSYS' THEN (SELECT count(*) FROM libraries) ELSE 0 END)
           )::integer,
           (CASE WHEN l_detail = 'LIBRARY_SIZE'
                 THEN (SELECT coalesce(sum(o.size_bytes), 0) FROM objects AS o
                        WHERE o.library = l.name) END)::bigint,
           (CASE WHEN l_detail = 'LIBRARY_SIZE' THEN 'YES' END)::varchar(3),
           l.lib_type::varchar(7),
           l.text_description::varchar(50),
           NULL::varchar(10), NULL::smallint, NULL::varchar(10), NULL::varchar(7),
           NULL::varchar(3), NULL::varchar(10), NULL::varchar(10), NULL::varchar(3),
           NULL::timestamp, NULL::varchar(10), NULL::varchar(10), NULL::varchar(10), NULL::text
      FROM libraries AS l
     WHERE l.name = library_info.library_name;
    IF NOT FOUND THEN
        IF l_ignore = 'YES' THEN
            PERFORM ibm_catalog_impl.service_warning('LIBRARY_INFO', 'CPF2110',
                format('Library %s not found.', library_info.library_name));
        ELSE
            PERFORM ibm_catalog_impl.service_error('LIBRARY_INFO', 'CPF2110',
                format('Library %s not found.', library_info.library_name));
        END IF;
    END IF;
END
$fn$;

-- ibmi.md §8: OBJECT_SCHEMA 'QSYS' with OBJTYPELIST '*LIB' lists libraries [V]; OBJTYPELIST
-- is '*ALL' or types separated by blanks or commas, with or without the '*' (IBM's page).
CREATE FUNCTION qsys2.object_statistics(
    object_schema text,
    objtypelist   text,
    object_name   text DEFAULT NULL
) RETURNS TABLE (
    objname              varchar(10),
    objtype              varchar(8),
    objowner             varchar(10),
    objdefiner           varchar(10),
    objcreated           timestamp,
    objsize              numeric(15, 0),
    objtext              varchar(50),
    objlongname          varchar(128),
    change_timestamp     timestamp,
    last_used_timestamp  timestamp,
    days_used_count      integer,
    last_reset_timestamp timestamp,
    iasp_number          smallint,
    iasp_name            varchar(10),
    objattribute         varchar(10),
    objlib               varchar(10),
    save_timestamp       timestamp,
    restore_timestamp    timestamp
) LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $fn$
#variable_conflict use_column
DECLARE
    l_schema text := object_statistics.object_schema;
    l_name   text := nullif(object_statistics.object_name, '*ALL');
    l_types  text[];
BEGIN
    IF l_schema IS NULL OR (left(l_schema, 1) = '*' AND l_schema <> '*ALL') THEN
        PERFORM ibm_catalog_impl.not_simulated('OBJECT_STATISTICS', 'OBJECT_SCHEMA', l_schema);
    END IF;
    IF l_schema <> '*ALL' AND NOT EXISTS (SELECT 1 FROM libraries AS l WHERE l.name = l_schema)
    THEN
        PERFORM ibm_catalog_impl.service_error('OBJECT_STATISTICS', 'CPF9810',
                                               format('Library %s not found.', l_schema));
    END IF;
    SELECT array_agg(CASE WHEN left(t, 1) = '*' THEN t ELSE '*' || t END)
      INTO l_types
      FROM regexp_split_to_table(upper(btrim(coalesce(object_statistics.objtypelist, ''))),
                                 '[[:space:],]+') AS t
     WHERE t <> '';
    IF l_types IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'QSYS2.OBJECT_STATISTICS: OBJTYPELIST must name at least one type or *ALL';
    END IF;
    IF '*ALL' = ANY (l_types) THEN
        l_types := NULL;
    END IF;
    RETURN QUERY
    SELECT o.name::varchar(10), o.obj_type::varchar(8), o.owner::varchar(10), NULL::varchar(10),
           o.created_at::timestamp, o.size_bytes::numeric(15, 0),
           o.text_description::varchar(50), NULL::varchar(128), o.changed_at::timestamp,
           NULL::timestamp, NULL::integer, NULL::timestamp, NULL::smallint, NULL::varchar(10),
           o.attribute::varchar(10), o.library::varchar(10),
           o.saved_at::timestamp, o.restored_at::timestamp
      FROM objects AS o
     WHERE (l_schema = '*ALL' OR o.library = l_schema)
       AND (l_types IS NULL OR o.obj_type = ANY (l_types))
       AND (l_name IS NULL OR ibm_catalog_impl.matches(o.name, l_name))
    UNION ALL
    SELECT l.name::varchar(10), '*LIB'::varchar(8), NULL::varchar(10), NULL::varchar(10),
           l.created_at::timestamp, NULL::numeric(15, 0),
           l.text_description::varchar(50), NULL::varchar(128), NULL::timestamp,
           NULL::timestamp, NULL::integer, NULL::timestamp, NULL::smallint, NULL::varchar(10),
           l.lib_type::varchar(10), 'QSYS'::varchar(10),
           NULL::timestamp, l.restored_at::timestamp
      FROM libraries AS l
     WHERE l_schema IN ('QSYS', '*ALL')
       AND (l_types IS NULL OR '*LIB' = ANY (l_types))
       AND (l_name IS NULL OR ibm_catalog_impl.matches(l.name, l_name));
END
$fn$;

-- ibmi.md §8: START_TIME default CURRENT DATE - 1 DAY, END_TIME default 9999-12-30-00.00.00.
CREATE FUNCTION qsys2.history_log_info(
    start_time timestamp DEFAULT (current_date - 1)::timestamp,
    end_time   timestamp DEFAULT '9999-12-30 00:00:00'::timestamp
) RETURNS TABLE (
    ordinal_position          integer,
    message_id                varchar(7),
    message_type              varchar(13),
    message_subtype           varchar(22),
    severity                  smallint,
    message_timestamp         timestamp,
    from_user                 varchar(10),
    from_job                  varchar(28),
    from_program              varchar(10),
    message_library           varchar(10),
    message_file              varchar(10),
    message_tokens            bytea,
    message_text              text,
    message_second_level_text text
) LANGUAGE sql STABLE SET search_path FROM CURRENT AS $fn$
    SELECT (row_number() OVER (ORDER BY h.message_timestamp, h.id))::integer,
           h.message_id::varchar(7), h.message_type::varchar(13), h.message_subtype::varchar(22),
           h.severity::smallint, h.message_timestamp::timestamp, h.from_user::varchar(10),
           h.from_job::varchar(28), h.from_program::varchar(10), h.message_library::varchar(10),
           h.message_file::varchar(10), h.message_tokens, h.message_text,
           h.message_second_level_text
      FROM ibm_catalog_data.history_log AS h
     WHERE h.message_timestamp::timestamp >= history_log_info.start_time
       AND h.message_timestamp::timestamp <= history_log_info.end_time
     ORDER BY h.message_timestamp, h.id
$fn$;
"""

DDL: Final = "\n".join((SCHEMAS_DDL, DATA_DDL, HELPERS_DDL, VIEWS_DDL, FUNCTIONS_DDL))
"""Everything :func:`install_async` runs, in order, as one script (any PostgreSQL client)."""


async def install_async(conn: asyncpg.Connection) -> None:
    """Create (or rebuild) the catalog in the node database behind ``conn``, in one transaction.

    Why rebuild every time: the views and functions hold no data, and dropping them first means a
    column added here never collides with an older definition (CREATE OR REPLACE refuses that).
    The data tables in ``ibm_catalog_data`` are only created if missing. Run it with the same
    ``search_path`` as ``db.create_schema``: the objects bind to the sim's tables found there.

    :raises RuntimeError: when the sim's schema is not there yet (call ``db.create_schema``).
    """
    if await conn.fetchval("SELECT to_regclass('jobs')") is None:
        raise RuntimeError("ibm_catalog.install_async: run db.create_schema(conn) first")
    async with conn.transaction():
        await conn.execute(DDL)


# ---------------------------------------------------------------------------------------------
# Save files: what the archive says (SAVE_FILE_INFO, SAVE_FILE_OBJECTS)
# ---------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _timestamp(value: object) -> datetime | None:
    """The archive's ISO ``saved_at`` as an aware datetime (naive values are UTC)."""
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


async def record_save_file(
    conn: asyncpg.Connection, library: str, name: str, path: Path
) -> int | None:
    """Record what the save file ``library/name`` holds, from its bytes at ``path``.

    Why from the bytes: on IBM i the save file describes itself (DSPSAVF, SAVE_FILE_OBJECTS),
    including on the node it was copied to; the sim's ``save_files`` columns are only filled by
    the node that ran SAVLIB. The SHA-256 is stored with the record, and the views use the
    record only while it equals the ``*FILE`` object's ``content_hash`` (what
    ``commands.refresh_savf_object`` writes after each change), so a record cannot outlive the
    bytes it describes. An empty or damaged save file removes the record.

    :return: the number of objects recorded, or None when the save file holds no usable archive.
    :raises asyncpg.ForeignKeyViolationError: when ``save_files`` has no such save file.
    """

    def read() -> tuple[str, Archive | None]:
        digest = _sha256(path)
        try:
            return digest, read_archive(path)
        except SavfError:
            return digest, None

    digest, archive = await asyncio.to_thread(read)
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM ibm_catalog_data.save_file_archives WHERE library = $1 AND name = $2",
            library,
            name,
        )
        if archive is None:
            return None
        meta, objects = archive.meta, archive.objects
        await conn.execute(
            "INSERT INTO ibm_catalog_data.save_file_archives (library, name, content_hash,"
            " save_command, saved_library, saved_at, target_release, system_name,"
            " objects_saved) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            library,
            name,
            digest,
            meta.get("command"),
            meta.get("library"),
            _timestamp(meta.get("saved_at")),
            meta.get("target_release"),
            meta.get("system"),
            len(objects),
        )
        await conn.executemany(
            "INSERT INTO ibm_catalog_data.save_file_archive_objects (library, name, position,"
            " object_name, object_type, object_attribute, size_bytes, owner, text_description)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            [
                (
                    library,
                    name,
                    index,
                    obj.name,
                    obj.obj_type,
                    obj.attribute,
                    obj.size_bytes,
                    obj.owner,
                    obj.text,
                )
                for index, obj in enumerate(objects, start=1)
            ],
        )
    return len(objects)


# ---------------------------------------------------------------------------------------------
# OUTPUT(*OUTFILE) of a save: model QSYS/QASAVOBJ, format QSRSAV (ibmi.md §5.5)
# ---------------------------------------------------------------------------------------------

# Field names and types from IBM's "Backing up your system" table "Save operation (QASAVOBJ)
# output file information" as copied on a third-party site (ibmi.md §5.5 links IBM's field
# descriptions; the names there are [G]). Only the fields a per-object check needs; IBM's file
# has more. Note: the object attribute field is SROATT (the product's save_outfile_query asks
# for SROATR, which this model, like IBM's, does not have). ZONED -> numeric.
QASAVOBJ_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("SROCMD", "char(10)"),  # save command
    ("SROINF", "char(10)"),  # information type (INFTYPE)
    ("SROSYS", "char(8)"),  # system
    ("SROSRL", "char(6)"),  # save release level
    ("SROLIB", "char(10)"),  # library name
    ("SROSAV", "numeric(6, 0)"),  # objects saved
    ("SROERR", "numeric(6, 0)"),  # objects not saved
    ("SROSVT", "char(13)"),  # save date/time, CYYMMDDHHMMSS [G format]
    ("SRONAM", "char(10)"),  # object name
    ("SROMNM", "char(10)"),  # member name
    ("SROTYP", "char(8)"),  # object type
    ("SROATT", "char(10)"),  # object attribute
    ("SROSIZ", "numeric(15, 0)"),  # size
    ("SROSTA", "char(1)"),  # status: '1' saved, '0' not saved [G values]
    ("SROMSG", "char(7)"),  # error message ID
    ("SROTXT", "char(50)"),  # text
    ("SROSVF", "char(10)"),  # save file name
    ("SROSFL", "char(10)"),  # save file library name
    ("SROTRL", "char(6)"),  # target release
)

_IBMI_NAME_RE: Final = re.compile(r"^[A-Z$#@][A-Z0-9$#@_.]{0,9}$")


def _pg_name(ibmi_name: str) -> str:
    """The PostgreSQL identifier an IBM i name becomes in the product's SQL.

    The product writes a plain name unquoted (PostgreSQL folds it to lower case) and a name
    with a '.' as a delimited identifier (kept as is): ``ibmi_resync.sql._sql_identifier``.
    """
    if not _IBMI_NAME_RE.match(ibmi_name):
        raise ValueError(f"{ibmi_name!r} is not an IBM i name")
    name = ibmi_name if "." in ibmi_name else ibmi_name.lower()
    return '"' + name.replace('"', '""') + '"'


def save_outfile_ddl(library: str, file: str) -> str:
    """``CREATE SCHEMA``/``CREATE TABLE`` text of an outfile ``library/file`` (idempotent)."""
    schema, table = _pg_name(library), _pg_name(file)
    fields = ",\n    ".join(
        f"{field.lower()} {sql_type} NOT NULL" for field, sql_type in QASAVOBJ_FIELDS
    )
    return (
        f"CREATE SCHEMA IF NOT EXISTS {schema};\n"
        f"CREATE TABLE IF NOT EXISTS {schema}.{table} (\n    {fields}\n);"
    )


@dataclass(frozen=True)
class OutfileEntry:
    """One object line of a save's outfile: saved, or not saved with the message that says why."""

    name: str
    obj_type: str
    attribute: str
    size_bytes: int
    text: str = ""
    saved: bool = True
    message_id: str | None = None


def outfile_entries(objects: Iterable[ArchivedObject]) -> list[OutfileEntry]:
    """Entries for every object of a save's archive (all saved)."""
    return [OutfileEntry(o.name, o.obj_type, o.attribute, o.size_bytes, o.text) for o in objects]


def _cyymmddhhmmss(moment: datetime) -> str:
    century = (moment.year - 1900) // 100
    return f"{century}{moment:%y%m%d%H%M%S}"


async def write_save_outfile(
    conn: asyncpg.Connection,
    library: str,
    file: str,
    entries: Sequence[OutfileEntry],
    *,
    command: str,
    saved_library: str,
    system_name: str,
    saved_at: datetime,
    save_file: tuple[str, str] | None = None,
    target_release: str = "",
    replace: bool = True,
) -> int:
    """Write a save's OUTPUT(*OUTFILE) rows to ``library/file`` (created on first use).

    Why a table per outfile: on IBM i the outfile is an ordinary physical file that the product
    reads with ``SELECT ... FROM LIB.FILE`` (``ibmi_resync.sql.save_outfile_query``), so here it
    is an ordinary table, in a schema named after the library. One row per object (INFTYPE
    *OBJ); unused fields are blanks and zeros, as IBM's table says. ``replace`` is
    OUTMBR(*FIRST *REPLACE), else *ADD. ``saved_at`` is written in its own zone.

    :return: the number of rows written.
    """
    schema, table = _pg_name(library), _pg_name(file)
    saved = sum(1 for entry in entries if entry.saved)
    stamp = _cyymmddhhmmss(saved_at)
    savf_lib, savf_name = save_file or ("", "")
    columns = ", ".join(field.lower() for field, _ in QASAVOBJ_FIELDS)
    markers = ", ".join(f"${index}" for index in range(1, len(QASAVOBJ_FIELDS) + 1))
    rows = [
        (
            command,
            "*OBJ",
            system_name[:8],
            "",
            saved_library,
            saved,
            len(entries) - saved,
            stamp,
            entry.name,
            "",
            entry.obj_type,
            entry.attribute,
            entry.size_bytes,
            "1" if entry.saved else "0",
            entry.message_id or "",
            entry.text[:50],
            savf_name,
            savf_lib,
            target_release,
        )
        for entry in entries
    ]
    async with conn.transaction():
        await conn.execute(save_outfile_ddl(library, file))
        if replace:
            await conn.execute(f"DELETE FROM {schema}.{table}")
        await conn.executemany(f"INSERT INTO {schema}.{table} ({columns}) VALUES ({markers})", rows)
    return len(rows)

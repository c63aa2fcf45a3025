"""Every simulator behaviour that is a guess, in one place (message texts are in messages.py).

Why: issue 3 asks the closing note to list every guessed behaviour, and each one should be
checked on a real IBM i before anyone relies on it. ``python -m ibmi_sim guesses`` prints this
table together with the guessed message ids and texts of :mod:`ibmi_sim.messages`.
"""

from __future__ import annotations

from ibmi_sim.messages import guessed

BEHAVIOUR_GUESSES: tuple[tuple[str, str], ...] = (
    ("CL parser", "Positional limits per command (IBM's MAXPOS) in cl_specs.py are recalled."),
    ("CL parser", "KWD() with nothing inside counts as not specified (so a required one fails)."),
    ("CL parser", "Syntax and unknown-command errors end with CPF0001 (not CPF0006)."),
    ("CL parser", "Extended names in double quotes are refused (no command in scope uses them)."),
    ("system", "-v echoes the command on stdout first; usage error exits 1 with a usage line."),
    ("system", "Diagnostics sent by a command that then succeeds are printed on stdout."),
    ("system", "Jobs run as QP0ZSPWP, type BCI, in QUSRWRK; the SSH user is the job user."),
    ("system", "A CL job handed to the node runs to its end when the SSH session drops."),
    ("qsh", "Only `qsh -c` is simulated (usage error exits 2); no liblist or db2 builtins."),
    ("qsh", "Qshell `system` exits 1 on an escape (1 was observed, maybe from a wrapper)."),
    ("*LIBL", "*LIBL searches QSYS, QUSRSYS, QGPL; *CURLIB is QGPL."),
    ("CRTSAVF", "Completion CPC7301 (seen for CRTPF); CPF9810 for a missing library."),
    ("CLRSAVF", "Sends no completion message."),
    ("SAVLIB", "A save file in the saved library is left out silently (real: maybe CPF3771)."),
    ("SAVLIB", "Save file with data and CLEAR(*NONE): CPA4067 answered C, then CPF3794."),
    ("SAVLIB", "DEV other than *SAVF is CPF9814; several/generic libraries with *SAVF CPF3737."),
    (
        "SAVLIB/RSTLIB",
        "Duration = nominal bytes at the job's share of the node's throughput x time_scale:"
        " per job at most save_mb_per_s / restore_mb_per_s, per node node_mb_per_s for all"
        " concurrent saves and restores (max-min fair share, ibmi_sim/capacity.py).",
    ),
    ("SAV/SAVDLO", "Durations as SAVLIB/RSTLIB (nominal bytes / configured MB/s)."),
    ("save file", "Records of 528 bytes; archive layout and checksum are the simulator's own."),
    ("RSTLIB", "Damaged or truncated save file: diagnostic CPF3743, escape CPF3794."),
    ("RSTLIB", "Empty save file, or one of another library: CPF3780."),
    ("RSTLIB", "A save file written by SAVOBJ is refused by RSTLIB (CPF3780); RSTOBJ takes both."),
    ("SAVOBJ", "Completion CPC3722 as for SAVLIB; nothing selected is CPF3770."),
    ("RSTOBJ", "Completion CPC3703; missing target library CPF3781; nothing selected CPF3770."),
    ("RSTLIB", "OPTION(*NEW/*OLD) skip objects silently; MBROPT has no effect."),
    (
        "RSTLIB",
        "An existing object with another creation timestamp is not restored (CPF3756, then"
        " CPF3773) unless ALWOBJDIF(*ALL/*COMPATIBLE/*FILELVL); other attributes not compared.",
    ),
    ("CLRLIB", "Completion CPC2195 'Library &1 cleared.' (no source found)."),
    ("ENDSBS", "Time to end: endsbs_immed_s for *IMMED, endsbs_cntrld_s capped by DELAY."),
    ("ENDSBS", "Ending an ENDING subsystem is CPF1053; SBS(*ALL) is not simulated."),
    ("STRSBS", "Unknown subsystem description CPF1019; STRSBS on an ENDING one is CPF1010."),
    ("SBMJOB", "JOB(*JOBD) names the job QDFTJOBD; JOBQ defaults to QGPL/QBATCH."),
    ("SBMJOB", "A job queue is served by the subsystem of the same name; *JOBQ until active."),
    ("SBMJOB", "Batch job log ends with CPF1241 / CPF1240; finished jobs show status *OUTQ."),
    ("SFTP", "A put to /QSYS.LIB/...FILE needs CRTSAVF first (ibmi.md gap 8)."),
    ("SAVSECDTA", "Completion CPC3722 'n objects saved from library QSYS.' (one per profile)."),
    ("SAVSECDTA", "Nominal size: secdta_profile_bytes per profile + secdta_authority_bytes each."),
    ("RSTUSRPRF", "USRPRF(*ALL) is refused with CPF3785 (the sim is never in restricted state)."),
    ("RSTUSRPRF", "A name not in the save: CPF3776 each, then CPF3775 with counts."),
    (
        "RSTUSRPRF",
        "Existing profile: user class, special authorities and text from the save; group and"
        " status kept. New profile: no group. CPC3705/CPF3775 are also written to QHST.",
    ),
    (
        "RSTAUT",
        "CPC3706 per fully restored profile; CPF3845 per profile with failed grants; escape"
        " CPF3846 at the end (texts of CPF3845/CPF3846 from IBM's job-log sample, ids guessed).",
    ),
    ("RSTAUT", "Unknown profile: CPF2204 diagnostic; profile without a table: 0 restored."),
    ("RSTAUT", "Duration rstaut_per_profile_s + rstaut_per_authority_s per grant; one job."),
    ("SAV/RST", "DEV must be a /QSYS.LIB/...FILE path (else CPF9814); nothing selected CPFA0A9."),
    ("SAV/RST", "Completions CPC370C 'n objects saved.' / CPC370F 'n objects restored.'."),
    ("SAV/RST", "SUBTREE(*OBJ/*STG) act as *ALL; PATTERN and CHGPERIOD are ignored."),
    (
        "RST",
        "Existing objects are always replaced (ALWOBJDIF covers owner/group/authl only for RST);"
        " OPTION(*NEW/*OLD) skip silently; missing parent directories are created (QSYS owner).",
    ),
    ("SAVDLO/RSTDLO", "Only DLO(*ALL) with FLR/SAVFLR folders (SIM0001 otherwise)."),
    ("SAVDLO/RSTDLO", "Missing folder CPF8A16; folder not in the save: CPF909B with counts."),
    (
        "restore kinds",
        "RST/RSTDLO/RSTUSRPRF of an empty save file or one of another save command: CPF3806;"
        " RSTLIB of such a file: CPF3780 (as for another library).",
    ),
    (
        "app jobs",
        "Type BCH, command CALL PGM(NAME), start with STRSBS at once, end *NORMAL when the"
        " subsystem reaches INACTIVE; one *SHRUPD lock per physical file, no member locks.",
    ),
    (
        "partial save",
        "SAVACT(*NO): *SHRUPD/*EXCLRD/*EXCL held by another job stop an object's save;"
        " with save-while-active only *EXCL does. CPF3761 per object, then CPF3771.",
    ),
    ("seed", "Object type mix and size distribution of generated libraries."),
    # --- Rocket iCluster (ibmi_sim/icluster.py, commands/icluster.py; icluster.md §12 gaps) ---
    ("iCluster", "Product library ICLUSTER; commands found only there (not on *LIBL): CPD0030."),
    ("iCluster", "Keywords beyond those icluster.md names (see cl_specs.ICLUSTER_SPECS)."),
    ("iCluster", "Every message id and text (SIM1xxx, synthetic; set by the site profile)."),
    ("iCluster", "ICSIM views (LOCAL_NODE, EVENT_LOG, GROUP_STATUS, NODE_STATUS, GROUP_LATENCY)."),
    ("iCluster", "Status literals *ACTIVE/*INACTIVE/*STARTING/*ENDING for groups and nodes."),
    ("iCluster", "Group commands act on the PRIMARY's group state wherever they run."),
    ("iCluster", "The product library and XDMCLUSTER exist on every node, even if not configured."),
    ("iCluster", "A node whose XDMCLUSTER ends becomes *INACTIVE until DMSTRNODE/DMSTRCST."),
    (
        "DMSTRCST",
        "Starts XDMCLUSTER here, waits node_start_s, starts PRIMARY (metadata owner), this node"
        " and the other; a node without XDMCLUSTER is skipped (diagnostic SIM1303).",
    ),
    ("DMSTRNODE", "Returns at once; *ACTIVE after node_start_s; needs that node's XDMCLUSTER."),
    ("DMENDGRP", "*ENDING, then *INACTIVE after group_end_s; *CNTRLD drains apply up to DELAY."),
    (
        "DMMRKPOS",
        "Refused (SIM1006) unless the group is *INACTIVE; returns at once; SIM1001 after"
        " mark_base_s + objects, data and locks held by active jobs; the position is the"
        " journal end when it completes; receiver name = group(6)+R+nnn.",
    ),
    (
        "DMSTRGRP",
        "*STARTING, *ACTIVE after group_start_s, SIM1101. Without USEMARKED(*YES) the group"
        " starts at the current end of the journal (entries since its end are never applied);"
        " STRAPY(*NO) sends without applying.",
    ),
    (
        "DMSTRGRP REFRESH",
        "Keyword REFRESH(*YES) (icluster.md §3.1 [I/G]). Only on an *INACTIVE group (else"
        " SIM1015); not with USEMARKED(*YES) (SIM1016); returns at once (SIM1107). The group's"
        " libraries, IFS paths, DLO folders and private authorities are read on PRIMARY with the"
        " journal end in one snapshot and written to BACKUP in refresh_batches steps over"
        " refresh_base_s + refresh_per_object_s per object + data / refresh_mb_per_s; objects in"
        " scope only on BACKUP are deleted; save files are not copied; then SIM1108, *ACTIVE"
        " (SIM1101) and the apply replays the entries journaled since the snapshot.",
    ),
    (
        "DMSTRSC",
        "Returns at once; SIM1201 after sync_check_base_s + per object. *OBJATTR compares"
        " presence, attribute, size, owner and private authorities of the group's libraries"
        " (not IFS/DLO) and, with objattr_reports_obsolete, objects only on BACKUP (icluster.md"
        " says only *CHKOBSLETE/*FULL do); *CHECKSUM/*CHKSUM compare *FILE data; objects with"
        " unapplied entries of an active group are in transit, not counted.",
    ),
    (
        "DMSTRSC",
        "REPAIR(*AUTH) copies private authorities (repaired, not counted); *CBU/*CRD/*JRN"
        " accepted, no effect; ACTOOS(*YES) copies PRIMARY's object to BACKUP.",
    ),
    (
        "STRCNSC",
        "Only holds the group's sync-check slot (CONTINUOUS_SYNC_CHECK Y); checks nothing.",
    ),
    (
        "ENDHASC",
        "Ends a continuous or running sync check (SIM1202 'ended by ENDHASC'); none: SIM1204.",
    ),
    (
        "replication",
        "Journal per group on PRIMARY; workload on PRIMARY while a subsystem with application"
        " jobs (or replication.app_subsystems) is active: 70% inserts (size + n x 512 bytes),"
        " 30% updates, on *FILE PF of the groups' libraries its jobs lock (all if none).",
    ),
    (
        "replication",
        "Apply replays each entry on BACKUP's current object (size += delta, hash chained), so"
        " lost or doubled entries stay visible; entries for missing objects are skipped.",
    ),
    (
        "replication",
        "Latency in real seconds: source = age of the oldest unsent entry, apply = age of the"
        " oldest sent but unapplied one; rates nominal (send 200/s, apply 20/s per group).",
    ),
    # --- Fault injection (ibmi_sim/faults.py, issue 3 item 10): how each failure looks -------
    (
        "fault lock_on_save",
        "A job SIMLOCKER (user APPUSER, type BCH) holds *EXCL locks on the first N objects of"
        " the save (not save files); partial save CPF3761 each, CPF3771; the locks and the job"
        " stay 5 s after the save (OBJECT_LOCK_INFO names them), then the job ends *NORMAL.",
    ),
    (
        "fault restore_fails",
        "The next restore (RSTLIB or RSTOBJ) into the library refuses its first N objects as"
        " a creation-date mismatch does: CPF3756 each, CPF3773 with counts.",
    ),
    ("fault corrupt_transfer", "The SFTP write of LIB/NAME gets its middle byte inverted."),
    ("fault unreachable", "SSH and SQL ports closed for N s (connection refused), then reopened."),
    (
        "fault drop_ssh",
        "The exec channel closes with no output and no exit status 0.5 s after the command"
        " started (or when it ends); the command and its CL job run to their end.",
    ),
    (
        "fault answer_late",
        "The command and its CL job run; the exit status is held `seconds` (real); a client"
        " that goes away meanwhile gets none (what a worker killed mid-call leaves behind).",
    ),
    ("fault restore_slow", "The restore (RSTLIB/RSTOBJ/RST/RSTDLO) takes `seconds` longer."),
    ("fault mark_slow", "SIM1001 comes `seconds` (real) later than the mark's own duration."),
    ("fault mark_fails", "SIM1002 'journal receiver not available'; no position recorded."),
    (
        "fault latency_stuck",
        "GROUP_LATENCY shows at least `seconds` (default 900) of source and apply latency and"
        " max(count, 1000) backlog entries; replication itself goes on.",
    ),
    ("fault apply_frozen", "Apply stops (LAST_APPLIED_SEQUENCE fixed); sending goes on."),
    ("fault event_missing", "The group's next completion event (SIM1001/1101/1102/1201) is lost."),
    (
        "fault out_of_storage",
        "RSTLIB, RSTOBJ, RST, RSTDLO, RSTUSRPRF, RSTAUT and CRTSAVF end with CPF3793 (id from"
        " the SAVLIB/RSTLIB lists; for CRTSAVF a guess); SYSTEM_ASP_USED shows 99.5 %.",
    ),
    (
        "fault password_expired",
        "Password and key sign-on both fail; the auth banner says SIM2001 naming the profile"
        " (real IBM i: probably CPF22E4, not in ibmi.md). SQL sign-on is not affected.",
    ),
    ("fault role_mismatch", "ICSIM.LOCAL_NODE.ROLE is the other role; nothing else changes."),
)


def report() -> str:
    """Human-readable list of every guess (behaviours, then message ids and texts)."""
    lines = ["Guessed behaviours:"]
    lines += [f"  [{area}] {text}" for area, text in BEHAVIOUR_GUESSES]
    lines.append("Guessed message ids or texts (ibmi_sim/messages.py):")
    lines += [f"  {m.msg_id} ({m.label}): {m.text}" for m in guessed()]
    from ibmi_sim.faults import FAULT_MESSAGES  # registered by the fault module

    lines += [f"  {m.msg_id} ({m.label}, fault): {m.text}" for m in FAULT_MESSAGES]
    return "\n".join(lines)

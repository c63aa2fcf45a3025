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
    ("SAVLIB/RSTLIB", "Duration = nominal bytes / configured MB/s x time_scale (no sharing yet)."),
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
)


def report() -> str:
    """Human-readable list of every guess (behaviours, then message ids and texts)."""
    lines = ["Guessed behaviours:"]
    lines += [f"  [{area}] {text}" for area, text in BEHAVIOUR_GUESSES]
    lines.append("Guessed message ids or texts (ibmi_sim/messages.py):")
    lines += [f"  {m.msg_id} ({m.label}): {m.text}" for m in guessed()]
    return "\n".join(lines)

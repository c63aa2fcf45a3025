"""Typed builders for the IBM i CL commands of the resync runbook.

Each builder takes validated values (names.py) and IBM i special values typed as `Literal`,
and returns a `ClCommand` whose `render()` is deterministic: same inputs, same text, so the
dry-run plan, the golden file and a real run agree. Commands are library-qualified
(`QSYS/SAVLIB`), as IBM's own Ansible modules build them (style.md §2), so a user library that
happens to hold a command of the same name cannot intercept one.

Parameter choices follow ibmi.md §5-§7; where the reference marks a default or value as a
guess [G], the builder writes the value explicitly instead of relying on the default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ibmi_resync.names import (
    SYSTEM_LIBRARY_RULE,
    DloFolder,
    IbmiInputError,
    IfsPath,
    Name,
    QualifiedName,
    is_system_library,
    unique_names,
)
from ibmi_resync.quoting import check_cl_shape, cl_string

__all__ = [
    "ClCommand",
    "build_chkobj_command",
    "build_clrlib_command",
    "build_clrsavf_command",
    "build_crtlib_command",
    "build_crtsavf_command",
    "build_dltf_command",
    "build_endsbs_command",
    "build_rst_command",
    "build_rstaut_command",
    "build_rstdlo_command",
    "build_rstlib_command",
    "build_rstusrprf_command",
    "build_sav_command",
    "build_savdlo_command",
    "build_savlib_command",
    "build_savsecdta_command",
    "build_sbmjob_command",
    "build_strsbs_command",
]

EndOption = Literal["*CNTRLD", "*IMMED"]
SaveActive = Literal["*NO", "*LIB", "*SYNCLIB", "*SYSDFN"]
Compression = Literal["*DEV", "*NO", "*YES", "*LOW", "*MEDIUM", "*HIGH"]
RestoreOption = Literal["*ALL", "*NEW", "*OLD", "*FREE"]
MemberOption = Literal["*MATCH", "*ALL", "*NEW", "*OLD"]
ObjectDifferences = Literal["*NONE", "*ALL", "*COMPATIBLE", "*AUTL", "*FILELVL", "*OWNER", "*PGP"]

_RELEASE_RE = re.compile(r"V[0-9]R[0-9]M[0-9]")
_MAX_DELAY = 99999  # ENDSBS DELAY above this means *NOLIMIT (ibmi.md §7.1, Ansible mapping).


@dataclass(frozen=True)
class ClCommand:
    """One CL command: `LIBRARY/COMMAND KWD(value) ...`, parameters in the order given."""

    command: str
    parameters: tuple[tuple[str, str], ...] = ()
    library: str | None = "QSYS"
    changes_node: bool = True

    def render(self) -> str:
        head = f"{self.library}/{self.command}" if self.library else self.command
        text = " ".join([head, *(f"{keyword}({value})" for keyword, value in self.parameters)])
        return check_cl_shape(text)

    def __str__(self) -> str:
        return self.render()


def _special(value: str, allowed: Iterable[str], *, field: str) -> str:
    if value not in allowed:
        raise IbmiInputError(field, value, f"one of {', '.join(allowed)}")
    return value


def _sequence(values: Sequence[object], *, field: str) -> Sequence[object]:
    """A list of values; a bare string would otherwise be iterated character by character."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise IbmiInputError(field, values, "a list, not a single value")
    if not values:
        raise IbmiInputError(field, values, "at least one value is required")
    return values


def _names(values: Sequence[object], *, field: str) -> str:
    return " ".join(unique_names(_sequence(values, field=field), field=field))


def _qualified(value: QualifiedName, *, field: str = "save_file") -> QualifiedName:
    if not isinstance(value, QualifiedName):
        raise IbmiInputError(field, value, "a QualifiedName LIBRARY/OBJECT")
    return value


def _user_library(library: object, *, field: str) -> Name:
    name = Name(library, field=field)
    if is_system_library(name):
        raise IbmiInputError(
            field, library, f"IBM-supplied libraries ({SYSTEM_LIBRARY_RULE}) are refused"
        )
    return name


# ---- subsystems (ibmi.md §7.1) ------------------------------------------------------------


def build_endsbs_command(
    subsystem: object, *, option: EndOption = "*CNTRLD", delay_seconds: int | None = None
) -> ClCommand:
    """ENDSBS for one subsystem; `*ALL` is impossible by construction (not a *NAME).

    ENDSBS is asynchronous: it answers CPF0943 and the caller polls SUBSYSTEM_INFO.
    DELAY applies to *CNTRLD only; None means *NOLIMIT.
    """
    _special(option, ("*CNTRLD", "*IMMED"), field="option")
    parameters = [("SBS", Name(subsystem, field="subsystem")), ("OPTION", option)]
    if option == "*CNTRLD":
        if delay_seconds is None:
            parameters.append(("DELAY", "*NOLIMIT"))
        elif not isinstance(delay_seconds, int) or isinstance(delay_seconds, bool):
            raise IbmiInputError("delay_seconds", delay_seconds, "a whole number of seconds")
        elif delay_seconds < 0:
            raise IbmiInputError("delay_seconds", delay_seconds, "at least 0 seconds")
        elif delay_seconds > _MAX_DELAY:
            parameters.append(("DELAY", "*NOLIMIT"))
        else:
            parameters.append(("DELAY", str(delay_seconds)))
    elif delay_seconds is not None:
        raise IbmiInputError("delay_seconds", delay_seconds, "DELAY is only valid with *CNTRLD")
    return ClCommand("ENDSBS", tuple(parameters))


def build_strsbs_command(subsystem: object, *, library: object) -> ClCommand:
    """STRSBS SBSD(LIB/SBS); CPF1010 means it is already active (ibmi.md §7.1)."""
    description = QualifiedName(library, subsystem, field="subsystem_description")
    return ClCommand("STRSBS", (("SBSD", str(description)),))


# ---- objects and libraries ---------------------------------------------------------------


def build_chkobj_command(library: object, name: object, *, object_type: str) -> ClCommand:
    """CHKOBJ: a read-only probe that an object exists (used to prove SSH reaches the node)."""
    if not isinstance(object_type, str) or not re.fullmatch(r"\*[A-Z][A-Z0-9]{1,7}", object_type):
        raise IbmiInputError("object_type", object_type, "an object type such as *LIB")
    return ClCommand(
        "CHKOBJ",
        (("OBJ", str(QualifiedName(library, name, field="object"))), ("OBJTYPE", object_type)),
        changes_node=False,
    )


def build_crtlib_command(library: object, *, text: str | None = None) -> ClCommand:
    """CRTLIB for the save-file library when a node does not have it yet (CPF2111 if it does)."""
    parameters = [("LIB", _user_library(library, field="library"))]
    if text is not None:
        parameters.append(("TEXT", cl_string(text, field="text", max_length=50)))
    return ClCommand("CRTLIB", tuple(parameters))


# ---- save files (ibmi.md §5.1) ------------------------------------------------------------


def build_crtsavf_command(save_file: QualifiedName, *, text: str | None = None) -> ClCommand:
    """CRTSAVF; CPF5813 + CPF7302 when the file exists, which the caller treats as done."""
    parameters = [("FILE", str(_qualified(save_file)))]
    if text is not None:
        parameters.append(("TEXT", cl_string(text, field="text", max_length=50)))
    return ClCommand("CRTSAVF", tuple(parameters))


def build_clrsavf_command(save_file: QualifiedName) -> ClCommand:
    """CLRSAVF: empty a save file before it is reused (a save never appends)."""
    return ClCommand("CLRSAVF", (("FILE", str(_qualified(save_file))),))


def build_dltf_command(save_file: QualifiedName) -> ClCommand:
    """DLTF of a save file, for the clean-up of the save-file library after a verified run."""
    return ClCommand("DLTF", (("FILE", str(_qualified(save_file))),))


# ---- saves (ibmi.md §5.1, §5.6) ----------------------------------------------------------


def build_savlib_command(
    library: object,
    save_file: QualifiedName,
    *,
    target_release: str = "*CURRENT",
    save_active: SaveActive = "*NO",
    compression: Compression = "*NO",
    outfile: QualifiedName | None = None,
) -> ClCommand:
    """SAVLIB of one library into one save file (a save file holds one library, ibmi.md §5.1).

    SAVACT(*NO) by default: the runbook saves with the applications ended, and a
    save-while-active image would not match the marked position. UPDHST(*YES) so the save
    history shows the resync. With an outfile, OUTPUT(*OUTFILE) records every object saved or
    not saved (model QASAVOBJ, ibmi.md §5.5), which the verification reads as a plain table.
    """
    saved = Name(library, field="library")
    savf = _qualified(save_file)
    _special(save_active, ("*NO", "*LIB", "*SYNCLIB", "*SYSDFN"), field="save_active")
    _special(compression, ("*DEV", "*NO", "*YES", "*LOW", "*MEDIUM", "*HIGH"), field="compression")
    parameters = [
        ("LIB", saved),
        ("DEV", "*SAVF"),
        ("SAVF", str(savf)),
        ("TGTRLS", _target_release(target_release)),
        ("UPDHST", "*YES"),
        ("SAVACT", save_active),
        ("DTACPR", compression),
    ]
    # ibmi.md §5.1, §5.5: a save file or outfile inside the saved library must be omitted
    # (the outfile would otherwise be reported as not saved, CPF379A).
    omitted = [f"({savf} *FILE)"] if savf.library == saved else []
    if (
        outfile is not None
        and _qualified(outfile, field="outfile").library == saved
        and outfile != savf
    ):
        omitted.append(f"({outfile} *FILE)")
    if omitted:
        parameters.append(("OMITOBJ", " ".join(omitted)))
    if outfile is not None:
        parameters += [
            ("OUTPUT", "*OUTFILE"),
            ("OUTFILE", str(_qualified(outfile, field="outfile"))),
            ("OUTMBR", "*FIRST *REPLACE"),
        ]
    return ClCommand("SAVLIB", tuple(parameters))


def _target_release(value: str) -> str:
    if value in ("*CURRENT", "*PRV"):
        return value
    if isinstance(value, str) and _RELEASE_RE.fullmatch(value):
        return value
    raise IbmiInputError("target_release", value, "*CURRENT, *PRV or VxRyMz")


def build_savsecdta_command(save_file: QualifiedName) -> ClCommand:
    """SAVSECDTA: user profiles, authorization lists and private authorities (ibmi.md §5.1)."""
    return ClCommand("SAVSECDTA", (("DEV", "*SAVF"), ("SAVF", str(_qualified(save_file)))))


def _ifs_objects(paths: Sequence[object]) -> str:
    paths = _sequence(paths, field="ifs_paths")
    items = []
    for index, path in enumerate(paths):
        literal = cl_string(IfsPath(path, field=f"ifs_paths[{index}]"), field="ifs_paths")
        items.append(f"({literal} *INCLUDE)")
    return " ".join(items)


def build_sav_command(save_file: QualifiedName, paths: Sequence[object]) -> ClCommand:
    """SAV of IFS paths into a save file addressed by its IFS path (ibmi.md §5.1)."""
    device = cl_string(_qualified(save_file).save_file_path(), field="save_file")
    return ClCommand(
        "SAV",
        (("DEV", device), ("OBJ", _ifs_objects(paths)), ("SUBTREE", "*ALL"), ("SAVACT", "*NO")),
    )


def build_savdlo_command(save_file: QualifiedName, folders: Sequence[object]) -> ClCommand:
    """SAVDLO of whole folders; completion CPC9063 for a save file (ibmi.md §5.1)."""
    return ClCommand(
        "SAVDLO",
        (
            ("DLO", "*ALL"),
            ("FLR", _folders(folders)),
            ("DEV", "*SAVF"),
            ("SAVF", str(_qualified(save_file))),
        ),
    )


def _folders(folders: Sequence[object]) -> str:
    folders = _sequence(folders, field="dlo_folders")
    return " ".join(
        cl_string(DloFolder(folder, field=f"dlo_folders[{index}]"), field="dlo_folders")
        for index, folder in enumerate(folders)
    )


# ---- restores (ibmi.md §5.1, §5.2) -------------------------------------------------------


def build_rstusrprf_command(save_file: QualifiedName, profiles: Sequence[object]) -> ClCommand:
    """RSTUSRPRF of named profiles only.

    USRPRF(*ALL) needs restricted state, which would end the SSH and database server jobs
    that drive the resync (ibmi.md §5.1, RSTUSRPRF), so the builder cannot express it.
    """
    return ClCommand(
        "RSTUSRPRF",
        (
            ("DEV", "*SAVF"),
            ("SAVF", str(_qualified(save_file))),
            ("USRPRF", _names(profiles, field="user_profiles")),
        ),
    )


def build_rstlib_command(
    library: object,
    save_file: QualifiedName,
    *,
    option: RestoreOption = "*ALL",
    member_option: MemberOption = "*ALL",
    object_differences: ObjectDifferences = "*ALL",
) -> ClCommand:
    """RSTLIB of one library from its save file onto the BACKUP.

    MBROPT(*ALL) ALWOBJDIF(*ALL) RSTLIB(*SAVLIB) is the public cross-system restore form
    (ibmi.md §5.1); the defaults of both are guesses [G], so they are always written out.
    """
    restored = _user_library(library, field="library")
    _special(option, ("*ALL", "*NEW", "*OLD", "*FREE"), field="option")
    _special(member_option, ("*MATCH", "*ALL", "*NEW", "*OLD"), field="member_option")
    _special(
        object_differences,
        ("*NONE", "*ALL", "*COMPATIBLE", "*AUTL", "*FILELVL", "*OWNER", "*PGP"),
        field="object_differences",
    )
    return ClCommand(
        "RSTLIB",
        (
            ("SAVLIB", restored),
            ("DEV", "*SAVF"),
            ("SAVF", str(_qualified(save_file))),
            ("OPTION", option),
            ("MBROPT", member_option),
            ("ALWOBJDIF", object_differences),
            ("RSTLIB", "*SAVLIB"),
        ),
    )


def build_rst_command(save_file: QualifiedName, paths: Sequence[object]) -> ClCommand:
    """RST of IFS paths from a save file, to the same paths (ibmi.md §5.1)."""
    device = cl_string(_qualified(save_file).save_file_path(), field="save_file")
    return ClCommand(
        "RST",
        (
            ("DEV", device),
            ("OBJ", _ifs_objects(paths)),
            ("SUBTREE", "*ALL"),
            ("OPTION", "*ALL"),
            ("ALWOBJDIF", "*ALL"),
        ),
    )


def build_rstdlo_command(save_file: QualifiedName, folders: Sequence[object]) -> ClCommand:
    """RSTDLO of the saved folders; CPC9053 on success, CPF909B when some were not restored."""
    return ClCommand(
        "RSTDLO",
        (
            ("DLO", "*ALL"),
            ("SAVFLR", _folders(folders)),
            ("DEV", "*SAVF"),
            ("SAVF", str(_qualified(save_file))),
        ),
    )


def build_rstaut_command(profiles: Sequence[object] | Literal["*ALL"] = "*ALL") -> ClCommand:
    """RSTAUT, always last: it needs the profiles and the objects in place (ibmi.md §5.2)."""
    value = "*ALL" if profiles == "*ALL" else _names(profiles, field="user_profiles")  # type: ignore[arg-type]
    return ClCommand("RSTAUT", (("USRPRF", value),))


def build_clrlib_command(library: object) -> ClCommand:
    """CLRLIB on the BACKUP before its restore (runbook step 5): never an IBM library."""
    return ClCommand("CLRLIB", (("LIB", _user_library(library, field="library")),))


# ---- batch jobs (ibmi.md §7.1) -----------------------------------------------------------


def build_sbmjob_command(
    command: ClCommand,
    *,
    job: object,
    job_queue: QualifiedName | None = None,
) -> ClCommand:
    """SBMJOB of one command as a named batch job, so long IBM i work runs without a session.

    The job name is deterministic (derived from run and subject by the caller), which lets a
    retried task find the job an earlier attempt submitted. LOG(4 00 *SECLVL) keeps a full
    job log for verification; CPC1221 answers with the qualified job name.
    """
    if not isinstance(command, ClCommand):
        raise IbmiInputError("command", command, "a ClCommand")
    parameters = [("CMD", command.render()), ("JOB", Name(job, field="job"))]
    if job_queue is not None:
        parameters.append(("JOBQ", str(_qualified(job_queue, field="job_queue"))))
    parameters += [("LOG", "4 00 *SECLVL"), ("LOGCLPGM", "*YES")]
    return ClCommand("SBMJOB", tuple(parameters), changes_node=command.changes_node)

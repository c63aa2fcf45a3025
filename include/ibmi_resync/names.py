"""IBM i names, IFS paths and DLO folders: validated once, at the boundary.

Everything a user writes in a plan file or a trigger form ends up inside a CL command that is
itself inside a shell command line. A value that is not a valid IBM i name could change the
shape of either, so nothing reaches a command builder without passing through this module.
We accept only the unquoted *NAME form: it covers every name an administrator types on a
command line, and refusing quoted names ("A B") removes a whole class of quoting problems.

Rules (IBM i CL reference, "Naming within commands", table *NAME): first character A-Z, $, #
or @; the others A-Z, 0-9, $, #, @, _ or period; the system folds lower case to upper case;
a simple object name has at most 10 characters ("Object naming rules").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "IFS_PATH_MAX",
    "NAME_MAX",
    "SYSTEM_LIBRARY_RULE",
    "DloFolder",
    "IbmiInputError",
    "IfsPath",
    "Name",
    "QualifiedJobName",
    "QualifiedName",
    "is_system_library",
    "require_printable",
    "unique_names",
]

NAME_MAX = 10
IFS_PATH_MAX = 1024  # [I] far below the IFS limit (16 MB path); a longer path is a typo.

_NAME_RE = re.compile(r"[A-Z$#@][A-Z0-9$#@_.]{0,9}")
_JOB_NUMBER_RE = re.compile(r"[0-9]{6}")
# QDLS folder names follow the PC 8.3 form [I]; we accept that form and nothing looser.
_DLO_SEGMENT_RE = re.compile(r"[A-Z0-9$#@_][A-Z0-9$#@_-]{0,7}(\.[A-Z0-9$#@_-]{1,3})?")

# IBM-supplied libraries that do not start with Q or # (ibmi.md §8 names them as SQL schemas).
_IBM_LIBRARIES_NOT_Q = frozenset({"SYSIBM", "SYSIBMADM", "SYSPROC", "SYSTOOLS"})
SYSTEM_LIBRARY_RULE = "Q*, #*, " + ", ".join(sorted(_IBM_LIBRARIES_NOT_Q))


# The ASCII characters of Unicode category Cc: what require_printable refuses in ASCII text.
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class IbmiInputError(ValueError):
    """A value refused before it could reach IBM i: names the field, the value and the rule."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}: {value!r} is not valid: {rule}")


def require_printable(field: str, value: object) -> str:
    """Refuse non-strings, control characters and surrogates before any other rule runs."""
    if not isinstance(value, str):
        raise IbmiInputError(field, value, "must be a string")
    # ASCII text (every CL command the builders render) needs one regex scan; every step of
    # every task start passes here (a 200-group program is 40,000 steps).
    if value.isascii():
        unprintable = _ASCII_CONTROL.search(value) is not None
    else:
        unprintable = any(
            unicodedata.category(char).startswith("C") or char in "\u2028\u2029" for char in value
        )
    if unprintable:
        raise IbmiInputError(field, value, "control and unassigned characters are not allowed")
    return value


def _ascii(field: str, value: object) -> str:
    """Refuse non-ASCII before upper-casing: Python folds 'ß' to 'SS' and 'ı' to 'I', which
    would turn a name nobody typed into a valid one."""
    text = require_printable(field, value)
    if not text.isascii():
        raise IbmiInputError(field, value, "IBM i names use A-Z, 0-9 and $ # @ _ . only")
    return text


class Name(str):
    """A simple IBM i object name (*NAME, unquoted, 1-10 characters), upper-cased.

    Constructing one is the only validation a builder needs: `Name("applib", field="LIB")`
    gives `"APPLIB"` or raises IbmiInputError naming the field.
    """

    __slots__ = ()

    def __new__(cls, value: object, *, field: str = "name") -> Name:
        if isinstance(value, Name):
            return value
        text = _ascii(field, value).strip().upper()
        if not text:
            raise IbmiInputError(field, value, "must not be empty")
        if len(text) > NAME_MAX:
            raise IbmiInputError(field, value, f"at most {NAME_MAX} characters")
        if text.startswith("*"):
            raise IbmiInputError(
                field, value, "special values (*ALL, *LIBL, ...) are not allowed here"
            )
        if not _NAME_RE.fullmatch(text):
            raise IbmiInputError(
                field,
                value,
                "IBM i names start with A-Z, $, # or @ and continue with A-Z, 0-9, $, #, @, _ or .",
            )
        return super().__new__(cls, text)


def is_system_library(library: str) -> bool:
    """True for IBM-supplied libraries, which a resync must never clear or restore over.

    All IBM-supplied object names except commands begin with Q (CL reference, "Object naming
    rules"); #-prefixed libraries hold IBM licensed programs (#LIBRARY, #COBLIB) [I].
    """
    upper = library.upper()
    return upper.startswith(("Q", "#")) or upper in _IBM_LIBRARIES_NOT_Q


class QualifiedName:
    """`LIBRARY/OBJECT`, both parts validated; used for save files, job queues and outfiles."""

    __slots__ = ("library", "name")

    def __init__(self, library: object, name: object, *, field: str = "name") -> None:
        self.library = Name(library, field=f"{field}.library")
        self.name = Name(name, field=f"{field}.name")

    def __str__(self) -> str:
        return f"{self.library}/{self.name}"

    def __repr__(self) -> str:
        return f"QualifiedName({self.library!r}, {self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QualifiedName) and (self.library, self.name) == (
            other.library,
            other.name,
        )

    def __hash__(self) -> int:
        return hash((self.library, self.name))

    def save_file_path(self) -> str:
        """The IFS path of a save file: `/QSYS.LIB/LIB.LIB/NAME.FILE` (ibmi.md §6)."""
        return f"/QSYS.LIB/{self.library}.LIB/{self.name}.FILE"


class QualifiedJobName:
    """`nnnnnn/USER/NAME`, as CPC1221 prints it and JOBLOG_INFO expects it (ibmi.md §7.1)."""

    __slots__ = ("name", "number", "user")

    def __init__(self, number: str, user: object, name: object, *, field: str = "job") -> None:
        if not isinstance(number, str) or not _JOB_NUMBER_RE.fullmatch(number):
            raise IbmiInputError(f"{field}.number", number, "a job number has six digits")
        self.number = number
        self.user = Name(user, field=f"{field}.user")
        self.name = Name(name, field=f"{field}.name")

    @classmethod
    def parse(cls, text: object, *, field: str = "job") -> QualifiedJobName:
        value = require_printable(field, text).strip().upper()
        parts = value.split("/")
        if len(parts) != 3:
            raise IbmiInputError(field, text, "a qualified job name is nnnnnn/USER/NAME")
        return cls(parts[0], parts[1], parts[2], field=field)

    def __str__(self) -> str:
        return f"{self.number}/{self.user}/{self.name}"

    def __repr__(self) -> str:
        return f"QualifiedJobName({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QualifiedJobName) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class IfsPath(str):
    """An absolute IFS path outside the library file system, normalised.

    A path travels inside a CL string literal, where quoting makes any printable character
    safe; the rules here are about meaning: absolute, no `.`/`..` segments (a path that climbs
    out of what the plan names is refused, not resolved), no `/QSYS.LIB` (libraries are saved
    with SAVLIB, not SAV), no `/QDLS` (folders are saved with SAVDLO), no `*` or `?` (SAV and
    RST would read them as a name pattern).
    """

    __slots__ = ()

    def __new__(cls, value: object, *, field: str = "ifs_path") -> IfsPath:
        if isinstance(value, IfsPath):
            return value
        text = require_printable(field, value).strip()
        if not text.startswith("/"):
            raise IbmiInputError(field, value, "an IFS path must be absolute (start with /)")
        if len(text) > IFS_PATH_MAX:
            raise IbmiInputError(field, value, f"at most {IFS_PATH_MAX} characters")
        segments = [segment for segment in text.split("/") if segment]
        if not segments:
            raise IbmiInputError(field, value, "the root directory / cannot be resynchronised")
        if any(segment in {".", ".."} for segment in segments):
            raise IbmiInputError(field, value, "'.' and '..' segments are not allowed")
        if any(segment != segment.strip() for segment in segments):
            raise IbmiInputError(field, value, "segments must not start or end with blanks")
        if "*" in text or "?" in text:
            # SAV and RST read * and ? as a name pattern: '/*' would save the whole IFS,
            # /QSYS.LIB included, and restore it over the BACKUP's.
            raise IbmiInputError(
                field, value, "pattern characters * and ? are not allowed: name the paths"
            )
        if segments[0].upper() in {"QSYS.LIB", "QDLS"}:
            raise IbmiInputError(
                field, value, "libraries and folders are saved by SAVLIB/SAVDLO, not as IFS paths"
            )
        return super().__new__(cls, "/" + "/".join(segments))


class DloFolder(str):
    """A QDLS folder path (`FLR1/SUB`), each segment in 8.3 form, upper-cased."""

    __slots__ = ()

    def __new__(cls, value: object, *, field: str = "dlo_folder") -> DloFolder:
        if isinstance(value, DloFolder):
            return value
        text = _ascii(field, value).strip().upper().strip("/")
        segments = text.split("/") if text else []
        if not segments or len(text) > 63:
            raise IbmiInputError(field, value, "a folder path has 1-63 characters")
        for segment in segments:
            if not _DLO_SEGMENT_RE.fullmatch(segment):
                raise IbmiInputError(
                    field, value, "folder names are 1-8 characters with an optional .ext of 1-3"
                )
        return super().__new__(cls, "/".join(segments))


def unique_names(values: Iterable[object], *, field: str) -> tuple[Name, ...]:
    """Validate a list of names and refuse duplicates, naming the position of the first one."""
    if isinstance(values, str):
        raise IbmiInputError(field, values, "a list of names, not a single string")
    seen: dict[Name, int] = {}
    result: list[Name] = []
    for index, value in enumerate(values):
        name = Name(value, field=f"{field}[{index}]")
        if name in seen:
            raise IbmiInputError(f"{field}[{index}]", value, f"duplicate of {field}[{seen[name]}]")
        seen[name] = index
        result.append(name)
    return tuple(result)

"""Definitions of the CL commands the simulator accepts: keywords, required ones, value shapes.

Why: IBM i refuses an unknown keyword, a missing required parameter or too many positional
values before the command runs (diagnostic, then CPF0001; ibmi.md §5.4). The simulator must
refuse the same strings, so every supported command lists its keywords here. Keyword lists come
from ibmi.md §5.1 (SAVLIB/RSTLIB from the asup CPP stubs), §7.1 (ENDSBS/STRSBS/SBMJOB).

[G] The positional limits (how many leading parameters may be given without keyword, IBM's
MAXPOS) are recalled, not checked; they are the ``positional`` tuples below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ibmi_sim.cl_parser import (
    CLCommand,
    CLParseError,
    CommandSpecLike,
    CommandString,
    Element,
    Parameter,
    Qualified,
    QuotedString,
    Word,
    WordKind,
    element_text,
)


@dataclass(frozen=True)
class P:
    """One parameter definition.

    kind: NAME (name or special), QUAL (optionally qualified name), JOB (job name, optionally
    nnnnnn/USER/NAME), INT (integer or special), STR (string or single word), ANY (no shape
    check, e.g. element lists), CMD (a command string).
    """

    kind: str = "ANY"
    required: bool = False
    max_values: int = 1
    specials: frozenset[str] | None = None  # None: any special value passes the shape check
    generic: bool = False


def _s(*values: str) -> frozenset[str]:
    return frozenset(values)


@dataclass(frozen=True)
class Spec(CommandSpecLike):
    """A command definition: its parameters and positional order."""

    name: str
    params: dict[str, P]
    positional: tuple[str, ...] = field(default_factory=tuple)
    library: str = "QSYS"  # where the command object lives (ICLUSTER for the product's)

    def kind_of(self, keyword: str) -> str | None:
        param = self.params.get(keyword)
        return param.kind if param else None

    def bind(self, command: CLCommand) -> CLCommand:
        """Give positional values their keywords and check keywords and values."""
        self._check_library(command.library)
        bound: list[Parameter] = []
        seen: set[str] = set()
        positional_index = 0
        keyword_seen = False
        for param in command.params:
            if param.keyword is None:
                shown = " ".join(element_text(v) for v in param.values)
                if keyword_seen:
                    raise CLParseError(self.name, "CPD0085", shown)
                if positional_index >= len(self.positional):
                    raise CLParseError(self.name, "CPD0071", shown, self.name)
                keyword = self.positional[positional_index]
                positional_index += 1
            else:
                keyword = param.keyword
                keyword_seen = True
            definition = self.params.get(keyword)
            if definition is None:
                raise CLParseError(self.name, "CPD0043", keyword)
            if keyword in seen:
                raise CLParseError(self.name, "CPD0076", keyword)
            seen.add(keyword)
            if not param.values:
                continue  # KWD() is the same as not specifying it [G]
            if len(param.values) > definition.max_values:
                raise CLParseError(self.name, "CPD0084", keyword)
            for value in param.values:
                _check_value(self.name, keyword, definition, value)
            bound.append(Parameter(keyword, param.values))
        for keyword, definition in self.params.items():
            if definition.required and keyword not in {p.keyword for p in bound}:
                raise CLParseError(self.name, "CPD0072", keyword)
        return CLCommand(command.name, command.library, tuple(bound))

    def _check_library(self, library: str | None) -> None:
        """CPD0030 when the command is not in the named library (or not in *LIBL).

        [G] *LIBL is QSYS, QUSRSYS, QGPL (as in commands/_base.py), so an unqualified product
        command (ICLUSTER is not on it) is not found, and ``QSYS/DMMRKPOS`` is not found either.
        """
        if library in (None, "*LIBL", "*NLVLIBL", "*SYSTEM"):
            if self.library not in ("QSYS", "QUSRSYS", "QGPL"):
                raise CLParseError(self.name, "CPD0030", self.name, library or "*LIBL")
        elif library != self.library:
            raise CLParseError(self.name, "CPD0030", self.name, library)


_LIB_SPECIALS = _s("*LIBL", "*CURLIB", "*USRLIBL", "*ALL", "*ALLUSR")


def _check_value(cmd: str, keyword: str, definition: P, value: Element) -> None:
    """Shape check of one top-level value, as the command prompter would do."""
    kind = definition.kind
    if kind in ("ANY", "CMD"):
        if kind == "CMD" and not isinstance(value, CommandString):
            raise CLParseError(cmd, "CPD0086", element_text(value), keyword)
        return
    if kind == "STR":
        if isinstance(value, (QuotedString, Word)):
            return
        raise CLParseError(cmd, "CPD0086", element_text(value), keyword)
    if kind == "JOB" and isinstance(value, Qualified):
        if len(value.parts) == 3 and value.parts[0].kind is WordKind.NUMBER:
            return
        if len(value.parts) in (2, 3) and all(p.kind is WordKind.NAME for p in value.parts):
            return
        raise CLParseError(cmd, "CPD0086", element_text(value), keyword)
    if kind == "QUAL" and isinstance(value, Qualified):
        lib, obj = value.parts[0], value.parts[-1]
        if len(value.parts) != 2:
            raise CLParseError(cmd, "CPD0086", element_text(value), keyword)
        lib_ok = lib.kind is WordKind.NAME or (
            lib.kind is WordKind.SPECIAL and lib.text in _LIB_SPECIALS
        )
        obj_ok = obj.kind is WordKind.NAME or (definition.generic and obj.kind is WordKind.GENERIC)
        if not (lib_ok and obj_ok):
            raise CLParseError(cmd, "CPD0078", element_text(value), keyword)
        return
    if not isinstance(value, Word):
        raise CLParseError(cmd, "CPD0086", element_text(value), keyword)
    if value.kind is WordKind.SPECIAL:
        if definition.specials is not None and value.text not in definition.specials:
            raise CLParseError(cmd, "CPD0086", value.text, keyword)
        return
    if kind == "INT":
        if value.kind is not WordKind.NUMBER or not value.text.lstrip("+-").isdigit():
            raise CLParseError(cmd, "CPD0086", value.text, keyword)
        return
    if value.kind is WordKind.GENERIC and definition.generic:
        return
    if value.kind is not WordKind.NAME:
        raise CLParseError(cmd, "CPD0078", value.text, keyword)


def _spec(name: str, positional: Iterable[str], **params: P) -> Spec:
    return Spec(name, dict(params), tuple(positional))


PRODUCT_LIBRARY = "ICLUSTER"  # icluster.md §1 [G] (the site profile's product_library)


def _icl(name: str, positional: Iterable[str], **params: P) -> Spec:
    """A Rocket iCluster command (icluster.md); [G] keywords beyond those icluster.md names."""
    return Spec(name, dict(params), tuple(positional), PRODUCT_LIBRARY)


_ANY = P()
_STR = P("STR")
_NAME = P("NAME")
_QUAL = P("QUAL")
_YESNO = P("NAME", specials=_s("*YES", "*NO"))

# Common save-command keywords (ibmi.md §5.1, SAVLIB list from asup QSRSLCPR).
_SAVE_COMMON: dict[str, P] = {
    "DEV": P("NAME", required=True, max_values=4),
    "VOL": P("ANY", max_values=75),
    "SEQNBR": _ANY,
    "LABEL": _ANY,
    "EXPDATE": _ANY,
    "ENDOPT": P("NAME", specials=_s("*REWIND", "*LEAVE", "*UNLOAD")),
    "USEOPTBLK": _YESNO,
    "SAVF": _QUAL,
    "TGTRLS": _NAME,
    "UPDHST": _YESNO,
    "CLEAR": P("NAME", specials=_s("*NONE", "*ALL", "*AFTER", "*REPLACE")),
    "PRECHK": _YESNO,
    "SAVACT": P("NAME", specials=_s("*NO", "*LIB", "*SYNCLIB", "*SYSDFN")),
    "SAVACTWAIT": P("ANY", max_values=3),
    "SAVACTMSGQ": _QUAL,
    "SAVACTOPT": P("ANY", max_values=4),
    "ACCPTH": P("NAME", specials=_s("*SYSVAL", "*NO", "*YES")),
    "SAVFDTA": _YESNO,
    "SPLFDTA": P("NAME", specials=_s("*NONE", "*ALL")),
    "QDTA": P("NAME", specials=_s("*NONE", "*DTAQ")),
    "PVTAUT": _YESNO,
    "STG": P("NAME", specials=_s("*KEEP", "*FREE")),
    "DTACPR": P("NAME", specials=_s("*DEV", "*NO", "*YES", "*LOW", "*MEDIUM", "*HIGH")),
    "COMPACT": P("NAME", specials=_s("*DEV", "*NO")),
    "OMITLIB": P("NAME", max_values=300, generic=True),
    "OMITOBJ": P("ANY", max_values=300),
    "ASPDEV": _ANY,
    "OUTPUT": P("NAME", specials=_s("*NONE", "*PRINT", "*OUTFILE")),
    "OUTFILE": _QUAL,
    "OUTMBR": P("ANY", max_values=2),
    "INFTYPE": P("NAME", specials=_s("*OBJ", "*LIB", "*MBR", "*ERR")),
    "SELECT": P("ANY", max_values=300),
    "SYNCID": _NAME,
}

# Restore keywords (ibmi.md §5.1, RSTLIB list from asup QSRRLCPR).
_RESTORE_COMMON: dict[str, P] = {
    "DEV": P("NAME", required=True, max_values=4),
    "VOL": P("ANY", max_values=75),
    "SEQNBR": _ANY,
    "LABEL": _ANY,
    "ENDOPT": P("NAME", specials=_s("*REWIND", "*LEAVE", "*UNLOAD")),
    "SAVF": _QUAL,
    "OPTION": P("NAME", specials=_s("*ALL", "*NEW", "*OLD", "*FREE")),
    "MBROPT": P("NAME", specials=_s("*MATCH", "*ALL", "*NEW", "*OLD")),
    "ALWOBJDIF": P("ANY", max_values=7),
    "FRCOBJCVN": P("ANY", max_values=2),
    "RSTLIB": P("NAME", specials=_s("*SAVLIB")),
    "RSTASPDEV": _ANY,
    "RSTASP": _ANY,
    "PVTAUT": _YESNO,
    "SPLFDTA": P("NAME", specials=_s("*NEW", "*NONE")),
    "DFRID": _ANY,
    "SAVDATE": _ANY,
    "SAVTIME": _ANY,
    "SAVASPDEV": _ANY,
    "OMITLIB": P("NAME", max_values=300, generic=True),
    "OMITOBJ": P("ANY", max_values=300),
    "OUTPUT": P("NAME", specials=_s("*NONE", "*PRINT", "*OUTFILE")),
    "OUTFILE": _QUAL,
    "OUTMBR": P("ANY", max_values=2),
    "INFTYPE": P("NAME", specials=_s("*ALL", "*ERR", "*MBR")),
    "SELECT": P("ANY", max_values=300),
}

SPECS: dict[str, Spec] = {
    s.name: s
    for s in (
        _spec(
            "CRTSAVF",
            ["FILE", "TEXT"],
            FILE=P("QUAL", required=True),
            MAXRCDS=P("INT", specials=_s("*NOMAX")),
            ASP=_ANY,
            TEXT=_STR,
            AUT=_NAME,
        ),
        _spec("CLRSAVF", ["FILE"], FILE=P("QUAL", required=True)),
        _spec(
            "DLTF",
            ["FILE"],
            FILE=P("QUAL", required=True, max_values=50, generic=True),
            SYSTEM=P("NAME", specials=_s("*LCL", "*RMT", "*FILETYPE")),
            RMVCST=P("NAME", specials=_s("*RESTRICT", "*REMOVE", "*KEEP")),
        ),
        _spec(
            "CRTLIB",
            ["LIB", "TYPE", "TEXT"],
            LIB=P("NAME", required=True, specials=frozenset()),
            TYPE=P("NAME", specials=_s("*PROD", "*TEST")),
            ASP=_ANY,
            ASPDEV=_ANY,
            TEXT=_STR,
            AUT=_NAME,
            CRTAUT=_NAME,
            CRTOBJAUD=_NAME,
        ),
        _spec("DLTLIB", ["LIB"], LIB=P("NAME", required=True, specials=frozenset()), ASPDEV=_ANY),
        _spec(
            "CLRLIB",
            ["LIB"],
            LIB=P("NAME", required=True, specials=_s("*CURLIB")),
            ASPDEV=_ANY,
        ),
        _spec(
            "CHKOBJ",
            ["OBJ", "OBJTYPE", "MBR", "AUT"],
            OBJ=P("QUAL", required=True),
            OBJTYPE=P("NAME", required=True),
            MBR=_NAME,
            AUT=P("NAME", max_values=11),
        ),
        # ibmi.md §7.1: ENDSBS SBS OPTION DELAY ENDSBSOPT (+BCHTIMLMT [G]).
        _spec(
            "ENDSBS",
            ["SBS", "OPTION", "DELAY"],
            SBS=P("NAME", required=True, specials=_s("*ALL")),
            OPTION=P("NAME", specials=_s("*CNTRLD", "*IMMED")),
            DELAY=P("INT", specials=_s("*NOLIMIT")),
            ENDSBSOPT=P(
                "NAME", max_values=3, specials=_s("*DFT", "*NOJOBLOG", "*CHGPTY", "*CHGTSL")
            ),
            BCHTIMLMT=P("INT", specials=_s("*NOMAX")),
        ),
        _spec("STRSBS", ["SBSD"], SBSD=P("QUAL", required=True)),
        _spec(
            "SAVLIB",
            ["LIB", "DEV"],
            LIB=P(
                "NAME",
                required=True,
                max_values=300,
                generic=True,
                specials=_s("*NONSYS", "*ALLUSR", "*IBM", "*SELECT", "*USRSPC"),
            ),
            **_SAVE_COMMON,
        ),
        _spec(
            "RSTLIB",
            ["SAVLIB", "DEV"],
            SAVLIB=P(
                "NAME",
                required=True,
                max_values=300,
                generic=True,
                specials=_s("*NONSYS", "*ALLUSR", "*IBM", "*ANY", "*SELECT"),
            ),
            **_RESTORE_COMMON,
        ),
        # ibmi.md §5.1: SAVOBJ OBJ(names|generic*|*ALL) LIB(X) DEV(*SAVF) OBJTYPE(...) SAVF(...).
        _spec(
            "SAVOBJ",
            ["OBJ", "LIB", "DEV"],
            OBJ=P("NAME", required=True, max_values=300, generic=True, specials=_s("*ALL")),
            LIB=P("NAME", required=True, max_values=300, specials=_s("*SELECT", "*USRSPC")),
            OBJTYPE=P("NAME", max_values=72),
            FILEMBR=P("ANY", max_values=300),
            **_SAVE_COMMON,
        ),
        # ibmi.md §5.1: RSTOBJ restores into an existing library.
        _spec(
            "RSTOBJ",
            ["OBJ", "SAVLIB", "DEV"],
            OBJ=P("NAME", required=True, max_values=300, generic=True, specials=_s("*ALL")),
            SAVLIB=P("NAME", required=True, specials=frozenset()),
            OBJTYPE=P("NAME", max_values=72),
            FILEMBR=P("ANY", max_values=300),
            **_RESTORE_COMMON,
        ),
        # ibmi.md §5.1 SAVSECDTA DEV(*SAVF) SAVF(L/F); other keywords [G] (recalled).
        _spec(
            "SAVSECDTA",
            ["DEV"],
            DEV=P("NAME", required=True, max_values=4),
            VOL=P("ANY", max_values=75),
            SEQNBR=_ANY,
            LABEL=_ANY,
            EXPDATE=_ANY,
            ENDOPT=P("NAME", specials=_s("*REWIND", "*LEAVE", "*UNLOAD")),
            USEOPTBLK=_YESNO,
            SAVF=_QUAL,
            TGTRLS=_NAME,
            CLEAR=P("NAME", specials=_s("*NONE", "*ALL", "*AFTER", "*REPLACE")),
            PRECHK=_YESNO,
            DTACPR=P("NAME", specials=_s("*DEV", "*NO", "*YES", "*LOW", "*MEDIUM", "*HIGH")),
            COMPACT=P("NAME", specials=_s("*DEV", "*NO")),
            OUTPUT=P("NAME", specials=_s("*NONE", "*PRINT", "*OUTFILE")),
            OUTFILE=_QUAL,
            OUTMBR=P("ANY", max_values=2),
            ASPDEV=_ANY,
        ),
        # ibmi.md §5.1 RSTUSRPRF DEV(*SAVF) SAVF(L/F) USRPRF(*ALL|names) SECDTA(...).
        _spec(
            "RSTUSRPRF",
            ["DEV", "USRPRF"],
            DEV=P("NAME", required=True, max_values=4),
            USRPRF=P("NAME", max_values=300, generic=True, specials=_s("*ALL")),
            OMITUSRPRF=P("NAME", max_values=300, generic=True),
            VOL=P("ANY", max_values=75),
            SEQNBR=_ANY,
            LABEL=_ANY,
            ENDOPT=P("NAME", specials=_s("*REWIND", "*LEAVE", "*UNLOAD")),
            SAVF=_QUAL,
            SECDTA=P("NAME", max_values=4, specials=_s("*USRPRF", "*PVTAUT", "*PWDGRP", "*DCM")),
            ALWOBJDIF=P("ANY", max_values=3),
            OUTPUT=P("NAME", specials=_s("*NONE", "*PRINT", "*OUTFILE")),
            OUTFILE=_QUAL,
            OUTMBR=P("ANY", max_values=2),
        ),
        # ibmi.md §5.1 RSTAUT USRPRF(*ALL|names): always last (§5.2).
        _spec(
            "RSTAUT",
            ["USRPRF"],
            USRPRF=P("NAME", max_values=300, generic=True, specials=_s("*ALL")),
            SAVASPDEV=_ANY,
            ASPDEV=_ANY,
        ),
        # ibmi.md §5.1 SAV DEV('/QSYS.LIB/L.LIB/F.FILE') OBJ(('/path' *INCLUDE)) SUBTREE(...).
        _spec(
            "SAV",
            ["DEV", "OBJ"],
            DEV=P("STR", required=True, max_values=4),
            OBJ=P("ANY", max_values=300),
            PATTERN=P("ANY", max_values=300),
            SUBTREE=P("NAME", specials=_s("*ALL", "*DIR", "*NONE", "*OBJ", "*STG")),
            SYSTEM=P("NAME", specials=_s("*LCL", "*RMT", "*ALL")),
            CHGPERIOD=P("ANY", max_values=4),
            PRECHK=_YESNO,
            UPDHST=P("NAME", specials=_s("*YES", "*NO", "*SYS", "*PC")),
            LABEL=_ANY,
            EXPDATE=_ANY,
            VOL=P("ANY", max_values=75),
            SEQNBR=_ANY,
            ENDOPT=P("NAME", specials=_s("*REWIND", "*LEAVE", "*UNLOAD")),
            USEOPTBLK=_YESNO,
            CLEAR=P("NAME", specials=_s("*NONE", "*ALL", "*AFTER", "*REPLACE")),
            TGTRLS=_NAME,
            SAVACT=P("NAME", specials=_s("*NO", "*YES", "*SYNC")),
            SAVACTOPT=P("ANY", max_values=3),
            SAVACTMSGQ=_ANY,
            DTACPR=P("NAME", specials=_s("*DEV", "*NO", "*YES", "*LOW", "*MEDIUM", "*HIGH")),
            COMPACT=P("NAME", specials=_s("*DEV", "*NO")),
            OUTPUT=P("STR", specials=_s("*NONE", "*PRINT")),
            INFTYPE=P("NAME", specials=_s("*ALL", "*ERR", "*SUMMARY")),
            ASPDEV=_ANY,
            SCAN=_ANY,
        ),
        # ibmi.md §5.1 RST DEV(path) OBJ(('/path' *INCLUDE '/newpath'|*SAME)) SUBTREE OPTION
        # ALWOBJDIF CRTPRNDIR PRNDIROWN OUTPUT (keywords from IBM's RST page).
        _spec(
            "RST",
            ["DEV", "OBJ"],
            DEV=P("STR", required=True, max_values=4),
            OBJ=P("ANY", max_values=300),
            PATTERN=P("ANY", max_values=300),
            SUBTREE=P("NAME", specials=_s("*ALL", "*DIR", "*NONE", "*OBJ", "*STG")),
            OUTPUT=P("STR", specials=_s("*NONE", "*PRINT")),
            CRTPRNDIR=_YESNO,
            PRNDIROWN=P("NAME", specials=_s("*PARENT")),
            RBDMFS=_ANY,
            VOL=P("ANY", max_values=75),
            LABEL=_ANY,
            SEQNBR=_ANY,
            POSITION=_ANY,
            ENDOPT=P("NAME", specials=_s("*REWIND", "*LEAVE", "*UNLOAD")),
            OPTFILE=_ANY,
            INFTYPE=P("NAME", specials=_s("*ALL", "*ERR", "*SUMMARY")),
            SYSTEM=P("NAME", specials=_s("*LCL", "*RMT", "*ALL")),
            SAVDATE=_ANY,
            SAVTIME=_ANY,
            OPTION=P("NAME", specials=_s("*ALL", "*NEW", "*OLD")),
            ALWOBJDIF=P("ANY", max_values=3),
            FRCOBJCVN=P("ANY", max_values=2),
        ),
        # ibmi.md §5.1 SAVDLO (QDLS); keywords [G] (recalled).
        _spec(
            "SAVDLO",
            ["DLO", "DEV"],
            DLO=P("ANY", max_values=300),
            FLR=P("STR", max_values=300),
            SRCHTYPE=_ANY,
            DEV=P("NAME", required=True, max_values=4),
            VOL=P("ANY", max_values=75),
            SEQNBR=_ANY,
            LABEL=_ANY,
            EXPDATE=_ANY,
            ENDOPT=P("NAME", specials=_s("*REWIND", "*LEAVE", "*UNLOAD")),
            USEOPTBLK=_YESNO,
            SAVF=_QUAL,
            CLEAR=P("NAME", specials=_s("*NONE", "*ALL", "*AFTER", "*REPLACE")),
            TGTRLS=_NAME,
            SAVACT=P("NAME", specials=_s("*NO", "*YES")),
            DTACPR=P("NAME", specials=_s("*DEV", "*NO", "*YES", "*LOW", "*MEDIUM", "*HIGH")),
            COMPACT=P("NAME", specials=_s("*DEV", "*NO")),
            OMITFLR=P("STR", max_values=300),
            OUTPUT=P("NAME", specials=_s("*NONE", "*PRINT", "*OUTFILE")),
            OUTFILE=_QUAL,
            OUTMBR=P("ANY", max_values=2),
            ASP=_ANY,
            STG=P("NAME", specials=_s("*KEEP", "*FREE", "*DELETE")),
        ),
        # ibmi.md §5.1 RSTDLO; keywords [G] (recalled).
        _spec(
            "RSTDLO",
            ["DLO", "DEV"],
            DLO=P("ANY", max_values=300),
            SAVFLR=P("STR", max_values=300),
            DEV=P("NAME", required=True, max_values=4),
            VOL=P("ANY", max_values=75),
            SEQNBR=_ANY,
            LABEL=_ANY,
            ENDOPT=P("NAME", specials=_s("*REWIND", "*LEAVE", "*UNLOAD")),
            SAVF=_QUAL,
            RENAME=_ANY,
            NEWFLR=_STR,
            ALWOBJDIF=P("ANY", max_values=3),
            SAVASP=_ANY,
            RSTASP=_ANY,
            OUTPUT=P("NAME", specials=_s("*NONE", "*PRINT", "*OUTFILE")),
            OUTFILE=_QUAL,
            OUTMBR=P("ANY", max_values=2),
            SAVDATE=_ANY,
            SAVTIME=_ANY,
        ),
        # ibmi.md §7.1: SBMJOB CMD(...) completion CPC1221 with the qualified job name.
        _spec(
            "SBMJOB",
            ["CMD", "JOB", "JOBD", "JOBQ"],
            CMD=P("CMD"),
            JOB=P("NAME", specials=_s("*JOBD")),
            JOBD=_QUAL,
            JOBQ=_QUAL,
            JOBPTY=_ANY,
            OUTPTY=_ANY,
            PRTDEV=_ANY,
            OUTQ=_ANY,
            USER=P("NAME", specials=_s("*CURRENT", "*JOBD")),
            PRTTXT=_ANY,
            RTGDTA=_ANY,
            RQSDTA=_ANY,
            SYSLIBL=_ANY,
            CURLIB=_ANY,
            INLLIBL=P("NAME", max_values=250),
            INLASPGRP=_ANY,
            LOG=P("ANY", max_values=3),
            LOGCLPGM=_ANY,
            LOGOUTPUT=_ANY,
            OUTQPTY=_ANY,
            HOLD=_YESNO,
            SCDDATE=_ANY,
            SCDTIME=_ANY,
            DATE=_ANY,
            SWS=_ANY,
            DSPSBMJOB=_ANY,
            MSGQ=_ANY,
            SRTSEQ=_ANY,
            LANGID=_ANY,
            CNTRYID=_ANY,
            CCSID=_ANY,
            BCHTIMLMT=_ANY,
            JOBMSGQMX=_ANY,
            JOBMSGQFL=_ANY,
            ALWMLTTHD=_ANY,
            SPLFACN=_ANY,
            ACGCDE=_ANY,
            CPYENVVAR=_YESNO,
        ),
    )
}

_GROUP = P("NAME", required=True, specials=_s("*ALL"))
_CNTRLD = P("NAME", specials=_s("*CNTRLD", "*IMMED"))
_REPAIR = P("NAME", max_values=6, specials=_s("*NONE", "*AUTH", "*JRN", "*CBU", "*CRD", "*ALL"))
# icluster.md §1, §3-§5: verified keywords are GROUP? (G), OPTION/DELAY of DMENDGRP and DMENDCST,
# USEMARKED, SCTYPE, REPAIR, ACTOOS, FULLSCOPTS, TARGET/DELAY of STRCNSC; the rest are [G].
ICLUSTER_SPECS: dict[str, Spec] = {
    s.name: s
    for s in (
        _icl("DMSTRCST", [], MSGQUEUE=_ANY, MAXWAITNOD=P("INT", specials=_s("*NOMAX"))),
        _icl(
            "DMENDCST",
            ["OPTION", "DELAY"],
            OPTION=_CNTRLD,
            DELAY=P("INT"),
            MSGQUEUE=_ANY,
            MAXWAITGRP=P("INT"),
            ENDNODES=P("NAME", specials=_s("*YES", "*NO", "*CURRENT", "*ALL")),
            MAXWAITNOD=P("INT"),
            ENDSBS=_YESNO,
        ),
        _icl("DMSTRNODE", ["NODE"], NODE=P("NAME", required=True, specials=_s("*CURRENT"))),
        _icl(
            "DMENDNODE",
            ["NODE", "OPTION", "DELAY"],
            NODE=P("NAME", required=True, specials=_s("*CURRENT")),
            OPTION=_CNTRLD,
            DELAY=P("INT"),
        ),
        _icl(
            "DMENDGRP", ["GROUP", "OPTION", "DELAY"], GROUP=_GROUP, OPTION=_CNTRLD, DELAY=P("INT")
        ),
        _icl("DMMRKPOS", ["GROUP"], GROUP=_GROUP),
        _icl(
            "DMSTRGRP",
            ["GROUP"],
            GROUP=_GROUP,
            STRAPY=_YESNO,
            USEMARKED=_YESNO,
            REFRESH=_YESNO,
        ),
        _icl(
            "DMSTRSC",
            ["GROUP"],
            GROUP=P("NAME", required=True),
            SCTYPE=P(
                "NAME",
                specials=_s(
                    "*FULL", "*OBJATTR", "*FILEATTR", "*CHKOBSLETE", "*CHECKSUM", "*CHKSUM"
                ),
            ),
            REPAIR=_REPAIR,
            ACTOOS=_YESNO,
            TARGET=_NAME,
            FULLSCOPTS=P("ANY", max_values=5),
        ),
        _icl("ENDHASC", ["GROUP"], GROUP=P("NAME", required=True), TARGET=_NAME),
        _icl(
            "STRCNSC",
            ["GROUP"],
            GROUP=P("NAME", required=True),
            TARGET=_NAME,
            DELAY=P("INT"),
            REPAIR=_REPAIR,
        ),
    )
}
SPECS.update(ICLUSTER_SPECS)

__all__ = ["ICLUSTER_SPECS", "PRODUCT_LIBRARY", "SPECS", "P", "Spec"]

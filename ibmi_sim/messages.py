"""The one table of IBM i message ids and first-level texts the simulator sends.

Why one table: most texts could not be checked against a real system (ibmi.md §13 gap 2). Keeping
them here, each with the label of ``/work/shared/reference/ibmi.md`` §0, makes a correction a
one-line change once somebody runs ``DSPMSGD RANGE(xxx) MSGF(QCPFMSG)`` on a real IBM i.

Labels: V verified, O observed on a real system, I inferred, G guessed (text and/or id).
``&1``..``&9`` are substitution variables, filled positionally by :func:`render`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MsgType(StrEnum):
    """Message types as shown by QSYS2.JOBLOG_INFO.MESSAGE_TYPE (ibmi.md §10.1)."""

    COMPLETION = "COMPLETION"
    DIAGNOSTIC = "DIAGNOSTIC"
    ESCAPE = "ESCAPE"
    INFORMATIONAL = "INFORMATIONAL"
    INQUIRY = "INQUIRY"
    REQUEST = "REQUEST"


@dataclass(frozen=True)
class MessageDef:
    """One message description: id, default type, severity, text template and its label."""

    msg_id: str
    msg_type: MsgType
    severity: int
    text: str
    label: str
    source: str


C, D, E, INFO, Q = (
    MsgType.COMPLETION,
    MsgType.DIAGNOSTIC,
    MsgType.ESCAPE,
    MsgType.INFORMATIONAL,
    MsgType.INQUIRY,
)

_DEFS: tuple[MessageDef, ...] = (
    # --- CL syntax (ibmi.md §5.4 last row: CPF0001/CPF0006 ids observed, texts G) ------------
    MessageDef("CPF0001", E, 30, "Error found on &1 command.", "O id, G text", "ibmi.md §5.4"),
    MessageDef("CPF0006", E, 30, "Errors occurred in command.", "O id, G text", "ibmi.md §5.4"),
    MessageDef("CPD0030", D, 30, "Command &1 in library &2 not found.", "G", "recollection"),
    MessageDef("CPD0043", D, 30, "Keyword &1 not valid for this command.", "G", "recollection"),
    MessageDef(
        "CPD0071", D, 30, "Positional value &1 exceeds the number allowed for &2.", "G", "-"
    ),
    MessageDef("CPD0072", D, 30, "Parameter &1 required.", "G", "recollection"),
    MessageDef("CPD0074", D, 30, "Name &1 longer than 10 characters.", "G", "-"),
    MessageDef("CPD0078", D, 30, "Value '&1' for parameter &2 not a valid name.", "G", "-"),
    MessageDef("CPD0013", D, 30, "Closing apostrophe missing in string &1.", "G", "-"),
    MessageDef("CPD0014", D, 30, "Parentheses not balanced in command &1.", "G", "-"),
    MessageDef("CPD0018", D, 30, "Character '&1' not valid in command string.", "G", "-"),
    MessageDef("CPD0076", D, 30, "Keyword &1 specified more than once.", "G", "-"),
    MessageDef("CPD0084", D, 30, "Too many values specified for parameter &1.", "G", "-"),
    MessageDef("CPD0085", D, 30, "Positional value &1 not allowed after a keyword.", "G", "-"),
    MessageDef("CPD0086", D, 30, "Value '&1' for parameter &2 not valid.", "G", "-"),
    MessageDef("CPD0087", D, 30, "Lists nested too deeply in command &1.", "G", "-"),
    # --- Objects, libraries (ibmi.md §5.1, §11) ------------------------------------------------
    MessageDef("CPC2102", C, 0, "Library &1 created.", "O", "ibmi.md §10.1 Ansible sample"),
    MessageDef("CPF2111", E, 40, "Library &1 already exists.", "O", "ibmi.md §2.3"),
    MessageDef("CPF2110", E, 40, "Library &1 not found.", "V id, G text", "ibmi.md §5.1"),
    MessageDef("CPC2194", C, 0, "Library &1 deleted.", "V-indirect id, G text", "ibmi.md §5.1"),
    MessageDef("CPC2195", C, 0, "Library &1 cleared.", "G", "no source found (ibmi.md §5.1)"),
    MessageDef("CPF9810", E, 40, "Library &1 not found.", "G", "recollection"),
    MessageDef("CPF9812", E, 40, "File &1 in library &2 not found.", "O", "ibmi.md §5.4"),
    MessageDef(
        "CPC7301", C, 0, "File &1 created in library &2.", "V-indirect", "JTOpen noise list"
    ),
    MessageDef("CPF5813", D, 40, "File &1 in library &2 already exists.", "O", "ibmi.md §5.1"),
    MessageDef("CPF7302", E, 40, "File &1 not created in library &2.", "O", "ibmi.md §5.1"),
    MessageDef("CPC2191", C, 0, "Object &1 in &2 type *FILE deleted.", "V id, G text", "§11"),
    MessageDef("CPF2105", E, 40, "Object &1 in &2 type *FILE not found.", "V id, G text", "§10.3"),
    # --- Save files, save, restore (ibmi.md §5.3, §5.4) ---------------------------------------
    MessageDef("CPC3722", C, 0, "&1 objects saved from library &2.", "O", "ibmi.md §5.3"),
    MessageDef("CPF3781", E, 40, "Library &1 not found.", "O id, G text", "ibmi.md §5.3"),
    MessageDef("CPF3782", E, 40, "File &1 in &2 not a save file.", "V id, G text", "ibmi.md §5.3"),
    MessageDef("CPF3794", E, 40, "Save or restore operation ended unsuccessfully.", "G", "§5.3"),
    MessageDef("CPF3743", D, 40, "File cannot be restored, displayed, or listed.", "G", "-"),
    MessageDef("CPA4067", Q, 99, "Save file &1 in &2 contains data. (C G)", "G", "-"),
    MessageDef("CPF3737", E, 40, "Only one library allowed with DEV(*SAVF).", "G", "§5.1"),
    MessageDef("CPF9814", E, 40, "Device &1 not found.", "V id, G text", "ibmi.md §5.3 list"),
    MessageDef("CPC3703", C, 0, "&1 objects restored from &2 to &3.", "O", "ibmi.md §5.4"),
    MessageDef(
        "CPF3770", E, 40, "No objects saved or restored for library &1.", "O id, G text", "§5.3"
    ),
    MessageDef("CPF3773", E, 40, "&1 objects restored. &2 not restored to &3.", "O", "§5.4"),
    MessageDef("CPF3756", D, 30, "&2 &1 not restored to &3.", "O", "ibmi.md §5.4"),
    MessageDef("CPF3780", E, 40, "Specified file for library &1 not found.", "O", "ibmi.md §5.4"),
    # --- Partial save of locked objects (ibmi.md §5.3: CPF3771 single library) ---------------
    MessageDef("CPF3771", E, 40, "&1 objects saved from &2. &3 not saved.", "V id, G text", "§5.3"),
    MessageDef("CPF3761", D, 30, "&2 &1 in &3 not saved. Object in use.", "G", "brief; no source"),
    # --- SAVSECDTA, RSTUSRPRF, RSTAUT (ibmi.md §5.1, §12) --------------------------------------
    # [I] SAVSECDTA to a save file: CPC3722 as any save to a save file (§5.3), library QSYS.
    MessageDef(
        "CPF3806", E, 40, "Objects from save file &1 in &2 not restored.", "O", "ibmi.md §5.4"
    ),
    MessageDef("CPC3705", C, 0, "&1 user profiles restored.", "V id, G text", "ibmi.md §5.1"),
    MessageDef(
        "CPF3775", E, 40, "&1 user profiles restored. &2 not restored.", "V id, G text", "§5.1"
    ),
    MessageDef("CPF3776", D, 30, "User profile &1 not found on the save media.", "G", "-"),
    MessageDef("CPF3785", E, 40, "Not all subsystems ended.", "V id (list), G text", "§5.3"),
    MessageDef("CPF2204", D, 30, "User profile &1 not found.", "G", "recollection"),
    MessageDef(
        "CPF3736", D, 20, "Authority not restored for user &1.", "V", "IBM RSTAUT job-log sample"
    ),
    MessageDef(
        "CPC3706", C, 0, "&1 authorities restored for user profile &2.", "G", "brief (CPC3706?)"
    ),
    MessageDef(
        "CPF3845",
        D,
        30,
        "Some authorities not restored for user profile &1.",
        "V text, G id",
        "IBM RSTAUT job-log sample",
    ),
    MessageDef(
        "CPF3846",
        E,
        40,
        "Not all user profiles had all authorities restored.",
        "V text, G id",
        "IBM RSTAUT job-log sample",
    ),
    # --- SAV / RST (IFS) and SAVDLO / RSTDLO (ibmi.md §5.1, §5.3, §5.4) -----------------------
    MessageDef("CPC370C", C, 0, "&1 objects saved.", "V id, G text", "ibmi.md §5.3"),
    MessageDef("CPC370F", C, 0, "&1 objects restored.", "V id, G text", "ibmi.md §5.4"),
    MessageDef("CPFA0A9", E, 40, "Object not found.  Object is &1.", "G", "recollection"),
    MessageDef(
        "CPC9063", C, 0, "&1 document library objects saved.", "V id, G text", "ibmi.md §5.1"
    ),
    MessageDef(
        "CPC9053", C, 0, "&1 document library objects restored.", "V id, G text", "§5.1, §5.4"
    ),
    MessageDef(
        "CPF909B",
        E,
        40,
        "&1 document library objects restored. &2 not restored.",
        "V id, G text",
        "ibmi.md §5.1",
    ),
    MessageDef("CPF8A16", E, 40, "Folder &1 not found.", "G", "-"),
    # --- Subsystems and jobs (ibmi.md §7.1) ---------------------------------------------------
    MessageDef("CPF0943", C, 0, "Ending of subsystem &1 in progress.", "O", "ibmi.md §7.1"),
    MessageDef("CPF1054", E, 40, "No subsystem &1 active.", "O", "ibmi.md §7.1"),
    MessageDef("CPF1053", E, 40, "Subsystem &1 already ending.", "G", "-"),
    MessageDef("CPF0902", C, 0, "Subsystem &1 in library &2 being started.", "O", "ibmi.md §7.1"),
    MessageDef("CPF1010", E, 40, "Subsystem name &1 active.", "O", "ibmi.md §7.1"),
    MessageDef("CPF1080", E, 40, "Library &1 not found.", "O", "ibmi.md §7.1"),
    MessageDef("CPF1019", E, 40, "Subsystem description &1 in library &2 not found.", "G", "-"),
    MessageDef(
        "CPC1221",
        C,
        0,
        "Job &1 submitted to job queue &2 in library &3.",
        "V id, G text",
        "ibmi.md §7.1",
    ),
    MessageDef("CPF1241", C, 0, "Job &1 completed normally on &2 at &3.", "G", "recollection"),
    MessageDef("CPF1240", C, 0, "Job &1 ended abnormally.", "G", "recollection"),
    # --- Simulator-only (clearly synthetic ids, issue 3 item 7 convention) --------------------
    MessageDef("SIM0001", E, 40, "&1 is not supported by the simulator.", "synthetic", "-"),
    MessageDef("SIM0002", E, 40, "Internal simulator error: &1", "synthetic", "-"),
    # --- Rocket iCluster: every id synthetic (real ids not public, icluster.md §10, §12); ids
    # SIM1001/1002/1101/1201/1202 and the two text shapes are set by the site profile
    # (config/site-profiles/simulator.yaml). Event-log messages (ibmi_sim.icluster) first.
    MessageDef(
        "SIM1001",
        C,
        0,
        "Positions marked for group &1 at receiver &2 sequence &3.",
        "synthetic",
        "-",
    ),
    MessageDef("SIM1002", E, 40, "Mark positions for group &1 failed: &2", "synthetic", "-"),
    MessageDef("SIM1101", C, 0, "Group &1 started at receiver &2 sequence &3.", "synthetic", "-"),
    MessageDef("SIM1102", C, 0, "Group &1 ended at applied sequence &2.", "synthetic", "-"),
    # DMSTRGRP REFRESH(*YES) (ibmi_sim.refresh; icluster.md §3.1, §9): the refresh's end.
    MessageDef(
        "SIM1108",
        C,
        0,
        "Refresh of group &1 complete: &2 objects, &3 bytes copied to &4.",
        "synthetic",
        "-",
    ),
    MessageDef("SIM1109", E, 40, "Refresh of group &1 failed: &2", "synthetic", "-"),
    MessageDef(
        "SIM1201",
        C,
        0,
        "Sync check &2 of group &1 complete: &3 objects out of sync, &4 repaired.",
        "synthetic",
        "-",
    ),
    MessageDef("SIM1202", E, 40, "Sync check &2 of group &1 failed: &3", "synthetic", "-"),
    MessageDef("SIM1301", C, 0, "Node &1 is active.", "synthetic", "-"),
    MessageDef("SIM1302", C, 0, "Node &1 is inactive.", "synthetic", "-"),
    MessageDef(
        "SIM1303", D, 30, "Node &1 not started: subsystem XDMCLUSTER not active.", "synthetic", "-"
    ),
    # Command completions and escapes (job log, so `system` prints them).
    MessageDef("SIM1005", C, 0, "Mark positions for group &1 submitted.", "synthetic", "-"),
    MessageDef(
        "SIM1006", E, 40, "Group &1 is &2; end it before marking positions.", "synthetic", "-"
    ),
    MessageDef("SIM1010", E, 40, "Replication group &1 not found.", "synthetic", "-"),
    MessageDef("SIM1011", E, 40, "Group &1 is &2; it cannot be started.", "synthetic", "-"),
    MessageDef("SIM1012", E, 40, "Group &1 is &2; it cannot be ended.", "synthetic", "-"),
    MessageDef("SIM1013", E, 40, "Node &1 is not active.", "synthetic", "-"),
    MessageDef("SIM1014", E, 40, "No marked position for group &1.", "synthetic", "-"),
    MessageDef("SIM1105", C, 0, "Start of group &1 submitted.", "synthetic", "-"),
    MessageDef("SIM1107", C, 0, "Start of group &1 with refresh submitted.", "synthetic", "-"),
    MessageDef("SIM1015", E, 40, "Group &1 is &2; end it before a refresh.", "synthetic", "-"),
    MessageDef(
        "SIM1016", E, 40, "REFRESH(*YES) cannot be used with USEMARKED(*YES).", "synthetic", "-"
    ),
    MessageDef("SIM1106", C, 0, "End of group &1 submitted.", "synthetic", "-"),
    MessageDef("SIM1203", E, 40, "A sync check is already running for group &1.", "synthetic", "-"),
    MessageDef("SIM1204", E, 40, "No sync check is running for group &1.", "synthetic", "-"),
    MessageDef("SIM1205", C, 0, "Sync check &2 for group &1 submitted.", "synthetic", "-"),
    MessageDef("SIM1206", C, 0, "Sync check for group &1 ended.", "synthetic", "-"),
    MessageDef("SIM1207", C, 0, "Continuous sync check for group &1 started.", "synthetic", "-"),
    MessageDef("SIM1305", C, 0, "Start of node &1 submitted.", "synthetic", "-"),
    MessageDef("SIM1306", C, 0, "End of node &1 submitted.", "synthetic", "-"),
    MessageDef("SIM1307", E, 40, "Node &1 not found in the cluster.", "synthetic", "-"),
    MessageDef("SIM1310", C, 0, "iCluster processes started on &1.", "synthetic", "-"),
    MessageDef("SIM1311", C, 0, "iCluster processes ended on &1.", "synthetic", "-"),
)

MESSAGES: dict[str, MessageDef] = {m.msg_id: m for m in _DEFS}


def render(msg_id: str, *data: object) -> str:
    """Fill ``&1``..``&9`` with ``data``; higher numbers first so ``&1`` never eats ``&10``."""
    text = MESSAGES[msg_id].text
    for index in range(len(data), 0, -1):
        text = text.replace(f"&{index}", str(data[index - 1]))
    return text


def guessed() -> list[MessageDef]:
    """Every message whose id or text is a guess: the list the closing note must report."""
    return [m for m in _DEFS if "G" in m.label.split(", ")[-1] or m.label == "G"]

"""Unit tests for ibmi_resync.messages, fed with the real output samples quoted in ibmi.md."""

from __future__ import annotations

import ast
import re
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibmi_resync import messages as mod
from ibmi_resync.messages import (
    COUNT_FIELDS,
    MESSAGE_CATALOG,
    MESSAGE_ID_PATTERN,
    OBJECT_FIELDS,
    IbmiMessage,
    MessageInfo,
    MessageType,
    NotRestoredObject,
    Outcome,
    SaveRestoreCounts,
    SystemResult,
    classify,
    objects_not_restored,
    objects_not_saved,
    parse_event_log_rows,
    parse_joblog_rows,
    parse_submitted_job,
    parse_system_output,
    row_get,
    summarise,
    unknown_message_ids,
    unreadable_messages,
)

# The IDs the catalog must cover (brief, from ibmi.md §5.3, §5.4, §7.1).
# fmt: off
REQUIRED_IDS = (
    "CPC3722", "CPC3701", "CPC3720", "CPC3721", "CPC370C", "CPC9063", "CPC9410", "CPF3771",
    "CPF3751", "CPF3778", "CPF3701", "CPF3777", "CPF3770", "CPF3781", "CPF3782", "CPF3797",
    "CPF3794", "CPF3793", "CPF3812", "CPF379A", "CPI3710", "CPI3712", "CPC3703", "CPC370E",
    "CPC370F", "CPC371C", "CPC9023", "CPC9053", "CPF37C1", "CPF3773", "CPF3839", "CPF383E",
    "CPF9003", "CPF909B", "CPI373B", "CPI373C", "CPF3756", "CPF7086", "CPF707F", "CPF3848",
    "CPI3811", "CPF3780", "CPF3806", "CPF9812", "CPF0001", "CPF0006", "CPC3705", "CPF3775",
    "CPF5813", "CPF7302", "CPF0943", "CPF1054", "CPF0902", "CPF1010", "CPF1080", "CPC1221",
    "CPF2110", "CPC2194", "CPF2111", "SQL0443",
)
# fmt: on


def msg(
    msg_id: str | None,
    text: str = "",
    msg_type: MessageType = MessageType.ESCAPE,
) -> IbmiMessage:
    return IbmiMessage(msg_id, msg_type, None, text, "joblog")


class TestMessageIdPattern:
    @pytest.mark.parametrize(
        "msg_id",
        ["CPF3773", "CPC3722", "CPF37C1", "CPI373B", "CPD0912", "SQL0443", "HAB1012", "CPCA082"],
    )
    def test_matches_real_ids(self, msg_id: str) -> None:
        assert re.fullmatch(MESSAGE_ID_PATTERN, msg_id)

    @pytest.mark.parametrize("text", ["cpf3773", "CPF377", "CPF37733", "CPF37G1", "1PF3773"])
    def test_rejects_non_ids(self, text: str) -> None:
        assert re.fullmatch(MESSAGE_ID_PATTERN, text) is None


class TestParseSystemOutputFailure:
    def test_diagnostic_then_escape_on_stderr(self) -> None:
        # ibmi.md §2.3, vscode-ibmi issue 465: CRTLIB on a system with an IASP copy.
        stderr = "CPF2158: ...\nCPF2111: Library ILEDITOR already exists.\n"
        result = parse_system_output("", stderr, 255)

        assert [m.msg_id for m in result.messages] == ["CPF2158", "CPF2111"]
        assert [m.type for m in result.messages] == [MessageType.DIAGNOSTIC, MessageType.ESCAPE]
        assert [m.source for m in result.messages] == ["stderr", "stderr"]
        assert result.messages[1].text == "Library ILEDITOR already exists."
        assert result.messages[1].severity is None
        assert result.escape == result.messages[1]
        assert result.succeeded is False
        assert result.unknown_ids == ("CPF2158",)
        assert result.spool_lines == ()
        # CPF2158 is not in the catalog, so a human must look.
        assert result.outcome() is Outcome.UNKNOWN

    def test_single_escape_already_exists(self) -> None:
        result = parse_system_output("", "CPF2111: Library ILEDITOR already exists.\n", 255)
        assert result.escape is not None
        assert result.escape.type is MessageType.ESCAPE
        assert result.outcome() is Outcome.ALREADY_DONE
        assert result.outcome().is_success

    def test_two_unknown_ids_copy_failure(self) -> None:
        stderr = (
            "CPF2803: To-file EVFEVENT in BMILLER not allowed.\n"
            "CPF2817: Copy command ended because of error.\n"
        )
        result = parse_system_output("", stderr, 255)
        assert result.unknown_ids == ("CPF2803", "CPF2817")
        assert result.escape is not None and result.escape.msg_id == "CPF2817"

    def test_non_message_stderr_without_escape_is_failed(self) -> None:
        # ibmi.md §2.4 item 4: exit 255 with a conversion error and no message ID.
        result = parse_system_output("", "Error during setup for ASCII/EBCDIC conversion\n", 255)
        assert result.messages == ()
        assert result.escape is None
        assert result.stderr_other_lines == ("Error during setup for ASCII/EBCDIC conversion",)
        assert result.spool_lines == ()
        assert result.outcome() is Outcome.FAILED

    def test_restore_with_authority_change_only_is_success_despite_rc_255(self) -> None:
        # ibmi.md §5.4: 7.2+ sends CPF3848 + CPF3773 even when every object was restored.
        stderr = (
            "CPF3848: Object authority or ownership changed.\n"
            "CPF3773: 12 objects restored. 0 not restored to APPLIB.\n"
        )
        result = parse_system_output("", stderr, 255)
        assert result.succeeded is False
        assert result.outcome() is Outcome.INFO
        assert result.outcome().is_success

    def test_qshell_failure_exit_1(self) -> None:
        result = parse_system_output("", "CPF2111:  Bibliothek ILEDITOR bereits vorhanden.\n", 1)
        (message,) = result.messages
        assert message.msg_id == "CPF2111"
        assert message.text == "Bibliothek ILEDITOR bereits vorhanden."
        assert message.type is MessageType.ESCAPE


class TestParseSystemOutputSuccess:
    def test_cpc3722_completion_with_counts(self) -> None:
        result = parse_system_output("CPC3722: 2 objects saved from library test.\n", "", 0)
        (message,) = result.messages
        assert message.msg_id == "CPC3722"
        assert message.type is MessageType.COMPLETION
        assert message.source == "stdout"
        assert message.counts == SaveRestoreCounts(saved=2, library="test")
        assert message.counts_unreadable is False
        assert result.succeeded is True
        assert result.escape is None
        assert result.outcome() is Outcome.OK

    def test_cpc3703_restore_counts(self) -> None:
        result = parse_system_output("CPC3703: 2 objects restored from test to test.\n", "", 0)
        (message,) = result.messages
        assert message.counts == SaveRestoreCounts(restored=2, library="test", to_library="test")
        assert classify(message) is Outcome.OK

    def test_unknown_ids_take_type_from_prefix(self) -> None:
        # Observed success output (vscode-ibmi issue 490) plus a Qshell CPC and a CPD.
        stdout = (
            "CPF9861: Output file X created in library Y.\n"
            "CPF3030: 28 records added to member X in file X in library Y.\n"
            "CPD0912: Printer device PRT01 not found.\n"
        )
        result = parse_system_output(stdout, "CPCA082:  Object copied.\n", 0)
        assert [(m.msg_id, m.type) for m in result.messages] == [
            ("CPF9861", MessageType.INFORMATIONAL),
            ("CPF3030", MessageType.INFORMATIONAL),
            ("CPD0912", MessageType.DIAGNOSTIC),
            ("CPCA082", MessageType.COMPLETION),
        ]
        assert result.unknown_ids == ("CPF9861", "CPF3030", "CPD0912", "CPCA082")

    def test_known_ids_take_type_from_catalog(self) -> None:
        result = parse_system_output("CPF0943: Ending of subsystem QBATCH in progress.\n", "", 0)
        (message,) = result.messages
        assert message.type is MessageType.COMPLETION
        assert result.outcome() is Outcome.IN_PROGRESS

    def test_extra_catalog_gives_type(self) -> None:
        extra = {
            "HAB1012": MessageInfo("HAB1012", MessageType.DIAGNOSTIC, Outcome.INFO, "x", None, "V")
        }
        result = parse_system_output(
            "HAB1012: A BSF object was suspended.\n", "", 0, extra_catalog=extra
        )
        assert result.messages[0].type is MessageType.DIAGNOSTIC

    def test_spool_lines_mixed_with_messages_keep_order(self) -> None:
        stdout = (
            "                         Display Library                    Page 1\n"
            " Library  . . . . . . :   APPLIB\n"
            "CPC3722: 3 objects saved from library APPLIB.\n"
            "\n"
            "   * * * * *  E N D  O F  L I S T I N G  * * * * *\n"
        )
        result = parse_system_output(stdout, "", 0)
        assert [m.msg_id for m in result.messages] == ["CPC3722"]
        assert result.spool_lines == (
            "                         Display Library                    Page 1",
            " Library  . . . . . . :   APPLIB",
            "",
            "   * * * * *  E N D  O F  L I S T I N G  * * * * *",
        )

    def test_three_spaces_or_indent_is_not_a_message(self) -> None:
        stdout = "CPF2111:   three spaces\n  CPC3722: 1 objects saved from library X.\nCPF2111:\n"
        result = parse_system_output(stdout, "", 0)
        assert result.messages == ()
        assert len(result.spool_lines) == 3

    def test_crlf_line_ends(self) -> None:
        result = parse_system_output("CPC3722: 2 objects saved from library TEST.\r\n", "", 0)
        assert result.messages[0].counts == SaveRestoreCounts(saved=2, library="TEST")

    def test_empty_output(self) -> None:
        result = parse_system_output("", "", 0)
        assert result == SystemResult(0, (), (), ())
        assert result.outcome() is Outcome.OK

    def test_by_id_returns_all(self) -> None:
        stderr = (
            "CPF3756: *FILE ORDERS not restored to APPLIB.\n"
            "CPF3756: *DTAARA CTL not restored to APPLIB.\n"
            "CPF3773: 10 objects restored. 2 not restored to APPLIB.\n"
        )
        result = parse_system_output("", stderr, 255)
        assert [m.text for m in result.by_id("CPF3756")] == [
            "*FILE ORDERS not restored to APPLIB.",
            "*DTAARA CTL not restored to APPLIB.",
        ]
        assert result.by_id("CPF9999") == ()
        assert result.outcome() is Outcome.PARTIAL


class TestCounts:
    def test_cpf3773_zero_not_restored_is_ok(self) -> None:
        message = msg("CPF3773", "5 objects restored. 0 not restored to APPLIB.")
        assert message.counts == SaveRestoreCounts(restored=5, not_restored=0, to_library="APPLIB")
        assert classify(message) is Outcome.OK

    def test_cpf3773_some_not_restored_is_partial(self) -> None:
        message = msg("CPF3773", "5 objects restored. 2 not restored to APPLIB.")
        assert message.counts == SaveRestoreCounts(restored=5, not_restored=2, to_library="APPLIB")
        assert classify(message) is Outcome.PARTIAL

    def test_german_text_counts_are_not_guessed(self) -> None:
        message = msg("CPC3722", "2 Objekte aus Bibliothek TEST gesichert.", MessageType.COMPLETION)
        assert message.counts is None
        assert message.counts_unreadable is True
        assert unreadable_messages([message]) == (message,)

    def test_german_cpf3773_stays_partial(self) -> None:
        message = msg(
            "CPF3773", "5 Objekte zurückgespeichert. 0 nicht in APPLIB zurückgespeichert."
        )
        assert message.counts is None
        assert classify(message) is Outcome.PARTIAL

    def test_doubled_blank_after_period(self) -> None:
        message = msg("CPF3773", "5 objects restored.  0 not restored to APPLIB.")
        assert message.counts == SaveRestoreCounts(restored=5, not_restored=0, to_library="APPLIB")

    def test_ids_without_counts(self) -> None:
        message = msg("CPF2111", "Library X already exists.")
        assert message.counts is None
        assert message.counts_unreadable is False
        assert msg(None, "SAVLIB LIB(X)", MessageType.REQUEST).counts is None

    def test_rstusrprf_counts(self) -> None:
        assert msg("CPF3775", "40 user profiles restored. 3 not restored.").counts == (
            SaveRestoreCounts(restored=40, not_restored=3)
        )

    def test_save_partial_counts(self) -> None:
        assert msg("CPF3771", "9 objects saved from APPLIB. 1 not saved.").counts == (
            SaveRestoreCounts(saved=9, library="APPLIB", not_saved=1)
        )


def _fill(template: str, fields: dict[str, str]) -> tuple[str, dict[str, object]]:
    """Fill a template with sample values; return the text and the expected counts fields."""
    expected: dict[str, object] = {}

    def value(match: re.Match[str]) -> str:
        field = fields.get(match.group(0))
        if field in {"saved", "restored", "not_saved", "not_restored"}:
            expected[field] = 7 + int(match.group(0)[1:])
            return str(expected[field])
        sample = f"L{match.group(0)[1:]}$#@_.A"  # every special character IBM i allows
        if field is not None:
            expected[field] = sample
        return sample

    return re.sub(r"&\d+", value, template), expected


class TestCatalog:
    def test_contains_required_ids(self) -> None:
        assert sorted(set(REQUIRED_IDS) - set(MESSAGE_CATALOG)) == []

    def test_keys_match_rows_and_labels_are_valid(self) -> None:
        for msg_id, info in MESSAGE_CATALOG.items():
            assert info.msg_id == msg_id
            assert re.fullmatch(MESSAGE_ID_PATTERN, msg_id)
            assert info.source in {"V", "O", "I", "G"}
            assert isinstance(info.type, MessageType)
            assert isinstance(info.outcome, Outcome)
            assert info.meaning

    def test_guessed_texts_are_labelled_g(self) -> None:
        for msg_id in ("CPF3771", "CPC3705", "CPF3775", "CPC1221", "CPC9063", "CPC9053"):
            assert MESSAGE_CATALOG[msg_id].source == "G", msg_id
        for msg_id in ("CPC3722", "CPC3703", "CPF3773", "CPF3756", "CPF1054", "CPF5813"):
            assert MESSAGE_CATALOG[msg_id].source == "O", msg_id

    def test_outcomes_from_the_brief(self) -> None:
        expected = {
            "CPF5813": Outcome.ALREADY_DONE,
            "CPF1054": Outcome.ALREADY_DONE,
            "CPF1010": Outcome.ALREADY_DONE,
            "CPF3771": Outcome.PARTIAL,
            "CPF3773": Outcome.PARTIAL,
            "CPF3775": Outcome.PARTIAL,
            "CPF909B": Outcome.PARTIAL,
            "CPF3751": Outcome.PARTIAL,
            "CPF3778": Outcome.PARTIAL,
            "CPF0943": Outcome.IN_PROGRESS,
            "CPF0902": Outcome.IN_PROGRESS,
            "CPF3781": Outcome.FAILED,
            "CPF3780": Outcome.FAILED,
            "CPF9812": Outcome.FAILED,
            "SQL0443": Outcome.FAILED,
        }
        assert {k: MESSAGE_CATALOG[k].outcome for k in expected} == expected

    @pytest.mark.parametrize("msg_id", sorted({**COUNT_FIELDS, **OBJECT_FIELDS}))
    def test_declared_placeholders_exist_in_template(self, msg_id: str) -> None:
        template = MESSAGE_CATALOG[msg_id].text_template
        assert template is not None
        fields = {**COUNT_FIELDS, **OBJECT_FIELDS}[msg_id]
        assert set(fields) <= set(re.findall(r"&\d+", template))

    @pytest.mark.parametrize(
        "msg_id", sorted(k for k, v in MESSAGE_CATALOG.items() if v.text_template is not None)
    )
    def test_template_round_trips_through_its_count_regex(self, msg_id: str) -> None:
        template = MESSAGE_CATALOG[msg_id].text_template
        assert template is not None
        fields = dict(COUNT_FIELDS.get(msg_id, {}))
        text, expected = _fill(template, fields)
        message = msg(msg_id, text)
        if msg_id in COUNT_FIELDS:
            assert message.counts == SaveRestoreCounts(**expected)  # type: ignore[arg-type]
            assert message.counts_unreadable is False
        else:
            assert message.counts is None
            assert message.counts_unreadable is False

    def test_catalog_is_read_only(self) -> None:
        with pytest.raises(TypeError):
            MESSAGE_CATALOG["CPF0000"] = MESSAGE_CATALOG["CPF2111"]  # type: ignore[index]


class TestRowGet:
    def test_case_insensitive(self) -> None:
        row = {"message_id": "CPF3773", "Message_Text": "x"}
        assert row_get(row, "MESSAGE_ID") == "CPF3773"
        assert row_get(row, "message_text") == "x"
        assert row_get(row, "SEVERITY") is None
        assert row_get(row, "SEVERITY", 0) == 0

    def test_exact_match_wins(self) -> None:
        assert row_get({"A": 1, "a": 2}, "a") == 2


class TestParseJoblogRows:
    ROWS = (
        # Newest first, as Ansible and vscode-ibmi query it (ORDER BY ORDINAL_POSITION DESC).
        {
            "ordinal_position": 3,
            "message_id": "CPF3773",
            "message_type": "ESCAPE",
            "severity": Decimal("40"),
            "message_timestamp": datetime(2024, 3, 1, 12, 0, 2),
            "message_text": "10 objects restored. 1 not restored to APPLIB.",
            "message_second_level_text": "Cause . . . . . :   ...",
        },
        {
            "Ordinal_Position": 2,
            "Message_Id": "CPF3756   ",
            "Message_Type": "DIAGNOSTIC",
            "Severity": 40,
            "Message_Timestamp": "2024-03-01-12.00.01.500000",
            "Message_Text": "*FILE ORDERS not restored to APPLIB.",
        },
        {
            "ORDINAL_POSITION": 1,
            "MESSAGE_ID": None,
            "MESSAGE_TYPE": "REQUEST",
            "SEVERITY": 0,
            "MESSAGE_TIMESTAMP": datetime(2024, 3, 1, 12, 0, 0),
            "MESSAGE_TEXT": "-RSTLIB SAVLIB(APPLIB) DEV(*SAVF) SAVF(XFER/APPLIB)",
        },
        {
            "ORDINAL_POSITION": 4,
            "MESSAGE_ID": "CPF9999",
            "MESSAGE_TYPE": "SOMETHING NEW",
            "SEVERITY": None,
            "MESSAGE_TEXT": None,
        },
    )

    def test_sorted_case_insensitive_and_null_id_kept(self) -> None:
        result = parse_joblog_rows(self.ROWS)

        assert [m.msg_id for m in result] == [None, "CPF3756", "CPF3773", "CPF9999"]
        assert [m.type for m in result] == [
            MessageType.REQUEST,
            MessageType.DIAGNOSTIC,
            MessageType.ESCAPE,
            MessageType.UNKNOWN,
        ]
        assert [m.severity for m in result] == [0, 40, 40, None]
        assert result[1].timestamp == datetime(2024, 3, 1, 12, 0, 1, 500000)
        assert result[2].second_level_text == "Cause . . . . . :   ..."
        assert result[3].text == ""
        assert {m.source for m in result} == {"joblog"}

    def test_classification_of_joblog(self) -> None:
        result = parse_joblog_rows(self.ROWS)
        assert [classify(m) for m in result] == [
            Outcome.INFO,
            Outcome.PARTIAL,
            Outcome.PARTIAL,
            Outcome.UNKNOWN,
        ]
        assert summarise(result) is Outcome.PARTIAL
        assert unknown_message_ids(result) == ("CPF9999",)
        assert objects_not_restored(result) == (NotRestoredObject("APPLIB", "ORDERS", "*FILE"),)

    def test_lowercase_message_type_accepted(self) -> None:
        (message,) = parse_joblog_rows([{"message_type": "completion", "message_id": "CPC3703"}])
        assert message.type is MessageType.COMPLETION

    def test_message_type_values_are_joblog_spellings(self) -> None:
        assert [t.value for t in MessageType] == [t.name for t in MessageType]


class TestParseEventLogRows:
    EXTRA: ClassVar[dict[str, MessageInfo]] = {
        "HAB1012": MessageInfo(
            "HAB1012",
            MessageType.DIAGNOSTIC,
            Outcome.PARTIAL,
            "BSF object suspended",
            "A BSF object was suspended with reason code &1.",
            "V",
        )
    }
    ROWS = (
        {
            "message_timestamp": datetime(2023, 9, 18, 8, 3, 21),
            "Node": "COREPRO1",
            "GROUP_NAME": "IFSGRP",
            "MESSAGE_ID": "HAB1012",
            "severity": 30,
            "message_text": "A BSF object was suspended with reason code RTV.",
        },
        {"MESSAGE_ID": "SCI0001", "NODE": "BACKUP1", "MESSAGE_TEXT": "Sync check ended."},
    )

    def test_rows_with_site_catalog(self) -> None:
        first, second = parse_event_log_rows(self.ROWS, extra_catalog=self.EXTRA)
        assert (first.msg_id, first.type, first.severity, first.node, first.group) == (
            "HAB1012",
            MessageType.DIAGNOSTIC,
            30,
            "COREPRO1",
            "IFSGRP",
        )
        assert first.source == "eventlog"
        assert first.timestamp == datetime(2023, 9, 18, 8, 3, 21)
        assert second.type is MessageType.UNKNOWN
        assert second.group is None
        assert classify(first, extra_catalog=self.EXTRA) is Outcome.PARTIAL
        assert classify(first) is Outcome.UNKNOWN
        assert unknown_message_ids([first, second], extra_catalog=self.EXTRA) == ("SCI0001",)

    def test_without_site_catalog_ids_are_unknown(self) -> None:
        first, _ = parse_event_log_rows(self.ROWS, extra_catalog={})
        assert first.type is MessageType.UNKNOWN


class TestClassify:
    def test_extra_catalog_overrides_builtin(self) -> None:
        message = msg("CPF1054", "No subsystem MYJOB active.")
        extra = {
            "CPF1054": MessageInfo("CPF1054", MessageType.ESCAPE, Outcome.FAILED, "x", None, "I")
        }
        assert classify(message) is Outcome.ALREADY_DONE
        assert classify(message, extra_catalog=extra) is Outcome.FAILED

    def test_extra_catalog_overrides_cpf3773_rule(self) -> None:
        message = msg("CPF3773", "5 objects restored. 0 not restored to APPLIB.")
        extra = {
            "CPF3773": MessageInfo("CPF3773", MessageType.ESCAPE, Outcome.FAILED, "x", None, "I")
        }
        assert classify(message, extra_catalog=extra) is Outcome.FAILED

    def test_unknown_id(self) -> None:
        assert classify(msg("CPF2158", "...")) is Outcome.UNKNOWN

    @pytest.mark.parametrize(
        ("msg_type", "expected"),
        [
            (MessageType.REQUEST, Outcome.INFO),
            (MessageType.COMMAND, Outcome.INFO),
            (MessageType.INFORMATIONAL, Outcome.INFO),
            (MessageType.ESCAPE, Outcome.UNKNOWN),
            (MessageType.DIAGNOSTIC, Outcome.UNKNOWN),
            (MessageType.INQUIRY, Outcome.UNKNOWN),
        ],
    )
    def test_messages_without_id(self, msg_type: MessageType, expected: Outcome) -> None:
        assert classify(msg(None, "impromptu", msg_type)) is expected

    @pytest.mark.parametrize(
        ("msg_id", "text", "expected"),
        [
            ("CPF0943", "Ending of subsystem QBATCH in progress.", Outcome.IN_PROGRESS),
            ("CPF1054", "No subsystem MYJOB active.", Outcome.ALREADY_DONE),
            ("CPF0902", "Subsystem QBATCH in library QSYS being started.", Outcome.IN_PROGRESS),
            ("CPF1010", "Subsystem name QBATCH active.", Outcome.ALREADY_DONE),
            ("CPF1080", "Library MYLIB not found.", Outcome.FAILED),
            ("CPF5813", "File F in library L already exists.", Outcome.ALREADY_DONE),
        ],
    )
    def test_observed_subsystem_and_savf_samples(
        self, msg_id: str, text: str, expected: Outcome
    ) -> None:
        assert classify(msg(msg_id, text)) is expected


class TestSummarise:
    ORDER = (
        Outcome.FAILED,
        Outcome.PARTIAL,
        Outcome.UNKNOWN,
        Outcome.IN_PROGRESS,
        Outcome.ALREADY_DONE,
        Outcome.INFO,
        Outcome.OK,
    )
    SAMPLE: ClassVar[dict[Outcome, IbmiMessage]] = {
        Outcome.FAILED: msg("CPF3781", "Library X not found."),
        Outcome.PARTIAL: msg("CPF3773", "5 objects restored. 1 not restored to X."),
        Outcome.UNKNOWN: msg("CPF2158", "..."),
        Outcome.IN_PROGRESS: msg("CPF0943", "Ending of subsystem QBATCH in progress."),
        Outcome.ALREADY_DONE: msg("CPF1054", "No subsystem QBATCH active."),
        Outcome.INFO: msg("CPF3848", "Authority changed.", MessageType.DIAGNOSTIC),
        Outcome.OK: msg("CPC3722", "2 objects saved from library X.", MessageType.COMPLETION),
    }

    def test_empty_is_ok(self) -> None:
        assert summarise([]) is Outcome.OK

    @pytest.mark.parametrize("worse_index", range(6))
    def test_worse_outcome_wins_in_any_order(self, worse_index: int) -> None:
        worse = self.ORDER[worse_index]
        for better in self.ORDER[worse_index + 1 :]:
            pair = [self.SAMPLE[better], self.SAMPLE[worse]]
            assert summarise(pair) is worse
            assert summarise(reversed(pair)) is worse

    def test_existing_savf_pair_is_already_done(self) -> None:
        # ibmi.md §5.1: CRTSAVF on an existing save file -> CPF5813 then CPF7302.
        stderr = (
            "CPF5813: File APPLIB in library XFER already exists.\n"
            "CPF7302: File APPLIB not created in library XFER.\n"
        )
        result = parse_system_output("", stderr, 255)
        assert result.outcome() is Outcome.ALREADY_DONE
        assert summarise([msg("CPF7302", "File A not created in library B.")]) is Outcome.FAILED

    def test_extra_catalog_is_used(self) -> None:
        extra = {
            "CPF2158": MessageInfo("CPF2158", MessageType.DIAGNOSTIC, Outcome.INFO, "x", None, "G")
        }
        result = parse_system_output("", "CPF2158: ...\nCPF2111: Library A already exists.\n", 255)
        assert result.outcome(extra_catalog=extra) is Outcome.ALREADY_DONE
        assert result.unknown_ids == ("CPF2158",)

    def test_is_success(self) -> None:
        assert [o for o in Outcome if o.is_success] == [
            Outcome.OK,
            Outcome.ALREADY_DONE,
            Outcome.INFO,
        ]


class TestSubmittedJob:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "Job 123456/QUSER/MYJOB submitted to job queue QBATCH in library QGPL.",
                "123456/QUSER/MYJOB",
            ),
            (
                "Job 004711/PAY$USR/PAY#RUN$1 submitted to job queue QBATCH in library QGPL.",
                "004711/PAY$USR/PAY#RUN$1",
            ),
            ("Job 000001/@OPS_1/A.B submitted to job queue Q in library L.", "000001/@OPS_1/A.B"),
            ("Job 999999/QPGMR/SAVEJOB.", "999999/QPGMR/SAVEJOB"),
            ("Job 123456/QUSER/MYJOB an Jobwarteschlange QBATCH übergeben.", "123456/QUSER/MYJOB"),
            ("Job 1234567/QUSER/MYJOB submitted.", None),
            ("Job 123456/QUSER/NAMETOOLONG1 submitted.", None),
            ("No job here.", None),
        ],
    )
    def test_from_message_text(self, text: str, expected: str | None) -> None:
        assert parse_submitted_job(msg("CPC1221", text, MessageType.COMPLETION)) == expected

    def test_from_system_result_and_iterable(self) -> None:
        stdout = "CPC1221: Job 123456/QUSER/MYJOB submitted to job queue QBATCH in library QGPL.\n"
        result = parse_system_output(stdout, "", 0)
        assert parse_submitted_job(result) == "123456/QUSER/MYJOB"
        assert parse_submitted_job(list(result.messages)) == "123456/QUSER/MYJOB"
        assert result.outcome() is Outcome.IN_PROGRESS

    def test_other_ids_are_ignored(self) -> None:
        assert parse_submitted_job([msg("CPF9999", "Job 123456/QUSER/MYJOB")]) is None


class TestObjectLists:
    def test_not_restored_objects(self) -> None:
        messages = [
            msg("CPF3756", "*FILE ORDERS not restored to APPLIB.", MessageType.DIAGNOSTIC),
            msg("CPF3756", "*PGM PAY$CALC not restored to APP#LIB.", MessageType.DIAGNOSTIC),
            msg(
                "CPF3756", "*FILE ORDERS nicht in APPLIB zurückgespeichert.", MessageType.DIAGNOSTIC
            ),
            msg("CPF3773", "10 objects restored. 3 not restored to APPLIB."),
        ]
        assert objects_not_restored(messages) == (
            NotRestoredObject("APPLIB", "ORDERS", "*FILE"),
            NotRestoredObject("APP#LIB", "PAY$CALC", "*PGM"),
        )
        assert unreadable_messages(messages) == (messages[2],)

    def test_not_saved_objects_cannot_be_read_from_text(self) -> None:
        messages = [
            msg("CPF379A", "Object QASAVOBJ not saved.", MessageType.DIAGNOSTIC),
            msg("CPF3771", "9 objects saved from APPLIB. 1 not saved."),
        ]
        assert objects_not_saved(messages) == ()


class TestPurity:
    def test_imports_only_stdlib(self) -> None:
        tree = ast.parse(Path(mod.__file__).read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert imported <= set(sys.stdlib_module_names)
        assert "airflow" not in imported


_MESSAGE_START = re.compile(rf"{MESSAGE_ID_PATTERN}:")
_lines = st.lists(
    st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=60).filter(
        lambda line: _MESSAGE_START.match(line) is None
    ),
    max_size=20,
)


@given(lines=_lines, exit_status=st.sampled_from([0, 1, 255]))
def test_property_non_message_lines_are_spool(lines: list[str], exit_status: int) -> None:
    stdout = "".join(f"{line}\n" for line in lines)
    result = parse_system_output(stdout, "", exit_status)
    assert result.messages == ()
    assert result.spool_lines == tuple(lines)


@given(stdout=st.text(), stderr=st.text(), exit_status=st.integers(-1000, 1000))
def test_property_never_raises(stdout: str, stderr: str, exit_status: int) -> None:
    result = parse_system_output(stdout, stderr, exit_status)
    assert isinstance(result.outcome(), Outcome)
    for message in result.messages:
        assert re.fullmatch(MESSAGE_ID_PATTERN, message.msg_id or "")
        classify(message)
        _ = message.counts
    parse_submitted_job(result)


def test_a_command_that_exits_0_with_an_unknown_completion_id_completed() -> None:
    # PASE system exits 0 only when no escape was sent (ibmi.md §2.3).
    result = parse_system_output("SIM1106: End of group ORDERS submitted.\n", "", 0)
    assert result.outcome() is Outcome.OK


def test_an_unknown_escape_is_never_taken_for_success() -> None:
    result = parse_system_output("", "SIM9999: Something went wrong.\n", 255)
    assert result.outcome() not in (Outcome.OK, Outcome.INFO)

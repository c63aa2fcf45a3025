"""Unit tests of the pieces behind the SSH surface: messages, save-file archive, PASE output."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ibmi_sim import messages, pase
from ibmi_sim.config import LibrarySeed, SimConfig
from ibmi_sim.jobs import Escape, make_message
from ibmi_sim.savf import (
    RECORD_LENGTH,
    ArchivedObject,
    SavfDamaged,
    SavfEmpty,
    read_archive,
    synthetic_payload,
    write_archive,
)
from ibmi_sim.seed import library_objects


class TestMessages:
    def test_render_fills_variables_in_order(self) -> None:
        assert (
            messages.render("CPC3703", 2, "TEST", "TEST") == "2 objects restored from TEST to TEST."
        )

    def test_ids_are_seven_characters_and_unique(self) -> None:
        assert all(len(m) == 7 for m in messages.MESSAGES)

    def test_guesses_are_listed(self) -> None:
        ids = {m.msg_id for m in messages.guessed()}
        assert {"CPF0001", "CPC2195", "CPF3794"} <= ids
        assert "CPC3722" not in ids  # observed on a real system (ibmi.md §5.3)

    def test_line_format_is_id_colon_one_space(self) -> None:
        assert make_message("CPF1054", "QBATCH").line() == "CPF1054: No subsystem QBATCH active."


def _archive(tmp_path: Path) -> Path:
    objects = [
        ArchivedObject("F1", "*FILE", "PF", 10_000, 1, "a" * 64, "QSECOFR", "", 1000),
        ArchivedObject("P1", "*PGM", "CLLE", 500, 3, "b" * 64, "QSECOFR", "x", 7),
    ]
    path = tmp_path / "X.FILE"
    payloads = iter([synthetic_payload(o.content_hash, o.payload_len) for o in objects])
    write_archive(path, {"library": "APPLIB"}, objects, payloads)
    return path


class TestSaveFileArchive:
    def test_round_trip(self, tmp_path: Path) -> None:
        path = _archive(tmp_path)
        assert path.stat().st_size % RECORD_LENGTH == 0
        archive = read_archive(path)
        assert archive.meta["library"] == "APPLIB"
        assert [o.name for o in archive.objects] == ["F1", "P1"]
        assert archive.read_payload(1) == b"".join(synthetic_payload("b" * 64, 7))

    def test_one_flipped_byte_is_detected(self, tmp_path: Path) -> None:
        path = _archive(tmp_path)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(SavfDamaged, match="checksum"):
            read_archive(path)

    @pytest.mark.parametrize("keep", [0.1, 0.5, 0.99])
    def test_truncation_is_detected(self, tmp_path: Path, keep: float) -> None:
        path = _archive(tmp_path)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(SavfDamaged):
            read_archive(path)

    @settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(position=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
    def test_every_single_bit_flip_is_detected(
        self, tmp_path: Path, position: float, bit: int
    ) -> None:
        """Magic, length, header, payload, checksum or padding: no flip goes unnoticed."""
        path = _archive(tmp_path)
        data = bytearray(path.read_bytes())
        data[int(position * len(data))] ^= 1 << bit
        path.write_bytes(bytes(data))
        with pytest.raises(SavfDamaged):
            read_archive(path)

    @settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(keep=st.floats(0, 1, exclude_max=True))
    def test_every_truncation_is_detected(self, tmp_path: Path, keep: float) -> None:
        path = _archive(tmp_path)
        data = path.read_bytes()
        path.write_bytes(data[: int(keep * len(data))])
        with pytest.raises((SavfDamaged, SavfEmpty)):
            read_archive(path)

    def test_empty_save_file(self, tmp_path: Path) -> None:
        path = tmp_path / "E.FILE"
        path.write_bytes(b"")
        with pytest.raises(SavfEmpty):
            read_archive(path)


class TestPaseSystem:
    def test_options_and_joined_arguments(self) -> None:
        call = pase.parse_argv(["-qv", "-n", "CRTLIB", "LIB(X)"])
        assert call is not None
        assert call.flags == frozenset("qvn")
        assert call.command == "CRTLIB LIB(X)"

    @pytest.mark.parametrize("argv", [[], ["-x", "CRTLIB LIB(X)"], ["-i"]])
    def test_usage_errors(self, argv: list[str]) -> None:
        assert pase.parse_argv(argv) is None

    def test_escape_goes_to_stderr_with_255(self) -> None:
        call = pase.parse_argv(["CRTSAVF FILE(A/B)"])
        assert call is not None
        diag = make_message("CPF5813", "B", "A")
        esc = make_message("CPF7302", "B", "A")
        out, err, rc = pase.format_result(call, [diag, esc], Escape("CPF7302", "B", "A"))
        assert (out, rc) == ("", 255)
        assert err == (
            "CPF5813: File B in library A already exists.\n"
            "CPF7302: File B not created in library A.\n"
        )

    def test_no_ids_and_quiet(self) -> None:
        done = [make_message("CPC2102", "X")]
        n_call = pase.parse_argv(["-n", "CRTLIB X"])
        q_call = pase.parse_argv(["-q", "CRTLIB X"])
        assert n_call is not None and q_call is not None
        assert pase.format_result(n_call, done, None) == ("Library X created.\n", "", 0)
        assert pase.format_result(q_call, done, None) == ("", "", 0)


class TestConfigAndSeed:
    def test_names_follow_ibm_rules(self) -> None:
        with pytest.raises(ValueError):
            LibrarySeed(name="much_too_long_name")
        assert LibrarySeed(name="applib").name == "APPLIB"

    def test_seed_is_deterministic_and_sized(self) -> None:
        lib = LibrarySeed(name="APPLIB1", objects=30, data_mb=40)
        first, second = library_objects(lib), library_objects(lib)
        assert first == second
        assert len(first) == 30
        assert sum(o.size_bytes for o in first) == pytest.approx(40e6, rel=0.05)

    def test_database_url(self) -> None:
        cfg = SimConfig(server_url="postgresql://u@h:5433/ignored")
        assert cfg.database_url("ibmi_sim_primary") == "postgresql://u@h:5433/ibmi_sim_primary"


def test_guess_report_lists_behaviours_and_messages() -> None:
    from ibmi_sim.guesses import BEHAVIOUR_GUESSES, report

    text = report()
    assert len(BEHAVIOUR_GUESSES) > 10
    assert "CPC2195" in text and "[SBMJOB]" in text


def test_example_config_is_the_default() -> None:
    from ibmi_sim.config import load_config

    example = Path(__file__).resolve().parents[2] / "ibmi_sim" / "example-config.yaml"
    assert load_config(example) == SimConfig()


def test_every_declared_command_has_an_implementation() -> None:
    from ibmi_sim.cl_specs import SPECS
    from ibmi_sim.commands import HANDLERS

    assert set(SPECS) == set(HANDLERS)

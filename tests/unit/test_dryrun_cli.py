"""Tests for the dry-run rendering (ibmi_resync.dryrun) and `python -m ibmi_resync plan`.

The dry run is built from the same steps a real run executes, so the text must show every
phase, every step and the exact CL; the JSON must carry the same steps; the CLI must answer
a bad plan or a bad trigger with exit code 2 and the field path, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from plan_fixtures import ROOT, build_plan, demo_data, demo_plan, set_at, write_files

from ibmi_resync.__main__ import main
from ibmi_resync.dryrun import render_json, render_text
from ibmi_resync.plan import Plan, RunOptions
from ibmi_resync.program import Phase, Step, batch_job_name, resync_program

DEMO = "config/demo-plan.yaml"


@pytest.fixture(autouse=True)
def _in_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return demo_plan()


@pytest.fixture(scope="module")
def steps(plan: Plan) -> list[Step]:
    return resync_program(plan, RunOptions(dry_run=True))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["plan", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---- render_text -----------------------------------------------------------------------------


def test_the_header_names_plan_nodes_profile_and_counts(plan: Plan, steps: list[Step]) -> None:
    text = render_text(plan, steps, RunOptions())
    lines = text.splitlines()
    changing = sum(1 for s in steps if s.changes_node)
    assert lines[:3] == [
        "Resync plan 'demo-pair': groups SYSTEM, ORDERS, BILLING",
        "PRIMARY = SIMPRI (ssh ibmi_primary_ssh, odbc ibmi_primary_odbc); "
        "BACKUP = SIMBCK (ssh ibmi_backup_ssh, odbc ibmi_backup_odbc)",
        f"Site profile 'ibmi-sim'; {len(steps)} steps, {changing} of them change a node. "
        "Dry run: nothing below is sent.",
    ]
    assert 0 < changing < len(steps)
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_every_phase_heading_appears_once_in_order(plan: Plan, steps: list[Step]) -> None:
    lines = render_text(plan, steps, RunOptions()).splitlines()
    headings = [line for line in lines if line.startswith("Phase ")]
    assert headings == [f"Phase {phase.value}: {phase.title}" for phase in Phase]
    assert headings[0] == "Phase 0: Pre-flight checks"
    assert headings[11] == "Phase 11: Final sync checks per group (runbook, last step)"
    for heading in headings:
        assert lines[lines.index(heading) - 1] == ""


def test_every_step_is_numbered_per_phase_and_node(plan: Plan, steps: list[Step]) -> None:
    text = render_text(plan, steps, RunOptions())
    numbered = [line for line in text.splitlines() if line[:8].strip().rstrip(".").isdigit()]
    assert len(numbered) == len(steps)
    on_primary = sum(1 for s in steps if s.phase == Phase.RESTORE and s.node == "PRIMARY")
    on_backup = sum(1 for s in steps if s.phase == Phase.RESTORE and s.node == "BACKUP")
    restore = text.split("Phase 6:")[1].split("Phase 7:")[0]
    assert on_primary == 0 and "  on PRIMARY:" not in restore
    assert f"    {on_backup:>3}. " in restore and f"    {on_backup + 1:>3}. " not in restore


def test_the_exact_rstlib_lines(plan: Plan, steps: list[Step]) -> None:
    text = render_text(plan, steps, RunOptions())
    job = batch_job_name("RL", "dry-run", "ORDHIST")
    assert (
        "[ORDERS] SBMJOB  QSYS/SBMJOB CMD(QSYS/RSTLIB SAVLIB(ORDHIST) DEV(*SAVF) "
        "SAVF(RSYNCSAVF/ORDHIST) OPTION(*ALL) MBROPT(*ALL) ALWOBJDIF(*ALL) RSTLIB(*SAVLIB)) "
        f"JOB({job}) LOG(4 00 *SECLVL) LOGCLPGM(*YES)\n"
    ) in text
    assert f"when: unless job {job} of this run already exists (then attach to it)\n" in text
    assert "with (<qualified job name from CPC1221>)\n" in text
    assert (
        "until job ended (V_JOB_STATUS *OUTQ or no longer found); every 1 s, timeout 3600 s\n"
        in (text)
    )
    assert "note: verify: CPC3703, or CPF3773 with 0 not restored\n" in text


def test_sql_is_one_line_with_json_params(plan: Plan, steps: list[Step]) -> None:
    text = render_text(plan, steps, RunOptions())
    assert (
        "SQL     SELECT STATUS, CURRENT_ACTIVE_JOBS FROM QSYS2.SUBSYSTEM_INFO WHERE "
        "SUBSYSTEM_DESCRIPTION_LIBRARY = ? AND SUBSYSTEM_DESCRIPTION = ?\n"
    ) in text
    assert 'with ("ICLUSTER", "XDMCLUSTER")\n' in text
    assert 'with ("SYSTEM", <time the mark started>)\n' in text
    assert 'with ("ORDERS", <time the sync check started>)\n' in text


def test_the_group_label_prefixes_group_steps(plan: Plan, steps: list[Step]) -> None:
    text = render_text(plan, steps, RunOptions())
    assert "[BILLING] CL      QSYS/CLRLIB LIB(BILLIB)\n" in text
    assert "[SYSTEM] CL      ICLUSTER/DMMRKPOS GROUP(SYSTEM)\n" in text
    assert "   1. CL      QSYS/CHKOBJ OBJ(QSYS/ICLUSTER) OBJTYPE(*LIB)\n" in text


def test_shell_mode_shows_the_exact_ssh_lines(plan: Plan, steps: list[Step]) -> None:
    text = render_text(plan, steps, RunOptions(), shell=True)
    assert "CL      system 'QSYS/CLRLIB LIB(BILLIB)'\n" in text
    for step in steps:
        if step.kind in ("CL", "SBMJOB"):
            assert step.shell in text
    assert "QSYS/CLRLIB LIB(BILLIB)\n" not in text.replace("'QSYS/CLRLIB LIB(BILLIB)'", "")
    system_lines = [line for line in text.splitlines() if "system '" in line]
    cl_commands = [s for s in steps if s.shell and s.shell.startswith("system '")]
    assert len(system_lines) == len(cl_commands) > 50


def test_the_approval_step_is_shown_when_required(plan: Plan) -> None:
    options = RunOptions(approvals_required=True)
    text = render_text(plan, resync_program(plan, options), options)
    clear = text.split("Phase 5:")[1].split("Phase 6:")[0]
    assert "approve clearing the target libraries on BACKUP\n" in clear
    assert "note: Reject when nobody answers\n" in clear
    assert "approve clearing" not in render_text(plan, resync_program(plan), RunOptions())


def test_the_approval_kind_and_text_are_separated(plan: Plan) -> None:
    options = RunOptions(approvals_required=True)
    text = render_text(plan, resync_program(plan, options), options)
    assert "APPROVAL approve clearing the target libraries on BACKUP\n" in text


def test_a_subset_header_and_body(plan: Plan) -> None:
    options = RunOptions(groups=("billing",))
    text = render_text(plan, resync_program(plan, options), options)
    assert text.startswith("Resync plan 'demo-pair': groups BILLING\n")
    assert "ORDLIB" not in text and "SECLIB" not in text and "[ORDERS]" not in text


# ---- render_json -----------------------------------------------------------------------------


def test_json_has_every_step_with_its_fields(steps: list[Step]) -> None:
    records = json.loads(render_json(steps))
    assert len(records) == len(steps)
    for record, step in zip(records, steps, strict=True):
        assert record["phase"] == int(step.phase)
        assert (record["node"], record["kind"], record["text"]) == (step.node, step.kind, step.text)
        assert (record["group"], record["subject"], record["job"]) == (
            step.group,
            step.subject,
            step.job,
        )
        assert record["changes_node"] is step.changes_node
        assert record["shell"] == step.shell
        assert record["timeout_seconds"] == step.timeout_seconds
        assert record["notes"] == list(step.notes)
        assert len(record["params"]) == len(step.params)
    assert set(records[0]) == {
        "phase",
        "node",
        "kind",
        "text",
        "params",
        "group",
        "subject",
        "changes_node",
        "condition",
        "until",
        "timeout_seconds",
        "poll_seconds",
        "job",
        "shell",
        "notes",
        "guard",
        "accept",
        "check",
        "expect",
        "wait",
    }


def test_json_plain_params_are_json_values(steps: list[Step]) -> None:
    records = json.loads(render_json(steps))
    plain = [
        (r["params"], list(s.params))
        for r, s in zip(records, steps, strict=True)
        if s.params and all(isinstance(p, str) for p in s.params)
    ]
    assert plain and all(got == want for got, want in plain)


def test_json_shows_a_run_time_parameter_as_in_the_text(steps: list[Step]) -> None:
    records = json.loads(render_json(steps))
    waits = [
        r for r in records if r["kind"] == "WAIT" and r["phase"] == 2 and len(r["params"]) == 2
    ]
    assert waits[0]["params"] == ["SYSTEM", "<time the mark started>"]


# ---- the command line ------------------------------------------------------------------------


def test_cli_prints_the_dry_run(capsys: pytest.CaptureFixture[str], plan: Plan) -> None:
    code, out, err = run_cli(capsys, DEMO)
    assert (code, err) == (0, "")
    assert out == render_text(plan, resync_program(plan, RunOptions(dry_run=True)), RunOptions())
    for phase in Phase:
        assert f"\nPhase {phase.value}: {phase.title}\n" in out
    assert "QSYS/RSTLIB SAVLIB(ORDLIB) DEV(*SAVF) SAVF(RSYNCSAVF/ORDLIB) OPTION(*ALL)" in out


def test_cli_json_has_as_many_steps_as_the_program(
    capsys: pytest.CaptureFixture[str], plan: Plan
) -> None:
    code, out, err = run_cli(capsys, DEMO, "--json")
    assert (code, err) == (0, "")
    records = json.loads(out)
    program = resync_program(plan, RunOptions(dry_run=True))
    assert len(records) == len(program)
    assert [r["text"] for r in records] == [s.text for s in program]


def test_cli_shell_prints_system_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, DEMO, "--shell")
    assert code == 0
    assert "CL      system 'QSYS/CHKOBJ OBJ(QSYS/ICLUSTER) OBJTYPE(*LIB)'\n" in out
    assert "CL      system 'ICLUSTER/DMMRKPOS GROUP(ORDERS)'\n" in out
    assert "SBMJOB  system 'QSYS/SBMJOB CMD(QSYS/RSTLIB SAVLIB(ORDLIB) " in out


def test_cli_groups_subset(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, DEMO, "--groups", " orders ,billing,")
    assert code == 0
    assert out.startswith("Resync plan 'demo-pair': groups ORDERS, BILLING\n")
    assert "SECLIB" not in out and "RSTUSRPRF" not in out


def test_cli_empty_groups_means_all(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, DEMO, "--groups", "")
    assert code == 0
    assert out.startswith("Resync plan 'demo-pair': groups SYSTEM, ORDERS, BILLING\n")


@pytest.mark.parametrize(
    ("groups", "field", "value"),
    [
        ("NOPE", "groups[0]", "NOPE"),
        ("ORDERS,NOPE", "groups[1]", "NOPE"),
        ("A) RMVLIB(", "groups[0]", "A) RMVLIB("),
        ("ORDERS,X'Y", "groups[1]", "X'Y"),
    ],
)
def test_cli_unknown_group_exits_2_naming_the_index(
    capsys: pytest.CaptureFixture[str], groups: str, field: str, value: str
) -> None:
    code, out, err = run_cli(capsys, DEMO, "--groups", groups)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: trigger params: {field}: ")
    assert repr(value) in err
    assert "Traceback" not in err


def test_cli_no_approval_removes_the_approval(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = demo_data()
    data["approvals_required"] = True
    path = write_files(tmp_path, data)
    code, out, _ = run_cli(capsys, str(path))
    assert code == 0 and "approve clearing the target libraries on BACKUP" in out
    code, out, _ = run_cli(capsys, str(path), "--no-approval")
    assert code == 0 and "approve clearing" not in out


def test_cli_bad_plan_exits_2_with_file_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = set_at(demo_data(), "groups[1].libraries[0]", "QSYS")
    path = write_files(tmp_path, data)
    code, out, err = run_cli(capsys, str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {path}: groups[1].libraries[0]: ")
    assert "(got 'QSYS')" in err


def test_cli_missing_plan_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, str(tmp_path / "nope.yaml"))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {tmp_path / 'nope.yaml'}: cannot read")


def test_cli_non_utf8_plan_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    code, _, err = run_cli(capsys, str(path))
    assert code == 2 and str(path) in err


def test_cli_bad_target_release_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_files(tmp_path, set_at(demo_data(), "target_release", "V7R9"))
    code, _, err = run_cli(capsys, str(path))
    assert code == 2
    assert err.startswith(f"error: {path}: target_release: ")


def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main([])
    assert excinfo.value.code == 2
    with pytest.raises(SystemExit) as excinfo:
        main(["plan"])
    assert excinfo.value.code == 2
    assert "config" in capsys.readouterr().err


def test_python_dash_m_runs_as_a_real_process() -> None:
    env = {**os.environ, "PYTHONPATH": "include"}
    result = subprocess.run(
        [sys.executable, "-m", "ibmi_resync", "plan", "config/demo-plan.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("Resync plan 'demo-pair': groups SYSTEM, ORDERS, BILLING\n")
    assert "\nPhase 11: Final sync checks per group (runbook, last step)\n" in result.stdout


def test_python_dash_m_exit_code_for_a_bad_trigger() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ibmi_resync", "plan", "config/demo-plan.yaml", "--groups", "NOPE"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": "include"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert "groups[0]" in result.stderr


def test_render_text_with_a_one_group_plan() -> None:
    data = demo_data()
    data["groups"] = [{"name": "ONLY", "system": True, "libraries": ["APPDTA"]}]
    plan = build_plan(data)
    text = render_text(plan, resync_program(plan), RunOptions())
    assert text.startswith("Resync plan 'demo-pair': groups ONLY\n")
    assert "[ONLY] CL      QSYS/CLRLIB LIB(APPDTA)\n" in text

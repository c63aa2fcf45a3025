"""Issue 6 item 1 on the real deployment: the worker's task process and the triggerer are
killed in the middle of a restore, and BILLIB is still restored exactly once.

The simulator makes the moment wide enough to hit: BACKUP holds the answer to the SBMJOB of
BILLIB's restore (fault ``answer_late``: the job is submitted and runs, the exit status does
not come) and the restore itself runs long (``restore_slow``). The test then

1. kills (SIGKILL) the task process that is waiting for that answer, as the kernel's OOM
   killer or a node failure would: the attempt never learns whether its job was submitted;
2. lets Airflow retry; the retry must find the restore job on BACKUP (JOB_INFO) and wait for
   it, deferred, instead of submitting a second RSTLIB;
3. kills the triggerer that holds that wait and starts another one, which must take the wait
   over.

Then the run succeeds, BACKUP ran one RSTLIB of BILLIB (its job table and command log), the
pair is in sync and the simulator's invariants hold.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ibmi_sim.invariants import check_invariants
from ibmi_sim.testing import SimPair, wait_for
from scripts import deployment as d
from tests.deploy.test_deployment import deployment  # noqa: F401  (the fixture)
from tests.deploy.test_rerun_failed import _step, deployed_pair
from tests.e2e.test_resync_e2e import _commands, _last_id, _verb

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

RESTORE_TASK = ("restore.restore_group", "BILLING")
# Real seconds: the answer is held longer than it takes the test to see the submitted job and
# kill the process waiting for it; the restore outlasts the retry delay (30 s, dag_parts),
# the retry's start and the triggerer's replacement (its health check threshold is 30 s).
ANSWER_HELD_S = 120.0
RESTORE_EXTRA_S = 150.0


def _ti(api: d.Api, run_id: str, task: tuple[str, str]) -> dict[str, Any] | None:
    for ti in d.RunFollower(api, run_id).task_instances():
        group = (ti.get("rendered_map_index") or "") if ti["map_index"] >= 0 else ""
        if (ti["task_id"], group) == task:
            return ti
    return None


def _task_process(ti_id: str) -> int | None:
    """Pid of the process running task instance ``ti_id``: the task runner names itself
    ``airflow worker -- <ti id>`` (airflow.sdk.execution_time.task_runner)."""
    title = f"airflow worker -- {ti_id}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().rstrip(b"\0").startswith(title):
                    return int(entry.name)
            except OSError:
                continue
    return None


def _restores_of_billib(pair: SimPair, after: int) -> list[str]:
    """The SBMJOBs of a restore of BILLIB in BACKUP's command log (the batch job's own RSTLIB
    is logged too, as the job runs it: not counted)."""
    return [
        command
        for _, command, _, _ in _commands(pair, "backup", after)
        if _verb(command) == "SBMJOB" and _step(command) == "RSTLIB" and "BILLIB" in command
    ]


def _restore_jobs(pair: SimPair, since: datetime) -> list[tuple[str, str, str | None]]:
    """BACKUP's batch jobs restoring BILLIB since ``since``: (name, status, completion)."""
    return pair.query(
        "backup",
        "SELECT job_name, status, completion_status FROM jobs WHERE job_type = 'BCH'"
        " AND command LIKE '%%RSTLIB %%BILLIB%%' AND submitted_at >= %s",
        since,
    )


@pytest.mark.parametrize("deployment", ["LocalExecutor"], indirect=True)
def test_killing_the_worker_and_the_triggerer_mid_restore_restores_once(
    deployment: d.Settings,  # noqa: F811
) -> None:
    with deployed_pair(deployment) as (api, pair):
        _kill_and_check(api, deployment, pair)


def _kill_and_check(api: d.Api, settings: d.Settings, pair: SimPair) -> None:
    since = datetime.now(UTC)
    mark = _last_id(pair, "backup")
    pair.add_fault("backup", "answer_late", target="SBMJOB RSTLIB BILLIB", seconds=ANSWER_HELD_S)
    pair.add_fault("backup", "restore_slow", target="BILLIB", seconds=RESTORE_EXTRA_S)
    run_id = d.trigger(api, {"approvals_required": False, "groups": ["BILLING"]})

    # 1. BACKUP has the restore job; the task process still waits for the answer: kill it.
    submitted = wait_for(lambda: _restores_of_billib(pair, mark), timeout=900, interval=0.2)
    first = _ti(api, run_id, RESTORE_TASK)
    assert first is not None and first["state"] == "running", first
    assert first["try_number"] == 1, first
    pid = wait_for(lambda: _task_process(first["id"]), timeout=10, interval=0.1)
    os.kill(pid, signal.SIGKILL)
    print(f"killed the task process {pid} of {RESTORE_TASK} after {submitted[0]!r}")
    # It was still waiting for the answer (held by the node): the attempt could not defer.
    assert pair.faults("backup")[0]["fired"] == 1, pair.faults("backup")

    # 2. Airflow retries the task; the retry attaches to the job and defers on it.
    def retry_deferred() -> dict[str, Any] | None:
        ti = _ti(api, run_id, RESTORE_TASK)
        return ti if ti and ti["try_number"] == 2 and ti["state"] == "deferred" else None

    retry = wait_for(retry_deferred, timeout=600, interval=1.0)
    active = _restore_jobs(pair, since)
    assert [status for _, status, _ in active] == ["*ACTIVE"], active  # still restoring

    # 3. Kill the triggerer that holds the wait; start another one.
    triggerer = d.running(settings)["triggerer"]
    os.killpg(triggerer, signal.SIGKILL)
    wait_for(lambda: not d.group_members(triggerer), timeout=30, interval=0.2)
    print(f"killed the triggerer {triggerer} while {RESTORE_TASK} waited (try 2)")
    time.sleep(5)
    d.start_components(settings, sys.stdout, names=["triggerer"])

    d.follow_run(api, run_id, sys.stdout, timeout=1200, quiet_seconds=30)
    summary = d.run_summary(api, settings, run_id)
    done = _ti(api, run_id, RESTORE_TASK)
    assert summary["state"] == "success", summary
    assert done is not None and (done["state"], done["try_number"]) == ("success", 2), done
    assert retry["id"] == done["id"]

    # One restore of BILLIB: one RSTLIB submitted, one job, ended clean.
    assert len(_restores_of_billib(pair, mark)) == 1, _restores_of_billib(pair, mark)
    jobs = _restore_jobs(pair, since)
    assert len(jobs) == 1 and jobs[0][1:] == ("*OUTQ", "*NORMAL"), jobs
    assert pair.faults("backup") and all(f["fired"] == 1 for f in pair.faults("backup"))
    libraries = d.pair_sync_state(settings, ["BILLING"])
    assert libraries and all(libraries.values()), libraries
    assert check_invariants(pair, since=since) == []
    report = json.loads(Path(summary["report_json"]).read_text())
    assert "restore_group[BILLING] ran again (attempt 2)" in report["notes"], report["notes"]

"""Notifications through Airflow notifiers, delivered over SMTP to a local sink (aiosmtpd on
127.0.0.1): who gets which mail, with which subject and body, for each event; nothing is sent
when the plan does not ask; a dead mail relay never fails a task; and the callbacks fire from
Airflow itself under `dag.test()` (a failed latency wait in a mapped group, the report task)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller

from ibmi_resync.plan import Plan, load_plan
from ibmi_resync.report import build_report, render_html
from icluster_resync.notifications import (
    ApprovalWaitingNotifier,
    RunFinishedNotifier,
    TaskFailureNotifier,
    resync_notifiers,
)
from icluster_resync.reporting import run_folder

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = ["ha-team@example.com", "oncall@example.org"]
SENDER = "airflow@example.com"
CONN_ID = "resync_smtp_sink"
ALL_EVENTS = ["approval_waiting", "run_failed", "latency_not_resolved", "run_finished"]


class Mail:
    """One message as the sink received it."""

    def __init__(self, envelope: Any) -> None:
        self.sender: str = envelope.mail_from
        self.recipients: list[str] = list(envelope.rcpt_tos)
        self.message: EmailMessage = message_from_bytes(envelope.content, policy=policy.default)  # type: ignore[assignment]

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("html", "plain"))
        assert part is not None, self.message
        return part.get_content()


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps what it is sent."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(Mail(envelope))
        return "250 OK"

    def wait_for(self, count: int, seconds: float = 10.0) -> list[Mail]:
        deadline = time.monotonic() + seconds
        while len(self.mails) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.mails


def _connection(port: int) -> str:
    return json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "extra": {
                "disable_ssl": True,
                "disable_tls": True,
                "from_email": SENDER,
                "retry_limit": 0,
                "timeout": 5,
            },
        }
    )


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.controller.start()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", _connection(server.port))
    try:
        yield server
    finally:
        server.controller.stop()


def _plan_data(events: list[str]) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "config" / "demo-plan.yaml").read_text(encoding="utf-8"))
    data["site_profile"] = str(ROOT / "config" / "site-profiles" / "simulator.yaml")
    data["notifications"] = {
        "recipients": RECIPIENTS,
        "events": events,
        "smtp_conn_id": CONN_ID,
        "subject_prefix": "[iCluster resync]",
    }
    return data


def _plan(tmp_path: Path, events: list[str]) -> Plan:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(_plan_data(events)), encoding="utf-8")
    return load_plan(path)


class FakeTI:
    """The task-instance facts a callback reads (Airflow's RuntimeTaskInstance has them)."""

    def __init__(self, task_id: str, map_index: int = -1, **xcoms: Any) -> None:
        self.task_id, self.map_index = task_id, map_index
        self.run_id, self.dag_id, self.try_number = "manual__2026-11-25T01:00:00", "dag", 3
        self.log_url = f"http://airflow.example.com/dags/icluster_resync/tasks/{task_id}"
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str, **kwargs: Any) -> Any:
        return self.xcoms.get(task_ids)


def _failure_context(task_id: str, group: str | None, error: Exception) -> dict[str, Any]:
    from icluster_resync.operators import ResyncTaskOperator

    resync_task = task_id.rsplit(".", 1)[-1]
    task = ResyncTaskOperator(task_id=resync_task, resync_task=resync_task, group=group)
    return {"ti": FakeTI(task_id, 1 if group else -1), "task": task, "exception": error}


# ---- which notifiers a plan gets ---------------------------------------------------------


def test_a_plan_without_notifications_attaches_nothing() -> None:
    notifiers = resync_notifiers(load_plan(ROOT / "config" / "demo-plan.yaml"))
    assert notifiers.task_failure == notifiers.approval == notifiers.run_finished == ()
    assert notifiers.task_defaults == notifiers.approval_kwargs == notifiers.report_kwargs == {}


def test_each_event_attaches_its_notifier_where_it_belongs(tmp_path: Path) -> None:
    notifiers = resync_notifiers(_plan(tmp_path, ALL_EVENTS))
    (failure,) = notifiers.task_defaults["on_failure_callback"]
    (approval,) = notifiers.approval_kwargs["notifiers"]
    assert isinstance(failure, TaskFailureNotifier)
    assert isinstance(approval, ApprovalWaitingNotifier)
    report = notifiers.report_kwargs
    assert report["on_success_callback"] == report["on_failure_callback"]
    assert isinstance(report["on_success_callback"][0], RunFinishedNotifier)
    only_latency = resync_notifiers(_plan(tmp_path, ["latency_not_resolved"]))
    assert only_latency.task_defaults and not only_latency.approval_kwargs
    assert only_latency.report_kwargs == {}


# ---- the mails ---------------------------------------------------------------------------


def _step(at: str, text: str) -> dict[str, Any]:
    return {"at": at, "node": "PRIMARY", "kind": "CL", "text": text, "result": "OK"}


RESULTS = [
    {
        "task": "end_applications",
        "log": [_step("2026-11-25T01:00:00+00:00", "QSYS/ENDSBS SBS(APPSBS) OPTION(*CNTRLD)")],
    },
    {
        "task": "restart_applications",
        "log": [_step("2026-11-25T01:07:30.500+00:00", "QSYS/STRSBS SBSD(APPLIB/APPSBS)")],
    },
    {
        "task": "final_sync_check",
        "group": "ORDERS",
        "event:ORDERS:11": {"message_text": "Sync check for ORDERS ended: 3 objects out of sync."},
        "log": [],
    },
]


def test_a_failed_task_mails_its_phase_group_and_message(tmp_path: Path, sink: SmtpSink) -> None:
    (notifier,) = resync_notifiers(_plan(tmp_path, ["run_failed"])).task_failure
    error = RuntimeError(
        "SIMPRI, phase 3 (save), group ORDERS, ORDLIB: CPF3777: 2 objects not saved: "
        "ORDLIB/ORDHDR <ORDLIB/X>"
    )
    notifier(_failure_context("outage.mark_and_save", "ORDERS", error))
    (mail,) = sink.wait_for(1)
    assert mail.sender == SENDER
    assert mail.recipients == RECIPIENTS
    assert str(mail.message["To"]) == ", ".join(RECIPIENTS)
    assert str(mail.message["X-Resync-Event"]) == "run_failed"
    assert mail.subject == (
        "[iCluster resync] demo-pair: FAILED in phase 3: Save, verify, restart the "
        "applications (runbook step 3) for group ORDERS"
    )
    for expected in (
        "outage.mark_and_save",
        "<td>ORDERS</td>",
        "RuntimeError: SIMPRI, phase 3 (save), group ORDERS, ORDLIB: CPF3777: 2 objects not "
        "saved: ORDLIB/ORDHDR &lt;ORDLIB/X&gt;",
        "<td>3</td>",  # the attempt
        "manual__2026-11-25T01:00:00",
        "http://airflow.example.com/dags/icluster_resync/tasks/outage.mark_and_save",
    ):
        assert expected in mail.body, expected


def test_a_latency_wait_that_fails_mails_latency_not_resolved(
    tmp_path: Path, sink: SmtpSink
) -> None:
    (notifier,) = resync_notifiers(_plan(tmp_path, ["latency_not_resolved"])).task_failure
    seen = "source latency 41.0 s, apply latency 3.0 s, backlog 1200, last applied 77"
    error = (
        f"SIMBCK, phase 10 (latency), group BILLING: wait for latency_resolved timed out: {seen}"
    )
    notifier(_failure_context("replicate.replicate_group", "BILLING", RuntimeError(error)))
    (mail,) = sink.wait_for(1)
    assert mail.subject == "[iCluster resync] demo-pair: latency not resolved for group BILLING"
    assert str(mail.message["X-Resync-Event"]) == "latency_not_resolved"
    assert seen in mail.body
    assert "phase 10: Wait until latency resolves" in mail.body


def test_events_not_asked_for_are_not_sent_and_latency_counts_as_a_failure(
    tmp_path: Path, sink: SmtpSink
) -> None:
    (only_latency,) = resync_notifiers(_plan(tmp_path, ["latency_not_resolved"])).task_failure
    only_latency(_failure_context("outage.mark_and_save", "ORDERS", RuntimeError("x")))
    final = RuntimeError("SIMBCK, phase 11 (final_sync_check), group ORDERS: 3 out of sync")
    only_latency(_failure_context("replicate.replicate_group", "ORDERS", final))
    assert sink.wait_for(1, seconds=0.5) == []
    (only_failures,) = resync_notifiers(_plan(tmp_path, ["run_failed"])).task_failure
    latency = RuntimeError("SIMBCK, phase 10 (latency), group ORDERS: wait ... failed: y")
    only_failures(_failure_context("replicate.replicate_group", "ORDERS", latency))
    (mail,) = sink.wait_for(1)
    assert str(mail.message["X-Resync-Event"]) == "run_failed"
    assert "latency not resolved for group ORDERS" in mail.subject


def test_an_approval_mails_once_when_it_starts_waiting(
    tmp_path: Path, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ApprovalOperator calls its notifiers in execute(), after recording the request and
    before it parks in awaiting_input, the way the DAG's `approve_clearing` will."""
    from airflow.providers.standard.operators import hitl
    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.sdk.exceptions import TaskAwaitingInput

    requests: list[dict[str, Any]] = []
    monkeypatch.setattr(hitl, "upsert_hitl_detail", lambda **kwargs: requests.append(kwargs))
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example.com:8080")
    plan = _plan(tmp_path, ["approval_waiting"])
    approve = ApprovalOperator(
        task_id="approve_clearing",
        subject="Clear the target libraries on BACKUP and restore them?",
        body=f"Plan {plan.name}: libraries of the run's groups will be cleared on SIMBCK.",
        defaults="Reject",
        fail_on_reject=True,
        response_timeout=timedelta(seconds=plan.timeouts.approval),
        **resync_notifiers(plan).approval_kwargs,
    )
    ti = FakeTI("approve_clearing", select_groups=["SYSTEM", "ORDERS"])
    ti.id = "0190c0de-0000-7000-8000-000000000001"  # type: ignore[attr-defined]
    with pytest.raises(TaskAwaitingInput):
        approve.execute({"ti": ti, "task_instance": ti, "task": approve})  # type: ignore[arg-type]
    assert len(requests) == 1
    (mail,) = sink.wait_for(1)
    assert mail.recipients == RECIPIENTS
    assert mail.subject == (
        "[iCluster resync] demo-pair: approval waiting to clear libraries on SIMBCK"
    )
    for expected in (
        "Clear the target libraries on BACKUP and restore them?",
        "SIMBCK (BACKUP)",
        "SYSTEM, ORDERS",
        "1 h 0 min, then the answer is Reject",
        "http://airflow.example.com:8080/dags/dag/runs/manual__2026-11-25T01:00:00/tasks/"
        "approve_clearing/required_actions?map_index=-1",
    ):
        assert expected in mail.body, expected


def test_a_finished_run_mails_its_status_and_outage_window(
    tmp_path: Path, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IBMI_RESYNC_REPORTS", str(tmp_path / "reports"))
    run_id = "manual__2026-11-25T01:00:00+00:00"
    report = build_report(
        plan_name="demo-pair",
        run_id=run_id,
        task_results=RESULTS,
        task_states={"outage.save_group": "success"},
        sync_check_pattern="(?P<differences>[0-9]+) objects? out of sync",
    )
    folder = run_folder(run_id)
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
    (folder / "report.html").write_text(render_html(report), encoding="utf-8")
    (notifier,) = resync_notifiers(_plan(tmp_path, ["run_finished"])).run_finished
    ti = FakeTI("write_report")
    ti.run_id = run_id
    notifier({"ti": ti})
    (mail,) = sink.wait_for(1)
    assert mail.subject == "[iCluster resync] demo-pair: resync WARN, outage 7 min 30 s"
    for expected in (
        "<td>WARN</td>",
        "2026-11-25T01:00:00+00:00",
        "2026-11-25T01:07:30.500000+00:00",
        "7 min 30 s",
        str(folder / "report.html"),
        "group ORDERS: 3 objects out of sync (threshold 0)",
    ):
        assert expected in mail.body, expected


def test_a_missing_report_still_announces_the_end_as_fail(tmp_path: Path, sink: SmtpSink) -> None:
    (notifier,) = resync_notifiers(_plan(tmp_path, ["run_finished"])).run_finished
    notifier({"ti": FakeTI("write_report"), "exception": RuntimeError("disk full")})
    (mail,) = sink.wait_for(1)
    assert mail.subject == "[iCluster resync] demo-pair: resync FAIL, no outage"
    assert "report task failed: disk full" in mail.body


def test_a_dead_mail_relay_is_logged_and_fails_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", _connection(closed_port))
    (notifier,) = resync_notifiers(_plan(tmp_path, ["run_failed"])).task_failure
    notifier(_failure_context("preflight", None, RuntimeError("node unreachable")))
    logged = "".join(capfd.readouterr())
    assert "could not send the run_failed notice" in logged
    assert "Connection refused" in logged


def test_a_notifier_delivers_anywhere_through_deliver(tmp_path: Path) -> None:
    sent: list[Any] = []
    plan = _plan(tmp_path, ["run_failed"])
    (notifier,) = resync_notifiers(plan, deliver=lambda n, c: sent.append(n)).task_failure
    notifier(_failure_context("start_cluster", None, RuntimeError("CPFA0D4")))
    assert [notice.event for notice in sent] == ["run_failed"]


# ---- from Airflow itself -----------------------------------------------------------------

PROBE_DAG = '''
"""A DAG shaped like the resync's latency phase, wired the way dags/icluster_resync.py is."""
import pendulum
from airflow.sdk import DAG, BaseOperator, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk import task_group

from ibmi_resync.plan import load_plan
from icluster_resync.notifications import resync_notifiers
from icluster_resync.operators import plan_path
from icluster_resync.reporting import write_run_report

PLAN = load_plan(plan_path())
NOTIFY = resync_notifiers(PLAN)


class LatencyWait(BaseOperator):
    """Stands in for ResyncTaskOperator(resync_task="replicate_group"): a templated group."""

    template_fields = ("group",)

    def __init__(self, *, group, **kwargs):
        super().__init__(**kwargs)
        self.group = group

    def execute(self, context):
        if self.group == "ORDERS":
            raise AirflowFailException(
                "SIMBCK, phase 10 (latency), group ORDERS: wait for latency_resolved timed "
                "out: source latency 41.0 s, apply latency 2.0 s, backlog 1200, last applied 77"
            )
        return {"task": "replicate_group", "group": self.group, "log": []}


with DAG(
    dag_id="icluster_resync_notify_probe",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    default_args={"owner": "ibm-i-ha", "retries": 0, **NOTIFY.task_defaults},
) as dag:

    @task
    def select_groups():
        return ["SYSTEM", "ORDERS"]

    @task_group(group_id="replicate")
    def replicate(group):
        LatencyWait(task_id="replicate_group", group=group)

    replicated = replicate.expand(group=select_groups())

    @task(trigger_rule="all_done", **NOTIFY.report_kwargs)
    def write_report(**context):
        summary = write_run_report(context, PLAN, [])
        if summary["status"] == "FAIL":
            raise AirflowFailException(f"resync FAILED: {'; '.join(summary['reasons'])}")
        return summary

    replicated >> write_report()
'''


@pytest.fixture(scope="module")
def airflow_db() -> Path:
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )
    return Path(os.environ["AIRFLOW_HOME"])


def test_airflow_fires_the_callbacks_of_a_run_and_the_mails_arrive(
    tmp_path: Path, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch, airflow_db: Path
) -> None:
    """Under dag.test(): the mapped instance ORDERS of replicate.replicate_group fails in its
    latency wait, so its
    on_failure_callback mails `latency_not_resolved`; the report task writes a FAIL report and
    fails the run, and its callback mails `run_finished` from that report. No other mail."""
    from airflow.dag_processing.dagbag import DagBag

    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(_plan_data(ALL_EVENTS)), encoding="utf-8")
    monkeypatch.setenv("IBMI_RESYNC_PLAN", str(plan))
    monkeypatch.setenv("IBMI_RESYNC_REPORTS", str(tmp_path / "reports"))
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "notify_probe.py").write_text(PROBE_DAG, encoding="utf-8")
    # dag.test() runs what the bundles hold: add one for this folder, beside the project's.
    bundle = "airflow.dag_processing.bundles.local.LocalDagBundle"
    monkeypatch.setenv(
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
        json.dumps(
            [
                {"name": "dags-folder", "classpath": bundle, "kwargs": {}},
                {"name": "notify-probe", "classpath": bundle, "kwargs": {"path": str(dags)}},
            ]
        ),
    )
    bag = DagBag(dag_folder=str(dags))
    assert bag.import_errors == {}
    run = bag.dags["icluster_resync_notify_probe"].test()
    assert str(run.state) == "failed"
    latency, finished = sink.wait_for(2)
    time.sleep(0.3)
    assert len(sink.mails) == 2, [mail.subject for mail in sink.mails]
    assert latency.recipients == finished.recipients == RECIPIENTS
    assert latency.subject == "[iCluster resync] demo-pair: latency not resolved for group ORDERS"
    assert "source latency 41.0 s" in latency.body
    assert "replicate.replicate_group" in latency.body
    assert finished.subject == "[iCluster resync] demo-pair: resync FAIL, no outage"
    assert "tasks failed: replicate.replicate_group" in finished.body
    assert "report.html" in finished.body

"""The triggerer launcher: its supervisor warms the in-process Execution API as it starts."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from airflow.jobs import triggerer_job_runner

from icluster_resync import triggerer


class _Connections:
    def __init__(self, error: Exception | None = None) -> None:
        self.asked: list[str] = []
        self.error = error

    def get(self, conn_id: str) -> None:
        self.asked.append(conn_id)
        if self.error is not None:
            raise self.error


class _Proc:
    def __init__(self, connections: _Connections) -> None:
        self.client = type("Client", (), {"connections": connections})()


def test_the_warm_up_asks_for_one_connection_through_the_supervisors_client() -> None:
    connections = _Connections()
    seconds = triggerer.warm_up(_Proc(connections))
    assert connections.asked == [triggerer.WARM_UP_CONNECTION]
    assert seconds >= 0


def test_a_failed_warm_up_does_not_stop_the_triggerer(caplog: pytest.LogCaptureFixture) -> None:
    connections = _Connections(RuntimeError("api down"))
    triggerer.warm_up(_Proc(connections))
    assert connections.asked == [triggerer.WARM_UP_CONNECTION]
    assert "Execution API warm-up failed: api down" in caplog.text


def test_the_supervisor_start_warms_the_proc_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []
    warmed: list[Any] = []
    proc = object()

    def parent_start(cls: type, **kwargs: Any) -> object:
        started.append(kwargs)
        return proc

    monkeypatch.setattr(
        triggerer_job_runner.TriggerRunnerSupervisor, "start", classmethod(parent_start)
    )
    monkeypatch.setattr(triggerer, "warm_up", warmed.append)
    assert triggerer.WarmTriggerRunnerSupervisor.start(capacity=5) is proc
    assert started == [{"capacity": 5}]
    assert warmed == [proc]


def test_main_runs_airflow_triggerer_with_the_warm_supervisor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def airflow_main() -> None:
        seen["argv"] = list(sys.argv)
        seen["supervisor"] = triggerer_job_runner.TriggerRunnerSupervisor

    import airflow.__main__

    monkeypatch.setattr(airflow.__main__, "main", airflow_main)
    monkeypatch.setattr(
        triggerer_job_runner,
        "TriggerRunnerSupervisor",
        triggerer_job_runner.TriggerRunnerSupervisor,
    )
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    triggerer.main(["--capacity", "100"])
    assert seen["argv"] == ["airflow", "triggerer", "--capacity", "100"]
    assert seen["supervisor"] is triggerer.WarmTriggerRunnerSupervisor

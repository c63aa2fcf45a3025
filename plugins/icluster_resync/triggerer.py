"""Airflow's triggerer, with its in-process Execution API built before the first trigger.

Why: Airflow 3.3's triggerer answers its triggers' requests (our `NodeQueryTrigger` looks up
the node's ODBC connection) through an Execution API app it builds in its own process, on the
first request. Building it (the versioned routes) took 3.1 s at idle and 4.2-4.8 s during a
run on this 2-core machine (docs/benchmarks.md), and the run's first request is the wait of
`end_applications`: the outage's critical path, every run. This starts the same triggerer
but makes one request (a look-up of a connection that does not exist) as its trigger runner
starts, so the app is built before the applications are ended.

Airflow documents the hook: `TriggerRunnerSupervisor.make_client` may be overridden by a
subclass; `TriggererJobRunner` starts the supervisor by its module-level name, which
`main` points at the subclass. Everything else is `airflow triggerer` unchanged.

Run as ``python -m icluster_resync.triggerer [airflow triggerer options]``
(`scripts/deployment.py`, docker-compose.yml). Remove it if Airflow builds the app at start.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from airflow.jobs import triggerer_job_runner

log = logging.getLogger(__name__)

WARM_UP_CONNECTION = "icluster_resync_warm_up"


class WarmTriggerRunnerSupervisor(triggerer_job_runner.TriggerRunnerSupervisor):
    """The trigger runner's supervisor, its API client used once as it starts."""

    @classmethod
    def start(cls, **kwargs: Any) -> WarmTriggerRunnerSupervisor:  # type: ignore[override]
        proc = super().start(**kwargs)
        warm_up(proc)
        return proc


def warm_up(proc: Any) -> float:
    """One request through `proc`'s client: the in-process app builds its routes now. A
    failure is only logged: the first trigger then pays for the build, as without this."""
    started = time.monotonic()
    try:
        proc.client.connections.get(WARM_UP_CONNECTION)
    except Exception as error:  # the triggerer must start whatever the warm-up does
        log.warning("Execution API warm-up failed: %s", error)
    seconds = time.monotonic() - started
    log.info("Execution API built for the triggers in %.2f s", seconds)
    return seconds


def main(argv: list[str] | None = None) -> None:
    """`airflow triggerer` with the warmed supervisor; `argv` are the triggerer's options."""
    triggerer_job_runner.TriggerRunnerSupervisor = WarmTriggerRunnerSupervisor  # type: ignore[misc]
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", "triggerer", *(sys.argv[1:] if argv is None else argv)]
    airflow_main()


if __name__ == "__main__":
    main()

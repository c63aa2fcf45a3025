"""A real Airflow deployment of the resync on one machine: what `make demo` and `make down` run.

Airflow 3.3 as separate processes (api-server, scheduler, dag-processor, triggerer; with
CeleryExecutor also one `airflow celery worker`) on a PostgreSQL metadata database, next to the
simulated PRIMARY/BACKUP pair. Everything lives under one state folder (default `.state/`):

    .state/airflow/          AIRFLOW_HOME: task logs, secrets, the SimpleAuthManager passwords
    .state/airflow/logs/components/<name>.log   each component's own output
    .state/sim/              the simulated pair (python -m ibmi_sim up --state ...)
    .state/reports/          run reports (IBMI_RESYNC_REPORTS)
    .state/pids/<name>.json  what was started: pid (= process group), command, start time

Each component is started in a session of its own, so its process group holds everything it
forks (LocalExecutor workers, task supervisors, uvicorn workers); `stop` ends exactly the groups
recorded in the pid files (after checking that the pid still is the process that was started)
and then the simulated pair. Nothing here is imported by the product.

Environment (all optional): IBMI_RESYNC_STATE_DIR, IBMI_RESYNC_METADATA_URL,
IBMI_RESYNC_API_PORT, IBMI_RESYNC_API_HOST, IBMI_RESYNC_EXECUTOR (LocalExecutor |
CeleryExecutor), IBMI_RESYNC_BROKER_URL, IBMI_RESYNC_PARALLELISM, IBMI_RESYNC_WORKER_LOG_PORT,
IBMI_RESYNC_TRIGGER_LOG_PORT, IBMI_RESYNC_CELERY_QUEUE, IBMI_RESYNC_PLAN,
IBMI_RESYNC_SIM_CONFIG.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
# The DAG the demo triggers and follows: the resync, or (make demo DEMO_DAG=...) the
# rehearsal or the network sync, which run on the same deployment and pair.
DAG_IDS = ("icluster_resync", "icluster_rehearsal", "icluster_network_sync")
DAG_ID = os.environ.get("DEMO_DAG") or DAG_IDS[0]
EXECUTOR_CLASSES = {
    "LocalExecutor": "icluster_resync.executors.ResyncLocalExecutor",
    "CeleryExecutor": "icluster_resync.celery_executor.ResyncCeleryExecutor",
}
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
CELERY_WORKER = "celery-worker"
CELERY_CONFIG = "icluster_resync.celery_config.CELERY_CONFIG"
# Airflow's default DAG bundle (same name), loading the DAG files' imports once in the
# dag-processor before it forks its parses (icluster_resync.bundles says why).
DAG_BUNDLES = json.dumps(
    [
        {
            "name": "dags-folder",
            "classpath": "icluster_resync.bundles.PreloadedDagsFolder",
            "kwargs": {},
        }
    ]
)
DEFAULT_METADATA_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/icluster_resync_airflow"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_USER = "admin"
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
# Task-instance states that mean "finished" for the progress line.
FINISHED = frozenset({"success", "skipped", "failed", "upstream_failed", "removed"})
ACTIVE = frozenset({"running", "deferred", "queued", "scheduled", "up_for_retry"})
MAPPED_GROUPS = ("outage", "move", "clear", "restore", "check", "replicate")


class DeploymentError(RuntimeError):
    """Something the deployment needs is missing or broken; the message says what to do."""


# ---- settings and environment ------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Where the deployment lives and how its components are configured."""

    state: Path
    metadata_url: str = DEFAULT_METADATA_URL
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    worker_log_port: int = 8793
    trigger_log_port: int = 8794
    executor: str = "LocalExecutor"
    broker_url: str = DEFAULT_BROKER_URL
    # The Celery queue of this deployment's tasks and worker: deployments sharing a broker
    # (a demo and a test, two test sessions) must not take each other's tasks.
    celery_queue: str = "default"
    parallelism: int = 8
    user: str = DEFAULT_USER
    plan: Path = ROOT / "config" / "demo-plan.yaml"
    sim_config: Path = ROOT / "config" / "sim-pair.yaml"
    python: str = sys.executable
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # False: start from an environment without the caller's AIRFLOW* variables (tests, whose
    # process carries its own AIRFLOW_HOME, unit-test mode and connections).
    inherit_airflow_env: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        e = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "state": Path(e.get("IBMI_RESYNC_STATE_DIR") or ROOT / ".state"),
            "metadata_url": e.get("IBMI_RESYNC_METADATA_URL") or DEFAULT_METADATA_URL,
            "api_host": e.get("IBMI_RESYNC_API_HOST") or "127.0.0.1",
            "api_port": int(e.get("IBMI_RESYNC_API_PORT") or 8080),
            "worker_log_port": int(e.get("IBMI_RESYNC_WORKER_LOG_PORT") or 8793),
            "trigger_log_port": int(e.get("IBMI_RESYNC_TRIGGER_LOG_PORT") or 8794),
            "executor": e.get("IBMI_RESYNC_EXECUTOR") or "LocalExecutor",
            "broker_url": e.get("IBMI_RESYNC_BROKER_URL") or DEFAULT_BROKER_URL,
            "celery_queue": e.get("IBMI_RESYNC_CELERY_QUEUE") or "default",
            "parallelism": int(e.get("IBMI_RESYNC_PARALLELISM") or 8),
            "plan": Path(e.get("IBMI_RESYNC_PLAN") or ROOT / "config" / "demo-plan.yaml"),
            "sim_config": Path(
                e.get("IBMI_RESYNC_SIM_CONFIG") or ROOT / "config" / "sim-pair.yaml"
            ),
        }
        values.update(overrides)
        settings = cls(**values)
        if settings.executor not in ("LocalExecutor", "CeleryExecutor"):
            raise DeploymentError(
                f"IBMI_RESYNC_EXECUTOR={settings.executor!r}: use LocalExecutor or CeleryExecutor"
            )
        return replace(settings, state=settings.state.resolve())

    # folders
    @property
    def airflow_home(self) -> Path:
        return self.state / "airflow"

    @property
    def logs(self) -> Path:
        return self.airflow_home / "logs"

    @property
    def component_logs(self) -> Path:
        return self.logs / "components"

    @property
    def sim_state(self) -> Path:
        return self.state / "sim"

    @property
    def reports(self) -> Path:
        return self.state / "reports"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def passwords_file(self) -> Path:
        return self.airflow_home / "simple_auth_manager_passwords.json.generated"

    # endpoints
    @property
    def api_url(self) -> str:
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::") else self.api_host
        return f"http://{host}:{self.api_port}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.api_port}"

    @property
    def airflow(self) -> str:
        return str(Path(self.python).with_name("airflow"))

    @property
    def components(self) -> tuple[str, ...]:
        if self.executor == "CeleryExecutor":
            return (*AIRFLOW_COMPONENTS, CELERY_WORKER)
        return AIRFLOW_COMPONENTS

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_url}/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}"


def _secrets(settings: Settings) -> dict[str, str]:
    """JWT signing secret and API secret key, generated once per state folder (all components
    must share them: airflow.md, "A real deployment on one machine")."""
    path = settings.airflow_home / "secrets.json"
    with contextlib.suppress(OSError, ValueError):
        return json.loads(path.read_text())
    values = {"jwt_secret": secrets.token_urlsafe(64), "secret_key": secrets.token_urlsafe(32)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def celery_result_backend(metadata_url: str) -> str:
    """Celery's database result backend on the metadata database: `db+` and the same URL,
    driver included (SQLAlchemy 2.1 takes plain `postgresql://` as psycopg 3, not installed)."""
    return f"db+{metadata_url}"


def env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every Airflow command and component of this deployment."""
    keys = _secrets(settings)
    result = dict(os.environ if base is None else base)
    for name in list(result):
        # The pair's connections live in the metadata database (`connections import`); an
        # AIRFLOW_CONN_* of the caller would silently win over them.
        if name.startswith("AIRFLOW_CONN_") or (
            not settings.inherit_airflow_env and name.startswith("AIRFLOW")
        ):
            del result[name]
    result.update(
        {
            "AIRFLOW_HOME": str(settings.airflow_home),
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT / "include"), str(ROOT / "plugins"), str(ROOT)]
            ),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            # Airflow's executor of that name, without the race that fails a deferred task
            # resumed before its first process's exit is processed (icluster_resync.executors).
            "AIRFLOW__CORE__EXECUTOR": EXECUTOR_CLASSES[settings.executor],
            "AIRFLOW__CORE__PARALLELISM": str(settings.parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(16, settings.parallelism)),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{settings.user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(settings.passwords_file),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.metadata_url,
            "AIRFLOW__API__HOST": settings.api_host,
            "AIRFLOW__API__PORT": str(settings.api_port),
            "AIRFLOW__API__BASE_URL": f"{settings.ui_url}/",
            "AIRFLOW__API__SECRET_KEY": keys["secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.logs),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.worker_log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.trigger_log_port),
            # Scheduling latency between the resync's many short tasks (airflow.md: ~0.36 s
            # gap at 0.05 s instead of ~1 s at the default 1 s, for more scheduler CPU).
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.1",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # The dag-processor parses the DAG file again every 30 s by default: about 2 s of
            # CPU each time on a busy 2-core machine (make bench, "DAG parse time"), taken from
            # the run's own tasks, for a plan and DAG that do not change during a run. Cost: an
            # edited DAG file is picked up up to 5 minutes later (restart to see it at once).
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": DAG_BUNDLES,
            # The task supervisor notices its task process has exited only at its next wake-up,
            # up to this interval (default 5 s) later. Meanwhile a deferral whose trigger fires
            # at once is resumed under the same try number, and the late "workload finished"
            # then makes the scheduler fail the resumed task as killed externally (3.3.2).
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__CELERY__BROKER_URL": settings.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": celery_result_backend(settings.metadata_url),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(settings.parallelism),
            # The provider's Celery settings, and the DAG files' modules imported in the
            # worker before its pool forks (icluster_resync.celery_config says why).
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": CELERY_CONFIG,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": settings.celery_queue,
            "IBMI_RESYNC_PLAN": str(settings.plan),
            "IBMI_RESYNC_REPORTS": str(settings.reports),
        }
    )
    result.update(settings.extra_env)
    return result


def _say(out: TextIO | None, text: str) -> None:
    if out is not None:
        print(text, file=out, flush=True)


def _run(settings: Settings, args: list[str], what: str, timeout: float = 300) -> str:
    done = subprocess.run(
        args,
        env=env(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise DeploymentError(
            f"{what} failed (exit {done.returncode}): {' '.join(args)}\n"
            f"{(done.stdout + done.stderr)[-3000:]}"
        )
    return done.stdout


# ---- services this machine must provide ------------------------------------------------------


def _pg_params(url: str) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme.startswith("postgresql"):
        raise DeploymentError(
            f"the metadata database URL must be postgresql+psycopg2://...; got {parts.scheme}://"
        )
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": urllib.parse.unquote(parts.username or "postgres"),
        "password": urllib.parse.unquote(parts.password) if parts.password else None,
        "dbname": parts.path.lstrip("/") or "airflow",
    }


def _redacted(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


def _maintenance_connection(settings: Settings) -> Any:
    import psycopg2

    params = _pg_params(settings.metadata_url)
    connect = {k: v for k, v in params.items() if k != "dbname" and v is not None}
    try:
        conn = psycopg2.connect(dbname="postgres", connect_timeout=5, **connect)
    except psycopg2.OperationalError as error:
        raise DeploymentError(_postgres_missing(settings, params, error)) from error
    conn.autocommit = True
    return conn


def _postgres_missing(settings: Settings, params: Mapping[str, Any], error: Exception) -> str:
    where = f"{params['host']}:{params['port']}"
    hint = (
        "Start the local server (Debian/Ubuntu: `pg_ctlcluster <version> main start`), "
        "or install one (`apt-get install postgresql`)"
        if params["host"] in ("127.0.0.1", "localhost")
        else "Check that the server runs and accepts this machine"
    )
    return (
        f"PostgreSQL is not usable at {where} as user {params['user']!r} "
        f"(metadata URL {_redacted(settings.metadata_url)}; set IBMI_RESYNC_METADATA_URL to "
        f"change it): {str(error).strip()}.\n{hint}; the user needs the right to create "
        f"database {params['dbname']!r} (or create it beforehand). The simulated pair uses "
        "the same server (IBMI_SIM_SERVER_URL overrides)."
    )


def _try_start_local_postgres(settings: Settings, out: TextIO | None) -> None:
    """If the URL names this machine, nothing answers and a Debian cluster is installed, start
    it (what .ci/run does too). Otherwise leave it to the error message."""
    params = _pg_params(settings.metadata_url)
    if params["host"] not in ("127.0.0.1", "localhost") or _port_open("127.0.0.1", params["port"]):
        return
    clusters = Path("/etc/postgresql")
    if not shutil.which("pg_ctlcluster") or not clusters.is_dir() or os.geteuid() != 0:
        return
    for version in sorted(p.name for p in clusters.iterdir()):
        _say(out, f"PostgreSQL is not answering; starting cluster {version}/main ...")
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            capture_output=True,
            check=False,
        )
        if _port_open("127.0.0.1", params["port"], timeout=10):
            return


def ensure_metadata_database(settings: Settings, out: TextIO | None = None) -> str:
    """Create the metadata database if it is missing; returns its name."""
    _try_start_local_postgres(settings, out)
    name = _pg_params(settings.metadata_url)["dbname"]
    conn = _maintenance_connection(settings)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                _say(out, f"creating metadata database {name} ...")
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return name


def drop_metadata_database(settings: Settings) -> None:
    """Drop the metadata database (tests; the demo keeps its history)."""
    name = _pg_params(settings.metadata_url)["dbname"]
    conn = _maintenance_connection(settings)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def check_broker(settings: Settings) -> None:
    """CeleryExecutor only: the broker must answer before the worker starts."""
    if settings.executor != "CeleryExecutor":
        return
    parts = urllib.parse.urlsplit(settings.broker_url)
    default_port = 6379 if parts.scheme.startswith("redis") else 5672
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    if not _port_open(host, port):
        raise DeploymentError(
            f"the Celery broker is not answering at {host}:{port} ({settings.broker_url}; set "
            "IBMI_RESYNC_BROKER_URL to change it). Start Redis (Debian/Ubuntu: `apt-get "
            "install redis-server`, then `redis-server --daemonize yes`) or point the URL at "
            "RabbitMQ (amqp://...)."
        )


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1" if host in ("localhost",) else host, port))
        except OSError:
            return True
    return False


# ---- the simulated pair and Airflow's database ----------------------------------------------


def _pair_command(settings: Settings) -> list[str]:
    return [
        settings.python,
        "-m",
        "ibmi_sim",
        "up",
        "--config",
        str(settings.sim_config),
        "--reset",
        "--state",
        str(settings.sim_state),
    ]


def start_pair(settings: Settings, out: TextIO | None = None) -> Path:
    """`python -m ibmi_sim up --reset`: a fresh pair in sync; returns its connections file."""
    return start_pair_in_background(settings, out)()


def start_pair_in_background(settings: Settings, out: TextIO | None = None) -> Callable[[], Path]:
    """Start `ibmi_sim up` (which returns once the pair serves); the returned function waits
    for it and gives the pair's `airflow connections import` file."""
    _say(out, f"starting the simulated pair ({settings.sim_config.name}) ...")
    command = _pair_command(settings)
    process = subprocess.Popen(
        command, env=env(settings), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )

    def wait() -> Path:
        try:
            output, _ = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        if process.returncode != 0:
            log = _tail(settings.sim_state / "sim.log")
            raise DeploymentError(
                f"starting the simulated pair failed (exit {process.returncode}): "
                f"{' '.join(command)}\n{output.decode(errors='replace')[-2000:]}\n{log}"
            )
        return settings.sim_state / "airflow-connections.json"

    return wait


def stop_pair(settings: Settings, *, drop_databases: bool = False) -> None:
    args = [settings.python, "-m", "ibmi_sim", "down", "--state", str(settings.sim_state)]
    if drop_databases:
        args.append("--drop-databases")
    subprocess.run(args, env=env(settings), cwd=ROOT, capture_output=True, check=False, timeout=90)


def prepare_airflow(settings: Settings, connections: Path, out: TextIO | None = None) -> None:
    """`airflow db migrate`, then the pair's connections (overwritten on every run)."""
    _say(out, "migrating the Airflow metadata database ...")
    _run(settings, [settings.airflow, "db", "migrate"], "airflow db migrate", timeout=300)
    _say(out, "importing the pair's connections ...")
    _run(
        settings,
        [settings.airflow, "connections", "import", "--overwrite", str(connections)],
        "airflow connections import",
    )


# ---- processes ------------------------------------------------------------------------------


def component_command(settings: Settings, name: str) -> list[str]:
    airflow = settings.airflow
    if name == "api-server":
        return [airflow, "api-server", "-H", settings.api_host, "-p", str(settings.api_port)]
    if name == CELERY_WORKER:
        return [
            airflow,
            "celery",
            "worker",
            "--concurrency",
            str(settings.parallelism),
            "--celery-hostname",
            f"icluster-resync-{settings.api_port}@%h",
            "--queues",
            settings.celery_queue,
        ]
    if name == "triggerer":
        # `airflow triggerer` with its Execution API built before the first trigger
        # (icluster_resync.triggerer says why: 4 s off the outage's first wait).
        return [settings.python, "-m", "icluster_resync.triggerer"]
    return [airflow, name]


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks): tells a reused pid apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Living processes whose process group is `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def start_components(
    settings: Settings, out: TextIO | None = None, names: Iterable[str] | None = None
) -> dict[str, int]:
    """Start every component (or those `names`, e.g. a triggerer that died) in its own
    session; record pid, command and start time."""
    settings.component_logs.mkdir(parents=True, exist_ok=True)
    settings.pids.mkdir(parents=True, exist_ok=True)
    names = tuple(settings.components if names is None else names)
    if "api-server" in names and _port_in_use(settings.api_host, settings.api_port):
        raise DeploymentError(
            f"port {settings.api_port} is taken by another program; stop it or choose another "
            "port with IBMI_RESYNC_API_PORT"
        )
    started: dict[str, int] = {}
    environment = env(settings)
    for name in names:
        command = component_command(settings, name)
        log = (settings.component_logs / f"{name}.log").open("ab")
        log.write(f"\n==== {datetime.now(UTC).isoformat()} {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            env=environment,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        record = {
            "name": name,
            "pid": process.pid,
            "pgid": process.pid,
            "start_time": _start_time(process.pid),
            "command": command,
            "log": str(settings.component_logs / f"{name}.log"),
        }
        (settings.pids / f"{name}.json").write_text(json.dumps(record, indent=1))
        started[name] = process.pid
        _say(
            out, f"  {name:<14} pid {process.pid}  log {_short(settings.component_logs / name)}.log"
        )
    return started


def recorded(settings: Settings) -> list[dict[str, Any]]:
    """The pid records of this state folder, whether or not their process still runs."""
    if not settings.pids.is_dir():
        return []
    records = []
    for path in sorted(settings.pids.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            records.append({**json.loads(path.read_text()), "file": str(path)})
    return records


def _ours(record: Mapping[str, Any]) -> bool:
    """The recorded pid still runs and is the very process that was started."""
    pid = int(record["pid"])
    return _alive(pid) and _start_time(pid) == record.get("start_time")


def running(settings: Settings) -> dict[str, int]:
    return {r["name"]: int(r["pid"]) for r in recorded(settings) if _ours(r)}


def stop(
    settings: Settings, out: TextIO | None = None, *, timeout: float = 30.0, pair: bool = True
) -> list[str]:
    """Stop what this state folder's pid files name (process groups), then the pair.

    SIGTERM to each component's leader first (Airflow shuts its children down itself), then
    SIGTERM and finally SIGKILL to whatever is left in its process group.
    """
    records = recorded(settings)
    groups: dict[str, int] = {}
    for record in records:
        pgid = int(record["pgid"])
        if _ours(record):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(record["pid"]), signal.SIGTERM)
            groups[record["name"]] = pgid
        elif group_members(pgid) and record.get("start_time") is not None:
            # the leader is gone but processes it forked may remain in its group
            leftover = [p for p in group_members(pgid) if _is_airflow(p)]
            if leftover:
                groups[record["name"]] = pgid
    deadline = time.monotonic() + timeout
    for name, pgid in groups.items():
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if group_members(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            end = time.monotonic() + 5
            while group_members(pgid) and time.monotonic() < end:
                time.sleep(0.2)
        if group_members(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            _say(out, f"  {name}: killed (did not stop on SIGTERM)")
        _say(out, f"  {name} stopped")
    for record in records:
        # reap our own children (tests start and stop in one process): no zombies left
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(int(record["pid"]), os.WNOHANG)
        Path(record["file"]).unlink(missing_ok=True)
    if pair and (settings.sim_state / "sim.pid").exists():
        stop_pair(settings)
        _say(out, "  simulated pair stopped")
    return list(groups)


def _is_airflow(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    # `airflow <component>`, or the triggerer started as `python -m icluster_resync.triggerer`
    return b"airflow" in cmdline or b"icluster_resync" in cmdline


def _check_alive(settings: Settings) -> None:
    for record in recorded(settings):
        if not _ours(record):
            raise DeploymentError(
                f"{record['name']} exited; last lines of {record['log']}:\n"
                + _tail(Path(record["log"]))
            )


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _short(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def memory_pss_mb(settings: Settings) -> dict[str, float]:
    """Proportional set size of each component's whole process group, in MB."""
    result: dict[str, float] = {}
    for record in recorded(settings):
        if not _ours(record):
            continue
        total_kb = 0
        for pid in group_members(int(record["pgid"])):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
                        break
        result[record["name"]] = round(total_kb / 1024, 1)
    return result


# ---- the REST API ---------------------------------------------------------------------------


class ApiError(RuntimeError):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status


class Api:
    """Airflow's REST API v2 with a SimpleAuthManager JWT (POST /auth/token)."""

    def __init__(self, base_url: str, username: str | None = None, password: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.username, self.password = username, password
        self.token: str | None = None

    def request(
        self, method: str, path: str, body: Any = None, *, auth: bool = True, timeout: float = 30
    ) -> Any:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            if self.token is None:
                self.login()
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:
                text = answer.read().decode()
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, error.read().decode(errors="replace")[:2000]) from error
        return json.loads(text) if text else None

    def login(self) -> str:
        if not self.username or self.password is None:
            raise DeploymentError("no login for the API (the passwords file is not written yet)")
        answer = self.request(
            "POST",
            "/auth/token",
            {"username": self.username, "password": self.password},
            auth=False,
        )
        self.token = answer["access_token"]
        return self.token

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/api/v2/monitor/health", auth=False, timeout=5)


def password(settings: Settings) -> str | None:
    """The user's password from the file SimpleAuthManager generates at the api-server's start."""
    try:
        return json.loads(settings.passwords_file.read_text() or "{}").get(settings.user)
    except (OSError, ValueError):
        return None


def _healthy(health: Mapping[str, Any], settings: Settings) -> list[str]:
    """The components that the health endpoint does not yet call healthy."""
    waiting = []
    for key in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        status = (health.get(key) or {}).get("status")
        if status != "healthy":
            waiting.append(key)
    return waiting


def wait_healthy(settings: Settings, out: TextIO | None = None, *, timeout: float = 240.0) -> Api:
    """Until the health endpoint reports every component healthy, the login works and the DAG
    is parsed. A component that exits meanwhile fails at once, with the end of its log."""
    deadline = time.monotonic() + timeout
    api = Api(settings.api_url, settings.user)
    waiting: list[str] = ["api-server"]
    while time.monotonic() < deadline:
        _check_alive(settings)
        try:
            waiting = _healthy(api.health(), settings)
        except (OSError, ApiError, ValueError):
            waiting = ["api-server"]
        if not waiting:
            break
        time.sleep(1)
    else:
        raise DeploymentError(
            f"not healthy after {timeout:.0f} s (waiting for {', '.join(waiting)}); "
            f"component logs: {settings.component_logs}"
        )
    api.password = password(settings)
    api.login()
    # The Execution API, which every task talks to, builds its versioned routes at its first
    # request: about 7 s on this 2-core machine, charged to the run's first task otherwise.
    api.request(
        "GET", "/execution/health", auth=False, timeout=max(5.0, deadline - time.monotonic())
    )
    while time.monotonic() < deadline:
        _check_alive(settings)
        try:
            api.request("GET", f"/api/v2/dags/{DAG_ID}")
            return api
        except ApiError as error:
            if error.status != 404:
                raise
        errors = api.request("GET", "/api/v2/importErrors").get("import_errors", [])
        if errors:
            raise DeploymentError(
                "the DAG folder has import errors:\n"
                + "\n".join(f"{e.get('filename')}: {e.get('stack_trace')}" for e in errors)
            )
        time.sleep(1)
    raise DeploymentError(f"DAG {DAG_ID} was not parsed within {timeout:.0f} s")


def trigger(api: Api, conf: Mapping[str, Any], out: TextIO | None = None) -> str:
    """Unpause the DAG, fail runs left over from an interrupted demo (max_active_runs is 1),
    and trigger a run with `conf`; returns its run id."""
    api.request("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    runs = api.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?state=running&state=queued")
    for run in runs.get("dag_runs", []):
        _say(out, f"marking the unfinished earlier run {run['dag_run_id']} failed")
        api.request(
            "PATCH",
            f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run['dag_run_id'], safe='')}",
            {"state": "failed"},
        )
    run = api.request(
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        {"logical_date": None, "conf": dict(conf), "note": "started by make demo"},
    )
    return run["dag_run_id"]


# ---- following a run ------------------------------------------------------------------------


@dataclass
class Progress:
    """What the terminal shows about a run, computed from its task instances and XComs."""

    state: str = "queued"
    running: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    stages: dict[str, int] = field(default_factory=dict)
    tasks_done: int = 0
    tasks_known: int = 0
    outage_start: datetime | None = None
    outage_end: datetime | None = None

    def groups_done(self) -> int:
        return self.stages.get("replicate", 0)

    def outage_seconds(self, now: datetime | None = None) -> float | None:
        if self.outage_start is None:
            return None
        end = self.outage_end or now or datetime.now(UTC)
        return max(0.0, (end - self.outage_start).total_seconds())

    def phase(self) -> str:
        """Running task names, mapped instances folded: `move.transfer_group[ORDERS,SYSTEM]`."""
        folded: dict[str, list[str]] = {}
        for label in self.running:
            task, _, index = label.partition("[")
            folded.setdefault(task, [])
            if index:
                folded[task].append(index.rstrip("]"))
        return ", ".join(f"{t}[{','.join(i)}]" if i else t for t, i in folded.items())

    def line(self, elapsed: float, now: datetime | None = None) -> str:
        phase = self.phase() or ("-" if self.state in TERMINAL_RUN_STATES else "between tasks")
        total = len(self.groups) or "?"
        stage = next(reversed(self.stages), None)
        at = f" ({stage} {self.stages[stage]}/{total})" if stage and stage != "replicate" else ""
        outage = self.outage_seconds(now)
        outage_text = (
            "not started"
            if outage is None
            else f"{_clock(outage)}{' (ended)' if self.outage_end else ' so far'}"
        )
        return (
            f"[{_clock(elapsed)}] {self.state}: {phase} | groups done "
            f"{self.groups_done()}/{total}{at} | tasks {self.tasks_done}/{self.tasks_known}"
            f" | outage {outage_text}"
        )


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _command_time(result: Any, verb: str) -> datetime | None:
    """When a task's XCom log says it sent `verb` (ENDSBS / STRSBS), as the report reads it."""
    if not isinstance(result, Mapping):
        return None
    times = [
        _parse_time(entry.get("at"))
        for entry in result.get("log") or []
        if isinstance(entry, Mapping)
        and str(entry.get("text", "")).split(" ")[0].endswith(f"/{verb}")
        and entry.get("result") != "skipped"
    ]
    times = [t for t in times if t is not None]
    if not times:
        return None
    return times[0] if verb == "ENDSBS" else times[-1]


class RunFollower:
    """Polls one run through the API and keeps a `Progress`."""

    def __init__(self, api: Api, run_id: str) -> None:
        self.api, self.run_id = api, run_id
        self.run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
        self.progress = Progress()
        self._xcoms: dict[str, Any] = {}

    def xcom(self, task_id: str, map_index: int = -1) -> Any:
        key = f"{task_id}[{map_index}]"
        if key not in self._xcoms:
            try:
                answer = self.api.request(
                    "GET",
                    f"{self.run_path}/taskInstances/{task_id}/xcomEntries/return_value"
                    f"?map_index={map_index}&deserialize=true",
                )
            except ApiError:
                return None
            self._xcoms[key] = answer.get("value")
        return self._xcoms[key]

    def task_instances(self) -> list[dict[str, Any]]:
        """Every task instance of the run, page by page: the API answers at most
        ``[api] maximum_page_limit`` (100 by default) a request, whatever the limit asked,
        and a 20-group run has about 190."""
        found: list[dict[str, Any]] = []
        while True:
            answer = self.api.request(
                "GET", f"{self.run_path}/taskInstances?limit=100&offset={len(found)}"
            )
            page = answer.get("task_instances", [])
            found.extend(page)
            if not page or len(found) >= int(answer.get("total_entries") or 0):
                return found

    def poll(self) -> Progress:
        p = self.progress
        p.state = str(self.api.request("GET", self.run_path)["state"])
        tis = self.task_instances()
        states = {(ti["task_id"], ti["map_index"]): str(ti.get("state")) for ti in tis}
        if not p.groups and states.get(("select_groups", -1)) == "success":
            groups = self.xcom("select_groups")
            p.groups = [str(g) for g in groups] if isinstance(groups, list) else []

        def label(ti: Mapping[str, Any]) -> str:
            index = ti["map_index"]
            if index < 0:
                return ti["task_id"]
            name = p.groups[index] if index < len(p.groups) else ti.get("rendered_map_index")
            return f"{ti['task_id']}[{name or index}]"

        p.running = sorted(
            label(ti)
            for ti in tis
            if str(ti.get("state")) in ("running", "deferred", "awaiting_input", "up_for_retry")
        )
        p.tasks_known = len(tis)
        p.tasks_done = sum(1 for s in states.values() if s in FINISHED)
        stages: dict[str, int] = {}
        for prefix in MAPPED_GROUPS:
            by_index: dict[int, list[str]] = {}
            for (task_id, index), state in states.items():
                if task_id.startswith(f"{prefix}.") and index >= 0:
                    by_index.setdefault(index, []).append(state)
            if by_index:
                stages[prefix] = sum(
                    1 for s in by_index.values() if all(x in ("success", "skipped") for x in s)
                )
        p.stages = stages
        if p.outage_start is None and states.get(("end_applications", -1)) == "success":
            p.outage_start = _command_time(self.xcom("end_applications"), "ENDSBS")
            if p.outage_start is None:  # a dry run sends no ENDSBS: the task's own times
                ti = next(t for t in tis if t["task_id"] == "end_applications")
                p.outage_start = _parse_time(ti.get("start_date"))
        if p.outage_end is None and states.get(("restart_applications", -1)) == "success":
            p.outage_end = _command_time(self.xcom("restart_applications"), "STRSBS")
            if p.outage_end is None:
                ti = next(t for t in tis if t["task_id"] == "restart_applications")
                p.outage_end = _parse_time(ti.get("end_date"))
        return p


def follow_run(
    api: Api,
    run_id: str,
    out: TextIO | None = None,
    *,
    interval: float = 2.0,
    timeout: float = 3600.0,
    quiet_seconds: float = 15.0,
    on_poll: Callable[[Progress], None] | None = None,
) -> Progress:
    """Print a progress line whenever something changes (at least every `quiet_seconds`)
    until the run ends; returns the last progress."""
    follower = RunFollower(api, run_id)
    started = time.monotonic()
    last_text: tuple[Any, ...] = ()
    last_print = 0.0
    while True:
        try:
            progress = follower.poll()
        except (OSError, ApiError) as error:  # a restarting api-server: try again
            _say(out, f"  (API not answering: {error}; retrying)")
            time.sleep(interval)
            if time.monotonic() - started > timeout:
                raise DeploymentError(f"run {run_id}: API unreachable") from error
            continue
        if on_poll:
            on_poll(progress)
        # what changed, not the clocks (elapsed, outage so far) that always do
        text = (
            progress.state,
            tuple(progress.running),
            tuple(progress.stages.items()),
            progress.tasks_done,
            progress.outage_start is None,
            progress.outage_end is None,
        )
        now = time.monotonic()
        if text != last_text or now - last_print >= quiet_seconds:
            _say(out, progress.line(now - started))
            last_text, last_print = text, now
        if progress.state in TERMINAL_RUN_STATES:
            return progress
        if now - started > timeout:
            raise DeploymentError(f"run {run_id} did not end within {timeout:.0f} s")
        time.sleep(interval)


def run_summary(api: Api, settings: Settings, run_id: str) -> dict[str, Any]:
    """Result, report and failed tasks of a finished run."""
    follower = RunFollower(api, run_id)
    run = api.request("GET", follower.run_path)
    tis = follower.task_instances()
    failed = sorted(
        f"{ti['task_id']}[{ti['map_index']}]" if ti["map_index"] >= 0 else ti["task_id"]
        for ti in tis
        if str(ti.get("state")) in ("failed", "upstream_failed")
    )
    report_dir = settings.reports / run_id.replace("/", "_").replace(":", "_")
    report: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        report = json.loads((report_dir / "report.json").read_text())
    return {
        "run_id": run_id,
        "state": run["state"],
        "start": run.get("start_date"),
        "end": run.get("end_date"),
        "failed_tasks": failed,
        "report_status": report.get("status"),
        "report_reasons": report.get("reasons", []),
        "outage": report.get("outage", {}),
        "report_html": str(report_dir / "report.html") if report else None,
        "report_json": str(report_dir / "report.json") if report else None,
        "mapped_instances": sum(1 for ti in tis if ti["map_index"] >= 0),
        "url": settings.run_url(run_id),
    }


def plan_libraries(settings: Settings, groups: Iterable[str] | None = None) -> list[str]:
    """The libraries of the plan's groups (or of `groups`), in plan order."""
    import yaml

    plan = yaml.safe_load(settings.plan.read_text())
    wanted = set(groups) if groups else None
    return [
        library
        for group in plan["groups"]
        if wanted is None or group["name"] in wanted
        for library in group.get("libraries", [])
    ]


def pair_sync_state(settings: Settings, groups: Iterable[str] | None = None) -> dict[str, bool]:
    """Library -> whether PRIMARY and BACKUP hold the same objects (name, type, size, content)
    once replication has applied what PRIMARY journalled (`SimPair.library_differences`), for
    the plan's groups (or `groups`), read from the running simulated pair."""
    from ibmi_sim.testing import SimPair

    info = json.loads((settings.sim_state / "connections.json").read_text())
    libraries = plan_libraries(settings, groups)
    pair = SimPair(info, settings.sim_state)
    try:
        differ = pair.library_differences(libraries)
        return {library: library not in differ for library in libraries}
    finally:
        pair.close()


# ---- the whole deployment -------------------------------------------------------------------


def up(settings: Settings, out: TextIO | None = None) -> tuple[Api, float]:
    """Stop leftovers, then bring everything up; returns the API client and the seconds it
    took until the deployment was healthy.

    Independent steps overlap: the pair starts while `airflow db migrate` runs, and the
    connections are imported while the components boot (tasks need them only once a run
    starts)."""
    started = time.monotonic()
    for folder in (settings.airflow_home, settings.sim_state, settings.reports, settings.pids):
        folder.mkdir(parents=True, exist_ok=True)
    if running(settings) or (settings.sim_state / "sim.pid").exists():
        _say(out, "stopping what an earlier demo left running ...")
        stop(settings, out)
    ensure_metadata_database(settings, out)
    check_broker(settings)
    pair = start_pair_in_background(settings, out)
    _say(out, "migrating the Airflow metadata database ...")
    _run(settings, [settings.airflow, "db", "migrate"], "airflow db migrate", timeout=300)
    _say(out, f"starting Airflow ({settings.executor}, parallelism {settings.parallelism}) ...")
    start_components(settings, out)
    connections = pair()
    _say(out, "importing the pair's connections ...")
    _run(
        settings,
        [settings.airflow, "connections", "import", "--overwrite", str(connections)],
        "airflow connections import",
    )
    _say(out, "waiting until the deployment is healthy ...")
    api = wait_healthy(settings, out)
    return api, time.monotonic() - started


def report_lines(settings: Settings, summary: Mapping[str, Any]) -> Iterable[str]:
    outage = summary.get("outage") or {}
    yield f"run {summary['run_id']}: {summary['state']} (report status {summary['report_status']})"
    for reason in summary.get("report_reasons") or []:
        yield f"  reason: {reason}"
    if summary.get("failed_tasks"):
        yield f"  failed tasks: {', '.join(summary['failed_tasks'])}"
    if outage.get("seconds") is not None:
        yield (
            f"outage window: {outage.get('applications_down')} -> "
            f"{outage.get('applications_up')} ({outage['seconds']} s)"
        )
    yield f"report: {summary.get('report_html') or '(none written; see the task logs)'}"
    yield f"run in the UI: {summary['url']}"

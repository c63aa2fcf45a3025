"""The trigger form and the plan file under attack, through the DAG (issue 6 item 6).

Two locks stand between a trigger form and a node:

1. Airflow's Param schema (`groups` an array of the plan's group names, `dry_run` and
   `approvals_required` booleans, `transfer_mode` "sftp"): a run is not even created for a
   value outside it, and the error names the param (`Invalid input for param groups`).
2. `select_groups`, the run's first task, reads the form strictly (RunOptions.from_trigger):
   what the schema cannot see (a key the form does not have, such as `dryrun`; a group the
   plan no longer has) fails that task once, naming the key, and every task after it,
   pre-flight included, never runs.

The nodes are scripted as in test_dag_dry_run.py and record every command line and every SQL
statement sent; for refused input that record stays empty. The last tests feed a hostile plan
file to the DAG and to its first node-touching task.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from airflow.exceptions import ParamValidationError
from airflow.sdk.exceptions import AirflowFailException
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ibmi_resync.names import NAME_MAX
from tests.dags.fake_pair import install

ROOT = Path(__file__).resolve().parents[2]
GROUPS = ["SYSTEM", "ORDERS", "BILLING"]  # the demo plan's groups, in plan order
FORM_KEYS = ("groups", "dry_run", "approvals_required", "transfer_mode")


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> list[str]:
    return install(monkeypatch, airflow_db / "reports", everything=True)


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags["icluster_resync"]


@pytest.fixture(scope="module")
def scheduler_params(dag):
    """The params as the scheduler holds them: what create_dagrun validates a conf against."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag)).params


def select_groups(dag, params: dict[str, Any]) -> list[str]:
    """The first task's callable with the form as given, without Airflow's schema in front."""
    run = SimpleNamespace(run_type="manual", run_after=datetime.now(UTC))
    return dag.get_task("select_groups").python_callable(params=params, dag_run=run)


def form(**values: Any) -> dict[str, Any]:
    """A whole form as a task sees it: the defaults, then what the trigger gave."""
    return {
        "groups": [],
        "dry_run": False,
        "approvals_required": False,
        "transfer_mode": "sftp",
    } | (values)


# ---- hostile values ----------------------------------------------------------------------

HOSTILE_GROUP_WORDS = [
    "orders",
    " ORDERS",
    "ORDERS ",
    "ORDERS\n",
    "ORDERS\r",
    "ORDERS\x00",
    "NOPE",
    "*ALL",
    "*LIBL",
    "QSYS",
    "#LIB",
    "A) RMVLIB(",
    "ORDERS;BILLING",
    "ORDERS && BILLING",
    "$(id)",
    "`id`",
    "$ORDERS",
    "'",
    '"',
    "ORDERS'",
    "",
    " ",
    "\uff2f\uff32\uff24\uff25\uff32\uff33",  # fullwidth ORDERS
    "\u041eRDERS",  # Cyrillic O
    "ORDERS\u200b",
    "ORDERSORDERS",
    "A" * (NAME_MAX + 1),
]
group_word = st.one_of(st.sampled_from(HOSTILE_GROUP_WORDS), st.text(max_size=12)).filter(
    lambda word: word not in GROUPS
)
hostile_groups = st.one_of(
    st.lists(st.one_of(st.sampled_from(GROUPS), group_word), min_size=1, max_size=4).filter(
        lambda words: any(word not in GROUPS for word in words)
    ),
    st.sampled_from(["ORDERS", "SYSTEM,ORDERS", None, 1, True, {"ORDERS": True}]),
    st.lists(st.sampled_from([1, None, True, ["ORDERS"], {"a": 1}]), min_size=1, max_size=2),
)
NOT_BOOLEANS = ["true", "false", "True", "yes", "no", "on", "off", "1", "0", 1, 0, 1.0, ""]
not_a_boolean = st.sampled_from([*NOT_BOOLEANS, None, [], {}, [True]])
hostile_transfer = st.one_of(
    st.sampled_from(["scp", "SFTP", " sftp", "sftp ", "sftp;id", "sftp\n", "$(id)", "", None, 1]),
    st.text(max_size=8),
).filter(lambda value: value != "sftp")
hostile_entry = st.one_of(
    st.tuples(st.just("groups"), hostile_groups),
    st.tuples(st.just("dry_run"), not_a_boolean),
    st.tuples(st.just("approvals_required"), not_a_boolean),
    st.tuples(st.just("transfer_mode"), hostile_transfer),
)


def product_refusal(key: str, value: Any) -> str | None:
    """The field select_groups must name for this raw value, or None if it narrows legally.

    It is more lenient than the schema in one way only: a group name in another letter case
    or with blanks around is the same IBM i name, so it selects that group.
    """
    if key == "groups":
        if not isinstance(value, list):
            return "groups"
        for index, word in enumerate(value):
            if not isinstance(word, str):
                return f"groups[{index}]"
        for index, word in enumerate(value):
            clean = word.strip().upper()
            if word.isascii() and word.isprintable() and clean in GROUPS:
                continue
            return f"groups[{index}]"
        return None
    if key == "transfer_mode":
        return None if value == "sftp" else key
    if key == "approvals_required" and value is None:
        return None  # as the plan says
    return None if isinstance(value, bool) else key


# ---- lock 1: the schema refuses, no run is created, nothing reaches a node --------------------


@settings(max_examples=200, deadline=None)
@given(entry=hostile_entry)
@example(entry=("groups", ["ORDERS", "A) RMVLIB("]))
@example(entry=("groups", ["ORDERS\nBILLING"]))
@example(entry=("groups", "ORDERS"))
@example(entry=("dry_run", "false"))
@example(entry=("approvals_required", "no"))
@example(entry=("transfer_mode", "scp"))
def test_the_schema_refuses_every_hostile_value_naming_the_param(
    scheduler_params, entry: tuple[str, Any]
) -> None:
    key, value = entry
    with pytest.raises(ParamValidationError) as excinfo:
        scheduler_params.deep_merge({"dry_run": True, key: value}).validate()
    assert str(excinfo.value).startswith(f"Invalid input for param {key}: "), excinfo.value


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(entry=hostile_entry)
@example(entry=("groups", ["SYSTEM", "$(id)"]))
@example(entry=("dry_run", "false"))
def test_a_hostile_form_starts_no_run_and_reaches_no_node(
    dag, sent: list[str], entry: tuple[str, Any]
) -> None:
    from airflow.models.dagrun import DagRun

    key, value = entry
    before = len(DagRun.find(dag_id=dag.dag_id))
    with pytest.raises(ParamValidationError) as excinfo:
        dag.test(run_conf={"dry_run": True, key: value})
    assert f"Invalid input for param {key}: " in str(excinfo.value)
    assert len(DagRun.find(dag_id=dag.dag_id)) == before
    assert sent == []


# ---- lock 2: the first task reads the form strictly ------------------------------------------


@settings(max_examples=200, deadline=None)
@given(entry=hostile_entry)
@example(entry=("groups", ["ORDERS", "NOPE"]))
@example(entry=("groups", ["orders", " Billing "]))  # the same IBM i names: they narrow
@example(entry=("groups", ["ORDERS", 1]))
@example(entry=("dry_run", "false"))  # bool("false") is True: it used to be coerced
@example(entry=("dry_run", None))  # and bool(None) False, a real run
@example(entry=("approvals_required", "no"))  # "no" used to skip the approval
@example(entry=("transfer_mode", ""))  # `or "sftp"` used to hide it
def test_the_first_task_refuses_the_raw_form_naming_the_key(dag, entry: tuple[str, Any]) -> None:
    """Without the schema in front (a conf the scheduler never validated), select_groups
    still refuses what is not a legal narrowing of the plan, as a final failure."""
    key, value = entry
    field = product_refusal(key, value)
    if field is None:
        chosen = select_groups(dag, form(**{key: value}))
        assert set(chosen) <= set(GROUPS)
        return
    with pytest.raises(AirflowFailException) as excinfo:
        select_groups(dag, form(**{key: value}))
    assert str(excinfo.value).startswith(f"trigger params: {field}: "), excinfo.value


@pytest.mark.parametrize(
    "key", ["dryrun", "dry-run", "Dry_Run", "dry_run ", "dr\u0443_run", "group", "approval"]
)
def test_a_key_the_form_does_not_have_is_refused_not_ignored(dag, key: str) -> None:
    """Regression: `{"dryrun": true}` passed the schema (Airflow keeps unknown conf keys)
    and was ignored, so the run that was meant to be dry cleared and restored BACKUP."""
    with pytest.raises(AirflowFailException) as excinfo:
        select_groups(dag, form(groups=["ORDERS"], **{key: True}))
    assert str(excinfo.value).startswith(f"trigger params: {key}: not a parameter of this run")


@pytest.mark.parametrize(
    ("groups", "chosen"),
    [
        (["ORDERS", "ORDERS"], ["ORDERS"]),
        (["BILLING", "SYSTEM", "BILLING"], ["SYSTEM", "BILLING"]),
        (["BILLING", "ORDERS", "SYSTEM", "ORDERS"], ["SYSTEM", "ORDERS", "BILLING"]),
        ([], ["SYSTEM", "ORDERS", "BILLING"]),
    ],
)
def test_duplicates_narrow_the_run_and_never_widen_it(
    dag, scheduler_params, groups: list[str], chosen: list[str]
) -> None:
    """A group named twice is one group: one mapped instance, not two saves of it."""
    scheduler_params.deep_merge({"groups": groups}).validate()  # the schema lets it through
    assert select_groups(dag, form(groups=groups)) == chosen


# ---- whole runs: the first task fails once, and pre-flight never talks to a node -------------


def _states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances() if ti.map_index == -1}


def _only_orders_and_billing(dag, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan on the worker lost ORDERS after the form was filled in against the old one."""
    module_globals = dag.get_task("select_groups").python_callable.__globals__
    plan = module_globals["PLAN"]
    kept = tuple(group for group in plan.groups if group.name != "ORDERS")
    monkeypatch.setitem(module_globals, "PLAN", plan.model_copy(update={"groups": kept}))


@pytest.mark.parametrize(
    ("conf", "change", "message"),
    [
        pytest.param(
            {"dryrun": True, "groups": ["ORDERS"]},
            None,
            "trigger params: dryrun: not a parameter of this run",
            id="unknown-key",
        ),
        pytest.param(
            {"dry_run": True, "groups": ["ORDERS"]},
            _only_orders_and_billing,
            "trigger params: groups[0]: not in the plan (SYSTEM, BILLING)",
            id="group-gone-from-the-plan",
        ),
    ],
)
def test_a_form_the_first_task_refuses_fails_the_run_and_reaches_no_node(
    dag, sent: list[str], monkeypatch: pytest.MonkeyPatch, conf, change, message: str
) -> None:
    if change is not None:
        change(dag, monkeypatch)
    run = dag.test(run_conf=conf)
    states = _states(run)
    assert str(run.state) == "failed"
    assert states["select_groups"] == "failed"
    assert states["preflight"] == "upstream_failed"
    assert states["end_applications"] == "upstream_failed"
    select = next(ti for ti in run.get_task_instances() if ti.task_id == "select_groups")
    assert select.try_number == 1  # a final failure: retrying cannot fix a form
    assert sent == []  # no node was even opened
    # What the failed task said, from the same callable and the same form:
    with pytest.raises(AirflowFailException, match=re.escape(message)):
        select_groups(dag, form(**conf))


# ---- (a) a hostile plan file through the DAG ---------------------------------------------------


def _hostile_plan(tmp_path: Path, path: list[Any], value: Any) -> Path:
    data = yaml.safe_load((ROOT / "config" / "demo-plan.yaml").read_text(encoding="utf-8"))
    data["site_profile"] = str(ROOT / "config" / "site-profiles" / "simulator.yaml")
    cursor = data
    for part in path[:-1]:
        cursor = cursor[part]
    cursor[path[-1]] = copy.deepcopy(value)
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return plan_file


HOSTILE_PLANS = [
    pytest.param(["groups", 1, "libraries", 0], "QSYS", "groups[1].libraries[0]", id="QSYS"),
    pytest.param(["groups", 1, "libraries", 0], "ORD'LIB", "groups[1].libraries[0]", id="quote"),
    pytest.param(["groups", 2, "name"], "A) RMVLIB(", "groups[2].name", id="paren"),
    pytest.param(["groups", 1, "ifs_paths", 0], "/*", "groups[1].ifs_paths[0]", id="ifs-all"),
    pytest.param(["user_profiles", 1], "*ALL", "user_profiles[1]", id="profile-*ALL"),
    pytest.param(["primary", "name"], "SIMPRI\n", "primary.name", id="newline"),
]


@pytest.mark.parametrize(("path", "value", "field"), HOSTILE_PLANS)
def test_a_hostile_plan_file_never_becomes_a_dag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path, value, field: str
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    plan_file = _hostile_plan(tmp_path, path, value)
    monkeypatch.setenv("IBMI_RESYNC_PLAN", str(plan_file))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert "icluster_resync" not in bag.dags
    assert f"{plan_file}: {field}: " in "\n".join(bag.import_errors.values())


@pytest.mark.parametrize(("path", "value", "field"), HOSTILE_PLANS)
def test_a_plan_edited_under_a_running_dag_is_refused_before_a_node_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sent: list[str], path, value, field: str
) -> None:
    """Each task reloads the plan file: one edited after the DAG was parsed fails the task
    (finally, no retry) naming the file and the field, and no node is opened."""
    from icluster_resync.operators import ResyncTaskOperator

    plan_file = _hostile_plan(tmp_path, path, value)
    monkeypatch.setenv("IBMI_RESYNC_PLAN", str(plan_file))
    for task, group in (("preflight", None), ("clear_group", "ORDERS")):
        operator = ResyncTaskOperator(task_id=task, resync_task=task, group=group)
        context = {"params": form(groups=["ORDERS"]), "dag_run": SimpleNamespace(run_id="r1")}
        with pytest.raises(AirflowFailException) as excinfo:
            operator.execute(context)  # type: ignore[arg-type]
        assert str(excinfo.value).startswith(f"{plan_file}: {field}: "), excinfo.value
    assert sent == []

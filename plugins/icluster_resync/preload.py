"""Import, in a long-lived Airflow process, what the DAG files import, before it forks.

Why: the processes that parse the resync's DAG file are forked, one per task start (the
executors' workers) and one per parse (the dag-processor), and each imported the providers'
SSH, SFTP and ODBC hooks, pydantic and the domain package again: about 0.6-0.7 s of CPU each
time, against about 0.1 s with them already imported (docs/benchmarks.md). Airflow does the
same for its own modules only (``[dag_processor] parsing_pre_import_modules``). Used by
`icluster_resync.executors`, `icluster_resync.celery_config` and `icluster_resync.bundles`.
Cost: a changed module of include/ or plugins/ is seen by those processes after a restart.
"""

from __future__ import annotations

import ast
import importlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def dag_imports(folder: Path) -> dict[str, list[str]]:
    """The modules the DAG files in `folder` import at their top level, in order, once each,
    with the names each ``from ... import`` statement takes from them."""
    names: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.py")):
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue  # the dag-processor reports a broken DAG file; nothing to preload from it
        for node in tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names.setdefault(alias.name, [])
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                taken = names.setdefault(node.module, [])
                taken.extend(a.name for a in node.names if a.name not in taken)
    names.pop("__future__", None)
    return names


# What each DAG folder's preload loaded, in this process. A process forked after the preload
# (a task process, a parse) inherits it, and so skips the work: Airflow runs a bundle's
# `initialize` in every task process too, where reading the DAG files again cost ~9 ms.
_preloaded: dict[Path, tuple[str, ...]] = {}


def preload_dag_imports(folder: Path, *, purpose: str) -> tuple[str, ...]:
    """Import what the DAG files import, as their import statements do: ``from m import n``
    also takes `n`, which for Airflow's lazy modules (``airflow.sdk``) is what imports the
    decorators, operators and the standard provider behind it. Once per folder and process
    (a later call returns the first's result); logs what loaded and for which `purpose`.
    Returns the modules that loaded. One that fails is only logged: the process that needs
    it reports the real error when it parses its file."""
    key = folder.resolve()
    if key in _preloaded:
        return _preloaded[key]
    loaded = []
    for module_name, taken in dag_imports(folder).items():
        try:
            module = importlib.import_module(module_name)
            for name in taken:
                if name != "*" and not hasattr(module, name):  # a submodule, not an attribute
                    importlib.import_module(f"{module_name}.{name}")
        except Exception as error:  # any import error: the parse reports it
            log.warning("not preloaded: %s (%s)", module_name, error)
        else:
            loaded.append(module_name)
    _preloaded[key] = tuple(loaded)
    log.info("preloaded for %s: %s", purpose, ", ".join(loaded))
    return _preloaded[key]


def preload_for_task_processes() -> tuple[str, ...]:
    """`preload_dag_imports` on ``[core] dags_folder``, in an executor's long-lived process
    before it forks what runs the tasks: the LocalExecutor before its workers, a Celery
    worker before its pool."""
    from airflow.configuration import conf

    return preload_dag_imports(Path(conf.get("core", "dags_folder")), purpose="the task processes")

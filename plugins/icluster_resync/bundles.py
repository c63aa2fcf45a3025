"""The DAG folder as Airflow's local DAG bundle, with the DAG files' imports loaded once.

Why: when a task ends in the triggerer (the trigger walked its steps after a wait,
`icluster_resync.trigger_walk`), Airflow 3.3 sends the dag-processor a task callback
request for its SUCCESS (``airflow.models.trigger.handle_event_submit``). The dag-processor
parses the DAG file in a new forked process to run it, only to log that it is not a failure
callback; and because that callback-only parse drops the file's last parse time
(apache/airflow#73432), it then parses the file once more in full. A 20-group run sends
about 70 such requests. Each forked parse imported the providers' hooks, pydantic and the
domain package again: with them imported once in the dag-processor before it forks, the
callback parse itself fell from 1.23 to 0.10 s of CPU in a forked process, and the
dag-processor's parse processes used 7.3 s instead of 9.2 s of CPU for 20 requests in the
deployment (docs/benchmarks.md; the full re-parse is mostly Airflow serialising the DAG's
params). Airflow runs a bundle's ``initialize`` in the dag-processor before it parses, and in
each task process, which inherits the executor worker's preload (`icluster_resync.executors`)
and so skips it (`icluster_resync.preload` does the work once per process).

Selected by the deployment as ``[dag_processor] dag_bundle_config_list``, under the name of
Airflow's default bundle (``dags-folder``), so runs and DAG versions stay where they were.
"""

from __future__ import annotations

from airflow.dag_processing.bundles.local import LocalDagBundle

from icluster_resync.preload import preload_dag_imports


class PreloadedDagsFolder(LocalDagBundle):
    """`LocalDagBundle` (the DAG folder, ``[core] dags_folder`` unless a path is given) whose
    ``initialize`` first imports what the DAG files import (`preload_dag_imports`)."""

    def initialize(self) -> None:
        preload_dag_imports(self.path, purpose="the DAG file parses")
        super().initialize()

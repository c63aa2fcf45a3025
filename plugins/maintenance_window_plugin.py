"""Airflow plugin: registers the maintenance-window timetable of the resync DAG.

Airflow 3.3 stores a DAG's timetable serialised and rebuilds it in the scheduler and the
api-server by class name, accepting only built-in classes and those a plugin lists in
``timetables`` (airflow.serialization.helpers.find_registered_custom_timetable); without this
registration a plan with `schedule.windows` makes the DAG fail to serialise ("Timetable class
... is not registered").
"""

from __future__ import annotations

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin

from icluster_resync.timetable import MaintenanceWindowTimetable


class MaintenanceWindowPlugin(AirflowPlugin):
    name = "icluster_resync_maintenance_windows"
    timetables: ClassVar[list[type]] = [MaintenanceWindowTimetable]

"""CL commands with real effects on a node's state, one module per family.

Importing this package registers every handler in :data:`HANDLERS` (command name -> coroutine).
"""

from ibmi_sim.commands import (
    batch,
    icluster,
    ifs_dlo,
    libraries,
    savefiles,
    saverestore,
    security,
    subsystems,
)
from ibmi_sim.commands._base import HANDLERS, handler
from ibmi_sim.commands.savefiles import refresh_savf_object

__all__ = [
    "HANDLERS",
    "batch",
    "handler",
    "icluster",
    "ifs_dlo",
    "libraries",
    "refresh_savf_object",
    "savefiles",
    "saverestore",
    "security",
    "subsystems",
]

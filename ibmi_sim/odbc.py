"""ODBC connection strings for a node's SQL front, through psqlODBC (the PostgreSQL driver).

Why psqlODBC: in production the product reaches DB2 for i through pyodbc → unixODBC → the IBM i
Access ODBC driver (ibmi.md §9); the simulator keeps every layer but the last, so the product's
pyodbc calls, parameter markers and error handling run for real against the node's SQL front
(:mod:`ibmi_sim.sql_front`, issue 3 item 5).

The string follows the order Airflow's OdbcHook builds (ibmi.md §9.4: DRIVER, SERVER, DATABASE,
UID, PWD, PORT, then extras), so a simulated node can be described by an ordinary Airflow ODBC
connection with the psqlODBC options as extras (:func:`psqlodbc_options`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["DEFAULT_DRIVER", "connection_string", "psqlodbc_options"]

# unixODBC driver name registered by Debian's odbc-postgresql (check: odbcinst -q -d).
DEFAULT_DRIVER: Final = "PostgreSQL Unicode"


def psqlodbc_options(*, server_side_prepare: bool = True) -> dict[str, str]:
    """psqlODBC keywords the front needs, as Airflow extras or connection-string pairs.

    - ``SSLmode=disable``: the front speaks plain TCP; libpq then sends no SSLRequest (the
      front would decline one with ``N`` anyway).
    - ``UseServerSidePrepare``: 1 (the driver's default) sends each statement with ``?``
      converted to ``$1, $2 ...`` as Parse/Bind/Execute; 0 inlines the parameter values as
      literals into one simple Query. The front serves both; tests run both.
    """
    return {
        "SSLmode": "disable",
        "UseServerSidePrepare": "1" if server_side_prepare else "0",
    }


def connection_string(
    port: int,
    database: str,
    *,
    host: str = "127.0.0.1",
    user: str = "postgres",
    password: str = "x",
    driver: str = DEFAULT_DRIVER,
    server_side_prepare: bool = True,
    extra: Mapping[str, str] | None = None,
) -> str:
    """pyodbc connection string for the SQL front listening on ``host:port``.

    Pass the login timeout to ``pyodbc.connect(..., timeout=N)`` (ibmi.md §9.3), not here.

    :param database: database name sent in the start-up message (a front built with
        ``database=`` replaces it with its node's database).
    :param extra: further psqlODBC keywords, appended last (they win over the defaults).
    """
    pairs = {
        "DRIVER": f"{{{driver}}}",
        "SERVER": host,
        "DATABASE": database,
        "UID": user,
        "PWD": password,
        "PORT": str(port),
        **psqlodbc_options(server_side_prepare=server_side_prepare),
        **(extra or {}),
    }
    for key, value in pairs.items():
        if any(char in value for char in ";{}") and key != "DRIVER":
            raise ValueError(f"ODBC keyword {key}: value {value!r} must not contain ; {{ or }}")
    return "".join(f"{key}={value};" for key, value in pairs.items())

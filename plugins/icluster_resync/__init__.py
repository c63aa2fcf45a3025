"""The thin Airflow layer over `ibmi_resync`: hooks as node transports, triggers, operators."""

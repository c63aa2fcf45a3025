# Airflow image for the iCluster resync: the official image at the pinned Airflow version,
# plus unixODBC, the IBM i Access ODBC driver (real pairs) and the PostgreSQL ODBC driver
# (the simulated pair), plus this project's requirements installed with the committed
# constraints, so the image resolves exactly what `make test` resolved.
FROM apache/airflow:3.3.2-python3.11

USER root
# IBM publishes the IBM i Access ODBC driver as package ibm-iaccess in its own apt
# repository (IBM i OSS docs, "ODBC installation"); the list file below registers it.
ARG IBMI_ACS_LIST_URL=https://public.dhe.ibm.com/software/ibmi/products/odbc/debs/dists/1.1.0/ibmi-acs-1.1.0.list
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates unixodbc odbc-postgresql \
 && curl -fsSL "${IBMI_ACS_LIST_URL}" -o /etc/apt/sources.list.d/ibmi-acs.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends ibm-iaccess \
 && apt-get clean && rm -rf /var/lib/apt/lists/*

USER airflow
COPY --chown=airflow:root requirements.txt constraints.txt /opt/airflow/project/
RUN pip install --no-cache-dir -r /opt/airflow/project/requirements.txt \
    -c /opt/airflow/project/constraints.txt

COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root config/ /opt/airflow/config/
# The domain package lives in include/ (Astro layout); Airflow adds dags/ and plugins/ itself.
ENV PYTHONPATH=/opt/airflow/include:/opt/airflow/plugins:/opt/airflow \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    IBMI_RESYNC_PLAN=/opt/airflow/config/demo-plan.yaml

# The Sluice image: the official Airflow image with Sluice's pinned dependencies and library baked in.
# docker compose builds it (docker-compose.yaml); every Airflow service and the MLflow services run it.
FROM apache/airflow:3.3.2-python3.11

# Dependencies first (the layer is reused while requirements do not change). Installed as the
# image's own `airflow` user, into its environment, against the complete lock.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/sluice/
RUN pip install --no-cache-dir -r /opt/sluice/requirements.txt -c /opt/sluice/constraints.txt

# The library (include/sluice) and the expectation suites, installed as a package.
COPY --chown=airflow:0 pyproject.toml /opt/sluice/
COPY --chown=airflow:0 include/ /opt/sluice/include/
COPY --chown=airflow:0 expectations/ /opt/sluice/expectations/
RUN pip install --no-cache-dir --no-deps /opt/sluice

# DAGs and the plugin are baked in too; compose also mounts the working tree over them for editing.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/

ENV SLUICE_HOME=/opt/airflow/sluice \
    GX_ANALYTICS_ENABLED=False
USER airflow

# The bureau's Airflow image (docker-compose.yml builds it): the official image of the Airflow version
# pinned in requirements.lock, with that runtime lock installed (hashes checked; no test tools: those are
# in requirements-dev.lock, which only `make install` uses) and the project installed editable.
# No _PIP_ADDITIONAL_REQUIREMENTS: what runs is what was built.
# AIRFLOW_BASE_IMAGE: only the compose test tier overrides it, with a stand-in of the same contract
# (deploy/test-images/airflow); the bureau builds on the official image.
ARG AIRFLOW_BASE_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_BASE_IMAGE}

USER root
# The Airflow user of the compose file may be any UID in group 0: group-writable, as the base image does.
RUN mkdir -p /opt/district /data/inbox /data/district \
    && chown -R airflow:0 /opt/district /data \
    && chmod -R g+rwX /opt/district /data
USER airflow

COPY --chown=airflow:0 requirements.lock /opt/district/requirements.lock
# --no-deps: the lock is complete and already resolved; --require-hashes: every artefact is verified.
RUN pip install --no-cache-dir --no-deps --require-hashes -r /opt/district/requirements.lock

COPY --chown=airflow:0 pyproject.toml /opt/district/pyproject.toml
COPY --chown=airflow:0 pipeline /opt/district/pipeline
COPY --chown=airflow:0 expectations /opt/district/expectations
COPY --chown=airflow:0 dags /opt/district/dags
COPY --chown=airflow:0 deploy /opt/district/deploy
# Editable, as in the Makefile: pipeline.config finds expectations/ and dags/ next to the package.
RUN pip install --no-cache-dir --no-deps -e /opt/district \
    && python /opt/district/deploy/check_lock.py /opt/district/requirements.lock

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/district/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    DISTRICT_INBOX=/data/inbox \
    DISTRICT_DATA=/data/district \
    GX_ANALYTICS_ENABLED=False

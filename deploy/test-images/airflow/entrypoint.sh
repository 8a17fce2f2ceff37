#!/usr/bin/env bash
# The parts of the official image's /entrypoint that docker-compose.yml uses, in its order: wait for
# the metadata database (CONNECTION_CHECK_MAX_COUNT tries, 0 = skip), `airflow db migrate` when
# _AIRFLOW_DB_MIGRATE is set, then `bash …` / `python …` run as given and anything else as
# `airflow …` (so `command: scheduler` runs `airflow scheduler`). Not covered: _AIRFLOW_WWW_USER_CREATE,
# _PIP_ADDITIONAL_REQUIREMENTS, the OpenShift passwd entry, the Celery broker wait.
set -euo pipefail

CONNECTION_CHECK_MAX_COUNT=${CONNECTION_CHECK_MAX_COUNT:=20}
CONNECTION_CHECK_SLEEP_TIME=${CONNECTION_CHECK_SLEEP_TIME:=3}

command="${1:-}"
if [[ "$command" == "airflow" ]]; then
  shift
  command="${1:-}"
fi

if [[ "$CONNECTION_CHECK_MAX_COUNT" -gt 0 ]]; then
  tries=0
  until airflow db check >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [[ $tries -ge $CONNECTION_CHECK_MAX_COUNT ]]; then
      echo "ERROR! Maximum number of retries ($CONNECTION_CHECK_MAX_COUNT) reached." >&2
      airflow db check
      exit 1
    fi
    echo "Waiting for the metadata database: try $tries of $CONNECTION_CHECK_MAX_COUNT" >&2
    sleep "$CONNECTION_CHECK_SLEEP_TIME"
  done
fi

if [[ -n "${_AIRFLOW_DB_MIGRATE:-}" ]]; then
  airflow db migrate
fi

case "$command" in
  bash) shift; exec /bin/bash "$@" ;;
  python) shift; exec python "$@" ;;
  "") exec /bin/bash ;;
  *) exec airflow "$@" ;;
esac

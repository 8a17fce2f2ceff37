#!/usr/bin/env bash
# The compose service airflow-init, run as root once per `docker compose up`: the folders the Airflow
# user writes, the admin's SimpleAuthManager password file, then the metadata database migration
# (the image's entrypoint runs `airflow db migrate` when _AIRFLOW_DB_MIGRATE=true).
set -euo pipefail

: "${AIRFLOW_UID:?}" "${AIRFLOW_HOME:?}" "${DISTRICT_DATA:?}"
: "${DISTRICT_ADMIN_USERNAME:?}" "${DISTRICT_ADMIN_PASSWORD:?}"
passwords_file="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?}"
owner="${AIRFLOW_UID}:${AIRFLOW_GID:-0}"

mkdir -p "$DISTRICT_DATA"/{archive,feedback,out,gx} "$AIRFLOW_HOME/logs" "$(dirname "$passwords_file")"
# Not recursive: the archive grows every month and what the workers write is theirs already.
chown "$owner" "$DISTRICT_DATA" "$DISTRICT_DATA"/{archive,feedback,out,gx} "$AIRFLOW_HOME/logs" \
  "$(dirname "$passwords_file")"

# Rewritten on every start, so changing AIRFLOW_ADMIN_PASSWORD in .env and restarting takes effect.
umask 077
python - "$passwords_file" <<'PY'
import json
import os
import sys

with open(sys.argv[1], "w", encoding="utf-8") as fh:
    json.dump({os.environ["DISTRICT_ADMIN_USERNAME"]: os.environ["DISTRICT_ADMIN_PASSWORD"]}, fh)
PY
chown "$owner" "$passwords_file"
echo "SimpleAuthManager user '${DISTRICT_ADMIN_USERNAME}' written to ${passwords_file}"

exec "${AIRFLOW_ENTRYPOINT:-/entrypoint}" airflow version

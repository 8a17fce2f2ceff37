#!/usr/bin/env bash
# Runs once, when the postgres service initialises an empty data volume (docker-entrypoint-initdb.d):
# the district warehouse gets a database and a login of its own, apart from Airflow's metadata database.
# The names and the password come from the postgres service's environment in docker-compose.yml.
set -euo pipefail

: "${DISTRICT_WAREHOUSE_DB:?}" "${DISTRICT_WAREHOUSE_USER:?}" "${DISTRICT_WAREHOUSE_PASSWORD:?}"

# psql variables (:"ident", :'literal') quote the names and the password; nothing is spliced into SQL.
psql -v ON_ERROR_STOP=1 \
  -v warehouse_db="$DISTRICT_WAREHOUSE_DB" \
  -v warehouse_user="$DISTRICT_WAREHOUSE_USER" \
  -v warehouse_password="$DISTRICT_WAREHOUSE_PASSWORD" \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE :"warehouse_user" LOGIN PASSWORD :'warehouse_password';
CREATE DATABASE :"warehouse_db" OWNER :"warehouse_user" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"warehouse_db" FROM PUBLIC;
SQL

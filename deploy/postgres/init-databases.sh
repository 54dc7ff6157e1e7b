#!/usr/bin/env bash
# Creates the PassCompass databases on the first start of an empty PostgreSQL data volume (the official image runs
# /docker-entrypoint-initdb.d/*.sh once, as POSTGRES_USER). Idempotent: an existing database is left alone.
#   PASSCOMPASS_DB  operational database (Alembic migrations, dbt models)   default passcompass
#   DAGSTER_DB      Dagster instance: runs, events, schedules               default dagster
#   MLFLOW_DB       MLflow tracking backend store                           default mlflow
# Outside the container (tests, a managed server) set PGHOST/PGPORT and POSTGRES_USER the same way.
set -euo pipefail

owner="${POSTGRES_USER:-postgres}"
for database in "${PASSCOMPASS_DB:-passcompass}" "${DAGSTER_DB:-dagster}" "${MLFLOW_DB:-mlflow}"; do
  if [[ ! "${database}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    echo "init-databases: invalid database name '${database}'" >&2
    exit 1
  fi
  psql -v ON_ERROR_STOP=1 --username "${owner}" --dbname "${POSTGRES_DB:-postgres}" --quiet <<SQL
SELECT 'CREATE DATABASE "${database}" OWNER "${owner}"'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${database}')\gexec
SQL
  echo "init-databases: database ${database} ready (owner ${owner})"
done

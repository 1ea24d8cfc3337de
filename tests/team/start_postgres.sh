#!/usr/bin/env bash
# Start Debian's PostgreSQL and create the team-mode test role + database (idempotent, as root).
# Prints the URI to export as JUPYTER_MLOPS_TEST_POSTGRES_URI, e.g.
#   export JUPYTER_MLOPS_TEST_POSTGRES_URI=$(tests/team/start_postgres.sh)
# Needs: apt-get install -y postgresql (the Debian package creates the "main" cluster) and
# psycopg2-binary (SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, so the driver is named).
set -euo pipefail

db=${JUPYTER_MLOPS_PG_DB:-mlops_test}
role=${JUPYTER_MLOPS_PG_USER:-mlops}
password=${JUPYTER_MLOPS_PG_PASSWORD:-mlops-test}

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if [ -z "$version" ]; then
  echo "start_postgres.sh: PostgreSQL is not installed (apt-get install -y postgresql)" >&2
  exit 1
fi
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version main"; then
  pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
  pg_ctlcluster "$version" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')

for _ in $(seq 1 60); do  # bounded: 30 s
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$port" || { echo "start_postgres.sh: server not ready" >&2; exit 1; }

psql_admin() { runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -tAq "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" != "1" ]; then
  psql_admin -c "CREATE ROLE \"$role\" LOGIN PASSWORD '$password'"
fi
# CREATEDB: tests and benchmarks create (and drop) their own databases with unique names
psql_admin -c "ALTER ROLE \"$role\" CREATEDB"
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != "1" ]; then
  psql_admin -c "CREATE DATABASE \"$db\" OWNER \"$role\""
fi
echo "postgresql+psycopg2://$role:$password@127.0.0.1:$port/$db"

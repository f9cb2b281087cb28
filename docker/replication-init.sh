#!/bin/sh
# Run once by the TimescaleDB image's entrypoint on an empty data directory (compose.cluster.yml):
# a role for streaming replication and the pg_hba line that lets the replica connect with it.
set -eu
psql -v ON_ERROR_STOP=1 -v pw="${REPLICATION_PASSWORD:?REPLICATION_PASSWORD not set}" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'pw';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"

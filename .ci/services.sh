#!/usr/bin/env bash
# Make sure NATS (JetStream) and PostgreSQL answer on loopback. Where one does not, install it from
# Debian's packages when missing and start it with its data under .local/ in the project.
# Ports follow SERVICES_NATS_PORT / SERVICES_PG_PORT (defaults 4222 / 5432). Safe to run repeatedly.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
local_dir="$root/.local"
nats_port=${SERVICES_NATS_PORT:-4222}
pg_port=${SERVICES_PG_PORT:-5432}
mkdir -p "$local_dir"

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 100); do answers "$1" && return 0; sleep 0.1; done
  echo "services: nothing answers on 127.0.0.1:$1 after 10 s ($2)" >&2; return 1
}
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if answers "$nats_port"; then
  echo "services: NATS answers on 127.0.0.1:$nats_port"
else
  command -v nats-server >/dev/null || apt_install nats-server
  mkdir -p "$local_dir/nats"
  nohup nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$local_dir/nats" -l "$local_dir/nats.log" >/dev/null 2>&1 &
  wait_port "$nats_port" "see $local_dir/nats.log"
  echo "services: started nats-server -js on 127.0.0.1:$nats_port (store $local_dir/nats)"
fi

if answers "$pg_port"; then
  echo "services: PostgreSQL answers on 127.0.0.1:$pg_port"
else
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$bin" ]; then apt_install postgresql; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1); fi
  data="$local_dir/pg"
  run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  if [ ! -s "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$data" && chmod 700 "$data"
    run_pg "$bin/initdb" -D "$data" -U root --auth=trust -E UTF8 >/dev/null
  fi
  run_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -o "-h 127.0.0.1 -p $pg_port -k /tmp" start >/dev/null
  wait_port "$pg_port" "see $data/server.log"
  echo "services: started PostgreSQL on 127.0.0.1:$pg_port (data $data)"
fi

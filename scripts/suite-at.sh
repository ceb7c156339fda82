#!/usr/bin/env bash
# Run the test suite on a machine moved in time: every process (pytest, the worker, the simulator,
# Celery, daphne, run.sh, Chromium, PostgreSQL and Redis) sees one wall clock shifted to DATE.
#
#   scripts/suite-at.sh "2027-12-11 23:30" [pytest args]      # DATE in New York unless it names a zone
#   make test-at DATE="2027-12-11 23:30" [PYTEST_ARGS=...]
#
# The shift is an offset in seconds, computed once here and inherited by every child process
# through LD_PRELOAD (scripts/realtime-offset.c, which says why not libfaketime), so a subprocess
# started ten minutes in agrees with its parent: the clock keeps running from DATE. A private
# PostgreSQL cluster and redis-server run under the same offset, so the database's now(), Redis'
# stream ids and Python's clock agree. They listen on free loopback ports, keep their data in a
# temporary directory, and are stopped by pid on exit.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 DATE [pytest args]   (DATE as date(1) reads it, in America/New_York unless it names a zone)" >&2
  exit 2
fi
DATE=$1
shift

cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL's initdb is missing (/usr/lib/postgresql/*/bin)." >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is missing." >&2; exit 1; }
command -v cc >/dev/null || { echo "A C compiler is missing (apt-get install gcc)." >&2; exit 1; }
# initdb refuses to run as root; the cluster belongs to an ordinary user.
PG_OS_USER=${PG_OS_USER:-postgres}

target=$(TZ=America/New_York date -d "$DATE" +%s)
offset=$((target - $(date +%s)))

tmp=$(mktemp -d /tmp/suite-at.XXXXXX)
chmod 755 "$tmp"
redis_pid=""
pg_pid=""
cleanup() {
  local rc=$?
  if [ -n "$pg_pid" ]; then
    kill -INT "$pg_pid" 2>/dev/null || true # fast shutdown: end the sessions, then stop
    for _ in $(seq 1 50); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pg_pid" 2>/dev/null || true
  fi
  if [ -n "$redis_pid" ]; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -shared -fPIC -O2 -o "$tmp/realtime-offset.so" scripts/realtime-offset.c
SHIFT=(env LD_PRELOAD="$tmp/realtime-offset.so" REALTIME_OFFSET="$offset")

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pg_port=$(free_port)
redis_port=$(free_port)

mkdir "$tmp/pg"
chown "$PG_OS_USER" "$tmp/pg"
runuser -u "$PG_OS_USER" -- "${SHIFT[@]}" "$PGBIN/initdb" -D "$tmp/pg/data" -U root --auth=trust \
  --encoding=UTF8 --no-sync >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; exit 1; }
runuser -u "$PG_OS_USER" -- "${SHIFT[@]}" "$PGBIN/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $tmp/pg -c fsync=off -c max_connections=200" \
  start >/dev/null || { cat "$tmp/pg/server.log" >&2; exit 1; }
pg_pid=$(head -1 "$tmp/pg/data/postmaster.pid")

"${SHIFT[@]}" redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
  --dir "$tmp" --logfile "$tmp/redis.log" &
redis_pid=$!
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$redis_port" ping >/dev/null

ny() { TZ=America/New_York date -d "@$1" '+%a %F %T %Z'; }
echo "suite-at: $(ny "$target") (offset ${offset}s); PostgreSQL on $pg_port, Redis on $redis_port" >&2
echo "suite-at: Python says $(ny "$("${SHIFT[@]}" "$PY" -c 'import time; print(int(time.time()))')")," \
  "PostgreSQL says $(ny "$(psql -h 127.0.0.1 -p "$pg_port" -U root -d postgres -Atc 'select extract(epoch from now())::bigint')")," \
  "Redis says $(ny "$(redis-cli -p "$redis_port" time | head -1)")" >&2

set +e
"${SHIFT[@]}" \
  TRADECONSOLE_MODE=test \
  DATABASE_URL="postgres://root@127.0.0.1:$pg_port/tradeconsole" \
  REDIS_URL="redis://127.0.0.1:$redis_port/1" \
  TRADECONSOLE_STREAM_PREFIX=tctest \
  "$PY" -m pytest "$@"

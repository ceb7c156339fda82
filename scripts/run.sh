#!/usr/bin/env bash
# `make run`: prepare the desk (database, Redis, TWS, static files, demo data) and start every
# process of the Procfile under honcho, on embedded defaults when nothing is configured.
#
#   DATABASE_URL  used when set; otherwise a private PostgreSQL cluster kept in .run/pg/ (made by
#                 initdb on the first run, with Debian's postgresql installed by apt-get when it is
#                 missing and this runs as root), on a free loopback port, with a generated
#                 password (.run/postgres.password, mode 0600); stopped when this script exits,
#                 its data kept for the next run. PostgreSQL refuses to run as root: as root the
#                 cluster runs as the `postgres` user, which must be able to reach .run/.
#   REDIS_URL     used when set and answering; otherwise a private redis-server on a free port
#                 that requires a generated password (kept in .run/redis.password, mode 0600),
#                 stopped again when this script exits. A REDIS_URL that refuses its password stops here.
#   TWS_HOST      a real TWS / IB Gateway when set (with TWS_PORT); otherwise the paper
#                 simulator (`tws` line of the Procfile) on 127.0.0.1:7497 or a free port.
#   PORT          the web port (default 8000).
#   TRADECONSOLE_API_PORT  the `api` process's port (gunicorn, the fast path for API scripts):
#                 8001, or a free port when 8001 is taken.
#   TRADECONSOLE_PROCESSES   only these Procfile processes, comma-separated (default: all).
#   TRADECONSOLE_RUN_DIR     where the pid file, logs and generated Procfile go (default .run).
#   TRADECONSOLE_LOG_FORMAT  console (default here: text lines with cid=…) or json (logclock.structured).
#
# Procfile lines whose program is not in the repository yet (a `python -m pkg` without
# pkg/__main__.py, a `manage.py cmd` without its command module) are left out with a note, so
# the Procfile can name every process of the design while they are being built.
# Ctrl-C (or SIGTERM) stops honcho, which stops every process, then the private PostgreSQL and Redis.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
RUN_DIR="${TRADECONSOLE_RUN_DIR:-$ROOT/.run}"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
mkdir -p "$RUN_DIR"

say() { printf '\033[1mrun:\033[0m %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$PY" ] || die "No virtualenv at .venv: run \`make run\` (it creates it) instead of this script."
export PATH="$VENV/bin:$PATH"
export PYTHONUNBUFFERED=1
export TRADECONSOLE_MODE="${TRADECONSOLE_MODE:-development}"
# Log lines for people (a JSON line per record is the default of every other way to start a process).
export TRADECONSOLE_LOG_FORMAT="${TRADECONSOLE_LOG_FORMAT:-console}"
export PORT="${PORT:-8000}"

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_is_free() {
  "$PY" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

# Exit 0: Redis at the URL answers; 3: it refuses the URL's credentials; else it does not answer.
# The URL travels in the environment: a command line (ps) would show its password.
redis_answers() {
  TC_CHECK_REDIS_URL="$1" "$PY" - <<'EOF' >/dev/null 2>&1
import os, sys, redis
try:
    redis.Redis.from_url(os.environ["TC_CHECK_REDIS_URL"], socket_timeout=1, socket_connect_timeout=1).ping()
except redis.AuthenticationError:
    sys.exit(3)
EOF
}

# The URL with its password (if any) shown as ***, for messages.
redacted() { sed -E 's#^([a-z]+://[^:/@]*):[^@]*@#\1:***@#' <<<"$1"; }

# --- cleanup: whatever this script started, it stops -------------------------------------------
HONCHO_PID=""
REDIS_PID_FILE="$RUN_DIR/redis.pid"
STARTED_REDIS=""

stop_private_redis() {
  [ -f "$REDIS_PID_FILE" ] || return 0
  local pid
  pid="$(cat "$REDIS_PID_FILE" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$REDIS_PID_FILE"
}

# The private PostgreSQL: its cluster (data/), logs and initdb's files live in $PG_DIR.
# PostgreSQL refuses to run as root, so as root every cluster command runs as the `postgres`
# user (made by Debian's package), which owns $PG_DIR.
PG_DIR="$RUN_DIR/pg"
STARTED_POSTGRES=""
PG_BIN=""

as_cluster_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_private_postgres() {
  [ -n "$PG_BIN" ] && [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
  as_cluster_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" stop -m fast -w -t 30 >/dev/null 2>&1 || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$HONCHO_PID" ] && kill -0 "$HONCHO_PID" 2>/dev/null; then
    kill -TERM "$HONCHO_PID" 2>/dev/null || true
    wait "$HONCHO_PID" 2>/dev/null || true
  fi
  if [ -n "$STARTED_POSTGRES" ]; then
    say "stopping the private PostgreSQL"
    stop_private_postgres
  fi
  if [ -n "$STARTED_REDIS" ]; then
    say "stopping the private Redis"
    stop_private_redis
  fi
  exit "$status"
}
trap cleanup EXIT
# Ctrl-C and SIGTERM are the normal way to stop the desk: a clean stop exits 0.
trap 'exit 0' INT TERM

# --- web port ----------------------------------------------------------------------------------
port_is_free "$PORT" || die "Port $PORT on 127.0.0.1 is taken; stop what uses it or run \`PORT=8001 make run\`."
# The API process (gunicorn) listens apart from daphne; honcho stops every process when one
# exits, so a taken port must not end the desk: take a free one instead, and say which.
if [ -z "${TRADECONSOLE_API_PORT:-}" ]; then
  TRADECONSOLE_API_PORT=8001
  if [ "$TRADECONSOLE_API_PORT" = "$PORT" ] || ! port_is_free "$TRADECONSOLE_API_PORT"; then
    TRADECONSOLE_API_PORT="$(free_port)"
  fi
fi
export TRADECONSOLE_API_PORT

# --- database ----------------------------------------------------------------------------------
# Exit 0: PostgreSQL at the URL answers (the URL travels in the environment, as Redis's does).
postgres_answers() {
  TC_CHECK_DATABASE_URL="$1" "$PY" - <<'EOF' >/dev/null 2>&1
import os, psycopg
psycopg.connect(os.environ["TC_CHECK_DATABASE_URL"], connect_timeout=2).close()
EOF
}

newest_postgres_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -n "${DATABASE_URL:-}" ]; then
  say "database: DATABASE_URL (${DATABASE_URL%%://*}://…)"
else
  PG_BIN="$(newest_postgres_bin)"
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "database: installing PostgreSQL with apt-get"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      PG_BIN="$(newest_postgres_bin)"
    else
      die "PostgreSQL is not installed: install it (sudo apt-get install postgresql) or set DATABASE_URL=postgres://…"
    fi
  fi
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" = 0 ]; then
    getent passwd postgres >/dev/null || die "PostgreSQL refuses to run as root and there is no postgres user to run it: set DATABASE_URL=postgres://…"
    chown postgres: "$PG_DIR"
    chmod 700 "$PG_DIR"
    runuser -u postgres -- test -w "$PG_DIR" \
      || die "the postgres user cannot reach ${PG_DIR}: move the checkout (or TRADECONSOLE_RUN_DIR) where it can, or set DATABASE_URL=postgres://…"
  fi
  stop_private_postgres  # a leftover of a run that was killed without cleaning up
  # Even on loopback the cluster wants a password, for the reason Redis does (any local process
  # could otherwise book a fill); readable by this user only and never on a command line.
  PG_PASSWORD_FILE="$RUN_DIR/postgres.password"
  if [ ! -s "$PG_DIR/data/PG_VERSION" ]; then
    say "database: creating a private PostgreSQL cluster in ${PG_DIR#"$ROOT"/}/data ($("$PG_BIN/postgres" --version))"
    (umask 077 && "$PY" -c 'import secrets; print(secrets.token_hex(32))' >"$PG_PASSWORD_FILE")
    (umask 077 && cp "$PG_PASSWORD_FILE" "$PG_DIR/initdb.password")
    [ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR/initdb.password"
    rm -rf "$PG_DIR/data"
    as_cluster_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U tradeconsole --pwfile="$PG_DIR/initdb.password" \
      --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
      || { rm -f "$PG_DIR/initdb.password"; die "initdb failed; see ${PG_DIR#"$ROOT"/}/initdb.log"; }
    rm -f "$PG_DIR/initdb.password"
  fi
  [ -s "$PG_PASSWORD_FILE" ] \
    || die "${PG_PASSWORD_FILE#"$ROOT"/} is missing: remove ${PG_DIR#"$ROOT"/} to make a new cluster (its data goes with it)."
  chmod 600 "$PG_PASSWORD_FILE"
  PG_PORT="$(free_port)"
  STARTED_POSTGRES=1  # from here on, stopped on exit even if it never answers
  # TCP on loopback only, and no Unix socket: its default directory is the machine's server's.
  as_cluster_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=''" start >/dev/null \
    || die "the private PostgreSQL did not start; see ${PG_DIR#"$ROOT"/}/postgres.log"
  PG_PASSWORD="$(cat "$PG_PASSWORD_FILE")"
  export DATABASE_URL="postgres://tradeconsole:$PG_PASSWORD@127.0.0.1:$PG_PORT/tradeconsole"
  TC_CHECK_DATABASE_URL="postgres://tradeconsole:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres" "$PY" - <<'EOF' \
    || die "could not create the database tradeconsole; see ${PG_DIR#"$ROOT"/}/postgres.log"
import os, psycopg
with psycopg.connect(os.environ["TC_CHECK_DATABASE_URL"], autocommit=True) as connection:
    if not connection.execute("SELECT 1 FROM pg_database WHERE datname = 'tradeconsole'").fetchone():
        connection.execute("CREATE DATABASE tradeconsole")
EOF
  unset PG_PASSWORD
  postgres_answers "$DATABASE_URL" || die "the private PostgreSQL does not answer; see ${PG_DIR#"$ROOT"/}/postgres.log"
  say "database: private PostgreSQL on 127.0.0.1:$PG_PORT, data in ${PG_DIR#"$ROOT"/}/data, password in ${PG_PASSWORD_FILE#"$ROOT"/} (stopped on exit)"
fi

# --- Redis -------------------------------------------------------------------------------------
redis_status=1
if [ -n "${REDIS_URL:-}" ]; then
  redis_answers "$REDIS_URL" && redis_status=0 || redis_status=$?
fi
if [ "$redis_status" = 0 ]; then
  say "redis: REDIS_URL answers"
elif [ "$redis_status" = 3 ]; then
  die "redis: $(redacted "$REDIS_URL") refuses REDIS_URL's credentials: put its password (and ACL user) in REDIS_URL, redis://USER:PASSWORD@HOST:PORT/DB."
else
  [ -n "${REDIS_URL:-}" ] && say "redis: REDIS_URL=$(redacted "$REDIS_URL") does not answer; starting a private one instead"
  if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "redis: installing redis-server with apt-get"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
      die "redis-server is not installed: install it (sudo apt-get install redis-server) or set REDIS_URL."
    fi
  fi
  stop_private_redis  # a leftover of a run that was killed without cleaning up
  REDIS_PORT="$(free_port)"
  # Even on loopback Redis wants a password: any local process could otherwise write the streams
  # (a forged order.filled is booked). Generated once, readable by this user only, and given to
  # redis-server in a config file of the same mode, never on a command line (ps shows those).
  REDIS_PASSWORD_FILE="$RUN_DIR/redis.password"
  if [ ! -s "$REDIS_PASSWORD_FILE" ]; then
    (umask 077 && "$PY" -c 'import secrets; print(secrets.token_hex(32))' >"$REDIS_PASSWORD_FILE")
  fi
  chmod 600 "$REDIS_PASSWORD_FILE"
  REDIS_PASSWORD="$(cat "$REDIS_PASSWORD_FILE")"
  (umask 077 && printf 'requirepass %s\n' "$REDIS_PASSWORD" >"$RUN_DIR/redis.conf")
  redis-server "$RUN_DIR/redis.conf" --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --daemonize yes --pidfile "$REDIS_PID_FILE" --logfile "$RUN_DIR/redis.log" --dir "$RUN_DIR" >/dev/null
  STARTED_REDIS=1
  export REDIS_URL="redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0"
  unset REDIS_PASSWORD
  for _ in $(seq 1 50); do redis_answers "$REDIS_URL" && break; sleep 0.1; done
  redis_answers "$REDIS_URL" || die "the private redis-server did not answer; see .run/redis.log"
  say "redis: private redis-server on 127.0.0.1:$REDIS_PORT, password in ${REDIS_PASSWORD_FILE#"$ROOT"/} (pid $(cat "$REDIS_PID_FILE"), stopped on exit)"
fi

# --- TWS -----------------------------------------------------------------------------------------
if [ -n "${TWS_HOST:-}" ]; then
  SIMULATE_TWS=""
  say "tws: a real TWS / IB Gateway at $TWS_HOST:${TWS_PORT:-7497}"
else
  SIMULATE_TWS=1
  export TWS_HOST=127.0.0.1
  if [ -z "${TWS_PORT:-}" ]; then
    if port_is_free 7497; then TWS_PORT=7497; else TWS_PORT="$(free_port)"; fi
  fi
  export TWS_PORT
  # The worker's risk gate checks prices against market data, so stream the simulator's stocks
  # (the `--instruments` of the Procfile's tws line, which are seed_demo's) from the start.
  if [ -z "${TC_WORKER_MD_SYMBOLS:-}" ]; then
    TC_WORKER_MD_SYMBOLS="$(sed -n 's/^tws:.*--instruments \([^ ]*\).*/\1/p' "$ROOT/Procfile" | tr ',' '\n' | cut -d= -f1 | paste -sd, -)"
    export TC_WORKER_MD_SYMBOLS
  fi
  if [ -f tws_simulator/__main__.py ]; then
    say "tws: the paper simulator on $TWS_HOST:$TWS_PORT (set TWS_HOST to use a real TWS)"
  else
    say "tws: TWS_HOST=$TWS_HOST TWS_PORT=$TWS_PORT, where the paper simulator will listen once tws_simulator is built"
  fi
fi

# --- database schema, static files, demo data -------------------------------------------------------
"$PY" manage.py migrate --noinput
"$PY" manage.py collectstatic --noinput --verbosity 0
"$PY" manage.py seed_demo

# --- the process list ------------------------------------------------------------------------------
# Keep a Procfile line only when its program exists (see the header) and, for `tws`, only when
# no real TWS is configured. `web` stays first: honcho gives the first process $PORT itself.
PROCFILE="$RUN_DIR/Procfile"
: >"$PROCFILE"
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in ''|'#'*) continue ;; esac
  name="${line%%:*}"
  command="${line#*:}"
  if [ -n "${TRADECONSOLE_PROCESSES:-}" ] && [[ ",$TRADECONSOLE_PROCESSES," != *",$name,"* ]]; then
    continue
  fi
  if [ "$name" = tws ] && [ -z "$SIMULATE_TWS" ]; then
    say "process $name: left out (TWS_HOST is set)"
    continue
  fi
  if [[ "$command" =~ python[0-9.]*\ +-m\ +([A-Za-z_][A-Za-z0-9_.]*) ]]; then
    module="${BASH_REMATCH[1]//./\/}"
    if [ ! -f "$module/__main__.py" ] && [ ! -f "$module.py" ]; then
      say "process $name: left out (${BASH_REMATCH[1]} is not in the repository yet)"
      continue
    fi
  fi
  if [[ "$command" =~ manage\.py\ +([a-z_]+) ]]; then
    if ! compgen -G "*/management/commands/${BASH_REMATCH[1]}.py" >/dev/null; then
      say "process $name: left out (manage.py ${BASH_REMATCH[1]} is not in the repository yet)"
      continue
    fi
  fi
  printf '%s\n' "$line" >>"$PROCFILE"
done <"$ROOT/Procfile"

say "starting: $(cut -d: -f1 "$PROCFILE" | paste -sd' ' -) — the admin is at http://127.0.0.1:$PORT/admin/ (Ctrl-C stops)"
grep -q '^api:' "$PROCFILE" && say "api: the REST API also on http://127.0.0.1:$TRADECONSOLE_API_PORT/api/v1/ (gunicorn, for scripts)"
# honcho's line prefixes on the one log clock (UTC, the zone written), as every process's own lines.
"$PY" -m logclock.honcho start --procfile "$PROCFILE" --app-root "$ROOT" --port "$PORT" &
HONCHO_PID=$!
status=0
wait "$HONCHO_PID" || status=$?
# Ctrl-C reaches honcho as well as this shell: when honcho's own exit (130) is reaped before the
# shell runs its INT trap, the stop is still the clean one the trap would have reported.
[ "$status" -eq 130 ] && status=0
exit "$status"

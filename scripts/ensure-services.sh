#!/usr/bin/env bash
# Make sure the machine's PostgreSQL and Redis answer, starting them with the documented
# commands when they are installed but down. Used by `make test` and `make bench`.
set -euo pipefail

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "PostgreSQL is down; starting it." >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
  pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL does not answer on 127.0.0.1:5432." >&2; exit 1; }
fi

# The Redis of the tests and benchmarks: TEST_REDIS_URL as the Makefile passes it, credentials
# included. Its URL travels in the environment, never on a command line (ps would show a password).
# Exit 0: it answers; 3: it refuses the URL's credentials; else it does not answer.
export TC_CHECK_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/1}"
redis_answers() {
  "${PYTHON:-.venv/bin/python}" - <<'EOF' >/dev/null 2>&1
import os, sys, redis
try:
    redis.Redis.from_url(os.environ["TC_CHECK_REDIS_URL"], socket_timeout=1, socket_connect_timeout=1).ping()
except redis.AuthenticationError:
    sys.exit(3)
EOF
}
status=0
redis_answers || status=$?
if [ "$status" = 3 ]; then
  echo "Redis refuses TEST_REDIS_URL's credentials: put its password (and ACL user) in TEST_REDIS_URL." >&2
  exit 1
elif [ "$status" != 0 ]; then
  case "$TC_CHECK_REDIS_URL" in
    redis://127.0.0.1:6379/*|redis://localhost:6379/*) ;;
    *) echo "Redis at TEST_REDIS_URL does not answer; start it, or unset TEST_REDIS_URL for the local one." >&2; exit 1 ;;
  esac
  command -v redis-server >/dev/null || { echo "Install redis-server (apt-get install redis-server)." >&2; exit 1; }
  echo "Redis is down; starting it." >&2
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis_answers && break; sleep 0.2; done
fi

"""The shared metrics directory of a server that forks workers (gunicorn's api, Celery's prefork pool).

Imported before Django and prometheus_client: prometheus_client picks its multiprocess mode when it
is imported.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tradeconsole import env

# Beside make run's other files (TRADECONSOLE_RUN_DIR, default .run).
METRICS_ROOT = (
    Path(os.environ.get("TRADECONSOLE_RUN_DIR") or Path(__file__).resolve().parent.parent / ".run") / "metrics"
)


def multiprocess_directory_prepare(kind: str, *, server_pid: int) -> Path | None:
    """Point prometheus_client at the metrics directory of one forking server (gunicorn's api, Celery's pool).

    Each worker process of the server writes its series there and any of them (or the parent) reads
    the sum, so a scrape sees the whole server, not the one worker that answered. Must run before
    prometheus_client is imported; does nothing when metrics are off or a directory is already set.
    Directories of servers no longer running are removed, so restarts never add up old counts.
    """
    if not env.boolean("TRADECONSOLE_METRICS", True) or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    directory = METRICS_ROOT / f"{kind}-{server_pid}"
    directory.mkdir(parents=True, exist_ok=True)
    for old in METRICS_ROOT.glob(f"{kind}-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != server_pid and not _running(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def celery_worker_directory_prepare() -> Path | None:
    """In a Celery worker (``celery ... worker``), prepare its pool's directory (``multiprocess_directory_prepare``)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    # `celery …` runs the console script; `python -m celery …` runs celery/__main__.py.
    is_celery = program.name == "celery" or (program.name == "__main__.py" and program.parent.name == "celery")
    if is_celery and "worker" in sys.argv[1:]:
        return multiprocess_directory_prepare("celery", server_pid=os.getpid())
    return None

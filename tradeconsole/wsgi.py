"""The WSGI application, served by gunicorn as the `api` process (see the README's processes).

Under daphne (ASGI) Django runs every sync view of a process on one thread, so order entry
queues there; gunicorn's worker processes run requests on every core. Same project, same
settings, same URLs: only the server differs.
"""

import os
import sys

from tradeconsole.metrics_dir import multiprocess_directory_prepare

# gunicorn forks its workers before they import this module: one metrics directory per master, so
# /metrics on any worker answers for all of them (before anything imports prometheus_client).
if "gunicorn" in sys.modules:
    multiprocess_directory_prepare("api", server_pid=os.getppid())

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeconsole.settings")
application = get_wsgi_application()

# Each gunicorn worker records the api heartbeat the Desk lists (issue 22), after the fork; only a
# server's processes hold the arbiter (a test may import gunicorn's logging).
if "gunicorn.arbiter" in sys.modules:
    from streams.serving import serving_heartbeat_start

    serving_heartbeat_start("api")

"""Where the test database is, for the subprocesses and side connections a test opens."""

from __future__ import annotations

from urllib.parse import quote

import psycopg
from django.db import connection

_KEYS = ("host", "port", "user", "password", "dbname")


def database_params(**overrides) -> dict:
    """Connection parameters of the database this test runs on (the test database), as psycopg takes them.

    Read from the test's own connection, never assumed: a suite run against another server (another
    port, a private cluster) must reach that server from every process it starts.
    """
    params = {key: value for key, value in connection.get_connection_params().items() if key in _KEYS and value}
    return {**params, **overrides}


def database_url() -> str:
    """``DATABASE_URL`` of the test database, for a subprocess that must share it."""
    params = database_params()
    credentials = quote(params.get("user", ""), safe="")
    if params.get("password"):
        credentials += ":" + quote(params["password"], safe="")
    host = params.get("host", "127.0.0.1")
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgres://{credentials}@{host}{port}/{quote(params['dbname'], safe='')}"


def database_connect(**overrides) -> psycopg.Connection:
    """A new psycopg connection of its own to the test database (``dbname=...`` to reach another one)."""
    return psycopg.connect(**database_params(**overrides))

"""Each benchmark's own PostgreSQL database, made fresh for every run.

A benchmark that shares a database measures the leftovers of the others (thousands of orders, an
outbox backlog), so every Django benchmark starts with :func:`setup_django`, which points
``DATABASE_URL`` at ``<name>_bench_<bench>``, drops what an earlier run left there, creates and
migrates it. Subprocesses the benchmark starts (servers, the bridge) inherit the variable.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import django

DEFAULT_URL = "postgres://root@127.0.0.1:5432/tradeconsole"


def private_database_url(bench: str, url: str | None = None) -> str:
    """Return ``url`` (default ``DATABASE_URL``) renamed to the database of ``bench``.

    Idempotent: a URL that already names the bench's database is returned as it is, so a child
    process of a benchmark lands in the same database as its parent.
    """
    parts = urlsplit(url or os.environ.get("DATABASE_URL", DEFAULT_URL))
    name = parts.path.lstrip("/") or "tradeconsole"
    suffix = f"_bench_{bench}"
    if not name.endswith(suffix):
        name += suffix
    return urlunsplit(parts._replace(path=f"/{name}"))


def setup_django(bench: str, *, fresh: bool = True) -> None:
    """Point Django at the bench's private database (dropped and created when ``fresh``), run
    ``django.setup()`` and migrate.

    Call once per process, before anything imports models.

    :raises psycopg.Error: PostgreSQL refuses to drop or create the database.
    """
    os.environ["DATABASE_URL"] = private_database_url(bench)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeconsole.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    _recreate(settings.DATABASES["default"], drop=fresh)
    call_command("migrate", verbosity=0)


def _recreate(db: dict, *, drop: bool) -> None:
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    import psycopg
    from psycopg import sql

    params = {
        "host": db.get("HOST") or "127.0.0.1",
        "port": db.get("PORT") or 5432,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    name = sql.Identifier(db["NAME"])
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        if drop:
            # FORCE: a server or bridge an interrupted run left behind must not keep the old rows.
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))

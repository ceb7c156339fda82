"""Read settings from the environment, failing loudly on a value that does not parse."""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_MISSING = object()

_env = environ.Env()


def raw(name: str, default=_MISSING) -> str:
    """Return the variable ``name``, or the contents of the file named by ``NAME_FILE``.

    :raises ImproperlyConfigured: neither is set and there is no default.
    """
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    if name in os.environ:
        return os.environ[name]
    if default is _MISSING:
        raise ImproperlyConfigured(f"Set the environment variable {name}.")
    return default


def string(name: str, default=_MISSING) -> str:
    return raw(name, default)


def boolean(name: str, default: bool) -> bool:
    """Parse a boolean strictly: ``1/true/yes/on`` or ``0/false/no/off``.

    :raises ImproperlyConfigured: any other value.
    """
    value = raw(name, None)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true or false).")


def integer(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Parse an integer, optionally bounded.

    :raises ImproperlyConfigured: not an integer, or out of bounds.
    """
    value = raw(name, None)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ImproperlyConfigured(f"{name}={number} is outside {minimum}..{maximum}.")
    return number


def number(name: str, default: float, *, minimum: float | None = None) -> float:
    """Parse a float.

    :raises ImproperlyConfigured: not a number, or below ``minimum``.
    """
    value = raw(name, None)
    if value is None:
        return default
    try:
        parsed = float(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
    if minimum is not None and parsed < minimum:
        raise ImproperlyConfigured(f"{name}={parsed} is below {minimum}.")
    return parsed


def string_list(name: str, default: list[str]) -> list[str]:
    value = raw(name, None)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def database(name: str) -> dict:
    """Parse the PostgreSQL URL ``postgres://USER:PASSWORD@HOST:PORT/NAME`` into Django's DATABASES entry.

    There is no default: the desk's records must not land in whatever database happens to
    answer. ``make run`` sets it to a private cluster under ``.run/`` when it is not set.

    :raises ImproperlyConfigured: unset, not a PostgreSQL URL, or malformed.
    """
    url = raw(name, None)
    if not url:
        raise ImproperlyConfigured(
            f"Set {name}=postgres://USER:PASSWORD@HOST:PORT/NAME (`make run` starts a private PostgreSQL"
            " under .run/ when it is not set)."
        )
    try:
        config = _env.db_url_config(url)
    except Exception as exc:  # django-environ raises several types for a bad URL
        raise ImproperlyConfigured(f"{name}={url!r} is not a database URL: {exc}") from exc
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"{name}={url!r}: use a postgres:// URL (PostgreSQL is the only database).")
    return config


def redis_url(name: str, default: str) -> str:
    """Return a Redis URL after checking its scheme.

    :raises ImproperlyConfigured: not a ``redis://``, ``rediss://`` or ``unix://`` URL.
    """
    url = raw(name, default)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"{name}={url!r} is not a redis:// URL.")
    return url

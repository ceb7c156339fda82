"""The desk's authentication backend: Django's ModelBackend, reading a user's permissions in one query."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from tradeconsole import db


def _permissions_sql(user_id: str = "%s", names: str = "ct.app_label, p.codename") -> str:
    """The user's own and their groups' permissions; ``user_id`` is the SQL giving the user's id."""
    user_model = get_user_model()
    return (
        f"SELECT {names} FROM {Permission._meta.db_table} p"
        f" JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id"
        f" WHERE p.id IN (SELECT permission_id FROM {user_model.user_permissions.through._meta.db_table}"
        f"   WHERE user_id = {user_id}"
        f" UNION SELECT gp.permission_id FROM {Group.permissions.through._meta.db_table} gp"
        f"   JOIN {user_model.groups.through._meta.db_table} ug ON ug.group_id = gp.group_id"
        f"   WHERE ug.user_id = {user_id})"
    )


def permission_names_sql(user_id_column: str) -> str | None:
    """Return a scalar subquery giving, as one array, the permission names (``app_label.codename``)
    of the user whose id is in ``user_id_column``, to read with the user in one statement; None
    where the database has no arrays (SQLite: the backend then reads them on first use)."""
    if connection.vendor != "postgresql":
        return None
    names = "ct.app_label || '.' || p.codename"
    return f"ARRAY({_permissions_sql(user_id_column, names)})"


def permissions_preload(user_obj, names) -> None:
    """Give ``user_obj`` the permissions read with it (``permission_names_sql``), as
    ``DeskModelBackend.get_all_permissions`` would cache them on first use."""
    if user_obj.is_active and not user_obj.is_anonymous and not user_obj.is_superuser:
        user_obj._perm_cache = set(names)


class DeskModelBackend(ModelBackend):
    """ModelBackend whose ``has_perm`` reads the user's own and their groups' permissions together.

    Every API write asks ``has_perm`` (the role gate, then the service), and ModelBackend answers
    it with two ORM queries, which cost about as much CPU as the rest of an order's checks. This
    is the same set in one plain query, cached on the user object as ModelBackend caches it (so
    a change of role applies from the user's next request). Superusers and the per-source
    methods (``get_user_permissions``, ``get_group_permissions``) are ModelBackend's own.
    """

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser:
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            with db.cursor() as cursor:
                cursor.execute(_permissions_sql(), [user_obj.pk, user_obj.pk])
                user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in cursor.fetchall()}
        return user_obj._perm_cache

    async def aget_all_permissions(self, user_obj, obj=None) -> set[str]:
        return await sync_to_async(self.get_all_permissions)(user_obj, obj)

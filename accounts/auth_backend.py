"""The desk's authentication backend: Django's ModelBackend, reading a user's permissions in one query."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth.backends import ModelBackend

from accounts import sql


def permissions_preload(user_obj, names) -> None:
    """Give ``user_obj`` the permissions read with it (``accounts.sql.tokens_with_key``), as
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
            user_obj._perm_cache = sql.user_permission_names(user_obj.pk)
        return user_obj._perm_cache

    async def aget_all_permissions(self, user_obj, obj=None) -> set[str]:
        return await sync_to_async(self.get_all_permissions)(user_obj, obj)

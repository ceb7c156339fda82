"""Role gates of the API: which desk roles may call an endpoint at all.

Reads need any desk role (Viewer, Trader, Risk manager, Admin). Writes need the Django model
permission the service itself checks (``accounts.roles`` gives each role its permissions:
Trader adds orders, Risk manager adds limits, halts and the kill switch, Admin everything), so
the API refuses early with 403 exactly what the service would refuse. Which rows a caller sees
is the selectors' account scoping, not these gates.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.selectors import user_roles


def request_roles(request) -> frozenset[str]:
    """Return the caller's desk roles, looked up once per request."""
    cached = getattr(request, "_desk_roles", None)
    if cached is None:
        cached = frozenset(user_roles(request.user))
        request._desk_roles = cached
    return cached


def _signed_in(request) -> bool:
    user = request.user
    return bool(user and user.is_authenticated and user.is_active)


class IsDeskMember(BasePermission):
    """Any desk role may read."""

    message = "You hold no desk role (Viewer, Trader, Risk manager or Admin)."

    def has_permission(self, request, view) -> bool:
        return _signed_in(request) and bool(request_roles(request))


class DeskPermission(IsDeskMember):
    """Reads for any desk role; each unsafe method needs the permission ``view.write_perms`` names.

    ``write_perms`` maps a method (``POST``, ``PATCH``, ``DELETE``…) or ``"*"`` to a Django
    permission such as ``orders.add_order``. A view may narrow it per action with
    ``get_write_perm(request)``.
    """

    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return super().has_permission(request, view)
        # A write needs its permission, which only a role grants: no separate role lookup.
        perm = _write_perm(request, view)
        return _signed_in(request) and perm is not None and request.user.has_perm(perm)


def _write_perm(request, view) -> str | None:
    getter = getattr(view, "get_write_perm", None)
    if getter is not None:
        return getter(request)
    perms = getattr(view, "write_perms", {})
    return perms.get(request.method, perms.get("*"))

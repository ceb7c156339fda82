"""What a live page's socket may see: the user's accounts and rights, and whether its session still holds."""

from __future__ import annotations


def socket_access_load(user) -> dict:
    """Read, once per connection, which accounts the user sees and where they may act.

    Returns ``accounts`` (a set of account ids) and the flags the row templates read
    (``can_cancel``, ``can_halt``, ``can_control_sessions``, ``can_flatten``, ``can_enter_orders``:
    a row's Buy and Sell).
    """
    from accounts.selectors import accounts_for_user

    accounts = list(accounts_for_user(user).values_list("pk", flat=True))
    return {
        "accounts": set(accounts),
        "can_cancel": user.has_perm("orders.change_order"),
        "can_halt": user.has_perm("accounts.change_brokeraccount"),
        "can_control_sessions": user.has_perm("strategies.change_tradingsession"),
        "can_flatten": user.has_perm("orders.add_order"),
        "can_enter_orders": user.has_perm("orders.add_order"),
    }


def socket_session_valid(scope: dict) -> bool:
    """Whether the socket's session still exists and still authenticates an active user."""
    from django.contrib.auth import get_user

    session = scope.get("session")
    if session is None or session.session_key is None or not session.exists(session.session_key):
        return False

    class _Request:  # get_user needs only .session
        pass

    request = _Request()
    session = session.__class__(session.session_key)
    request.session = session
    user = get_user(request)
    return bool(user.is_authenticated and user.is_active and user.pk == scope["user"].pk)


def socket_two_factor_verified(scope: dict) -> bool:
    """Whether the socket's session passed the sign-in's authenticator code where one is needed
    (``accounts.two_factor.session_verified``): the HTTP pages' middleware does not see sockets."""
    from accounts.two_factor import session_verified

    return session_verified(scope["user"], scope.get("session"))

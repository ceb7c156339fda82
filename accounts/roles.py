"""The desk's roles as permission sets: what each Django group may do.

The data migration ``orders.0003_roles`` creates the groups from this table (``orders.0008`` and
``orders.0009`` add the API token permissions to existing ones); ``roles_sync``
(in ``accounts.services``) re-applies it, e.g. after new models were added.
"""

from __future__ import annotations

from accounts.models import Role

# Apps whose models the roles cover.
DOMAIN_APPS = ("accounts", "orders", "strategies")

# Permissions by role, as "app_label.codename"; "app_label.view_*" means every view permission
# of that app. Each role includes the one before it (except Admin, which holds everything).
# One's own API tokens (the admin shows a non-superuser only theirs): a reporting script reads
# as a Viewer, a trading script places orders as a Trader.
API_TOKENS = ("knox.view_authtoken", "knox.add_authtoken", "knox.delete_authtoken")
# Idempotency keys keep other people's API answers: not for every reader.
VIEWER = (
    "accounts.view_*",
    "orders.view_*",
    "strategies.view_*",
    "-accounts.view_user",
    "-accounts.view_idempotencykey",
    *API_TOKENS,
)
TRADER = (
    *VIEWER,
    "orders.add_order",
    "orders.change_order",
    "orders.add_scheduledorder",
    "orders.change_scheduledorder",
    "strategies.change_tradingsession",
    # Traders create and edit strategies, and save their graphs as versions (issue 19).
    "strategies.add_strategy",
    "strategies.change_strategy",
    "strategies.add_strategyversion",
    # Traders run backtests of the versions they see, and cancel them (issue 19).
    "strategies.add_backtest",
    "strategies.change_backtest",
)
RISK_MANAGER = (
    *TRADER,
    "orders.change_risklimit",
    "orders.approve_order",
    "accounts.change_brokeraccount",
    "accounts.change_killswitch",
    "accounts.change_alert",
    # A version's orders reach the broker only once a Risk manager other than its author approved it.
    "strategies.approve_strategyversion",
    # Who is told of alerts and how each message went (channels carry webhook secrets: Admins only).
    "notifications.view_rule",
    "notifications.view_delivery",
)
ADMIN = ("accounts.*", "orders.*", "strategies.*", "notifications.*", "auth.*", *API_TOKENS)

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.VIEWER: VIEWER,
    Role.TRADER: TRADER,
    Role.RISK_MANAGER: RISK_MANAGER,
    Role.ADMIN: ADMIN,
}


def expand(rules: tuple[str, ...], available: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Return the ``(app_label, codename)`` pairs of ``available`` that ``rules`` grant.

    A rule is ``app.codename``, ``app.prefix*`` (a wildcard at the end) or ``-rule`` (removes).
    """
    granted: set[tuple[str, str]] = set()
    removed: set[tuple[str, str]] = set()
    for rule in rules:
        target = removed if rule.startswith("-") else granted
        app_label, _, pattern = rule.lstrip("-").partition(".")
        for app, codename in available:
            if app != app_label:
                continue
            if (pattern.endswith("*") and codename.startswith(pattern[:-1])) or codename == pattern:
                target.add((app, codename))
    return granted - removed

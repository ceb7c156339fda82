"""Every write of the accounts app: audit rows, the outbox, halts, the kill switch, values, alerts,
broker accounts and memberships; one topic per module, and callers import from this package.

Services are keyword-only and atomic; a refusal raises an ``accounts.exceptions`` error and
leaves no rows. ``actor=None`` means the desk itself (monitor, scheduler, bridge): no
membership or permission check applies to it.
"""

from accounts.services.alerts import (
    alert_acknowledge,
    alert_raise,
    alert_resolve,
    position_mismatch_acknowledge,
)
from accounts.services.audit import audit_record
from accounts.services.broker_accounts import (
    BROKER_ACCOUNT_EDITABLE,
    account_values_update,
    broker_account_create,
    broker_account_update,
)
from accounts.services.common import (
    COMMANDS_STREAM,
    RISK_STREAM,
    account_lock,
    actor_or_none,
    jsonable,
    model_validate,
    require_actor,
    save_unique,
)
from accounts.services.halts import account_halt, account_resume
from accounts.services.kill_switch import kill_switch_engage, kill_switch_hold, kill_switch_release
from accounts.services.memberships import membership_add, membership_remove, roles_sync
from accounts.services.outbox import outbox_enqueue
from accounts.services.two_factor import totp_enrol

__all__ = [
    "BROKER_ACCOUNT_EDITABLE",
    "COMMANDS_STREAM",
    "RISK_STREAM",
    "account_halt",
    "account_lock",
    "account_resume",
    "account_values_update",
    "actor_or_none",
    "alert_acknowledge",
    "alert_raise",
    "alert_resolve",
    "audit_record",
    "broker_account_create",
    "broker_account_update",
    "jsonable",
    "kill_switch_engage",
    "kill_switch_hold",
    "kill_switch_release",
    "membership_add",
    "membership_remove",
    "model_validate",
    "outbox_enqueue",
    "position_mismatch_acknowledge",
    "require_actor",
    "roles_sync",
    "save_unique",
    "totp_enrol",
]

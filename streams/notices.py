"""The live pages' notices (toasts): a fill, an order rejected, an account halted or resumed, the kill switch.

Made by ``streams.publish`` from the audit rows a commit announced (``audit_record`` announces each
row it writes). An audit row is one change, written once: ``notice-<audit id>`` names its notice,
so a page shows it once however often it arrives. A notice goes to the notice group of every user
entitled to it (``live.notice_group``), which every live page joins whatever rows it shows: an
account's notices to its members and the superusers (who see every account, ``accounts_for_user``),
the kill switch's to every active user. Notices are never part of a page's snapshot: a resync or a
reconnect replays none.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.utils import timezone

from accounts.models import AccountMembership, AuditLog, User
from accounts.services.audit import TOLD_ACTIONS, audit_told
from orders.models import Fill, Order
from streams import live, rows

NOTICE = "notice"
AUDIT = "accounts.auditlog"

FILL = "fill.record"
HALT = "account.halt"
RESUME = "account.resume"
ENGAGE = "kill_switch.engage"
RELEASE = "kill_switch.release"
DESK_FLATTEN = "desk.flatten"
# A modify or a cancel the broker (or the worker) refused: the order works on as it was.
REFUSED = {"order.modify_rejected": "Modify refused", "order.cancel_rejected": "Cancel refused"}

# The kill switch's modes in the desk's words (the audit row's ``mode``; a desk flatten beside it: flatten).
MODES = {"halt": "no new orders", "cancel_all": "working orders cancelled", "flatten": "cancel and flatten"}


def _num(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def _by(entry: AuditLog) -> str:
    return f" · by {entry.actor}" if entry.actor_id else ""


def _notice(entry: AuditLog, event: str, title: str, text: str, *, level: str, sticky: bool = False) -> dict:
    ctx = {
        "audit_id": entry.pk,
        "event": event,
        "title": title,
        "text": text,
        "level": level,
        "sticky": sticky,
        "at": timezone.localtime(entry.created_at).strftime("%H:%M:%S"),
    }
    return rows.row(NOTICE, f"notice-{entry.pk}", ctx, account_id=entry.account_id)


def _fill_notice(entry: AuditLog, fill: Fill) -> dict:
    text = f"{fill.side} {_num(fill.quantity)} {fill.instrument.symbol} @ {_num(fill.price)} · {fill.account.code}"
    return _notice(entry, "fill", "Fill", text, level="ok")


def _reject_notice(entry: AuditLog, order: Order) -> dict:
    price = f" {_num(order.limit_price)}" if order.limit_price is not None else ""
    what = f"{order.side} {_num(order.quantity)} {order.instrument.symbol} {order.order_type}{price}"
    reason = order.reject_reason or "no reason given"
    code = f" ({order.reject_code})" if order.reject_code else ""
    text = f"{what} · {order.account.code}: {reason}{code}"
    return _notice(entry, "reject", "Order rejected", text, level="bad", sticky=True)


def _refused_notice(entry: AuditLog, order: Order) -> dict:
    after = entry.after or {}
    code = f" ({after['code']})" if after.get("code") else ""
    what = f"{order.side} {_num(order.quantity)} {order.instrument.symbol} {order.order_type}"
    text = f"{what} · {order.account.code}: {after.get('reason') or 'no reason given'}{code}"
    return _notice(entry, "refused", REFUSED[entry.action], text, level="bad", sticky=True)


def _account_notice(entry: AuditLog) -> dict:
    code = entry.account.code if entry.account_id else ""
    if entry.action == RESUME:
        return _notice(entry, "resume", "Account resumed", f"{code}: new orders allowed again{_by(entry)}", level="ok")
    after = entry.after or {}
    cancelled = " · working orders cancelled" if after.get("mode") == "cancel_all" else ""
    text = f"{code}: {after.get('halted_reason') or 'halted'}{cancelled}{_by(entry)}"
    return _notice(entry, "halt", "Account halted", text, level="bad")


def _kill_switch_notice(entry: AuditLog, *, flattened: bool) -> dict:
    after = entry.after or {}
    if entry.action == RELEASE:
        reason = f": {after['reason']}" if after.get("reason") else ""
        return _notice(
            entry, "release", "Kill switch released", f"Orders allowed again{reason}{_by(entry)}", level="ok"
        )
    mode = MODES["flatten"] if flattened else MODES.get(after.get("mode", ""), after.get("mode", ""))
    text = f"{after.get('reason') or 'Kill switch'} · {mode}{_by(entry)}"
    return _notice(entry, "kill", "Kill switch engaged", text, level="bad", sticky=True)


def notice_rows(audit_ids: Iterable[int]) -> list[dict]:
    """The notices of the audit rows ``audit_ids``, oldest first; rows of other changes make none.

    A fill (``fill.record``), an order that became ``REJECTED`` (the broker's or the gate's
    refusal, a refused approval, a command the worker could not read), a modify or a cancel the
    broker refused, an account halted or resumed, the kill switch engaged (its mode "cancel and
    flatten" when a desk flatten past the switch is in the same commit) or released.
    """
    ids = [int(pk) for pk in audit_ids]
    if not ids:
        return []
    # Only the rows ``audit_told`` picked are announced; the same rule, read back, keeps this exact.
    entries = [
        e
        for e in AuditLog.objects.select_related("account", "actor").filter(pk__in=ids).order_by("pk")
        if audit_told(action=e.action, object_type=e.object_type, before=e.before, after=e.after)
    ]
    rejected = {e.pk for e in entries if e.object_type == "orders.order" and e.action not in TOLD_ACTIONS}
    fills = Fill.objects.select_related("account", "instrument").in_bulk(
        [int(e.object_id) for e in entries if e.action == FILL]
    )
    orders = Order.objects.select_related("account", "instrument").in_bulk(
        [int(e.object_id) for e in entries if e.pk in rejected or e.action in REFUSED]
    )
    flattened = any(e.action == DESK_FLATTEN and (e.after or {}).get("past_kill_switch") for e in entries)
    found = []
    for entry in entries:
        if entry.action == FILL and int(entry.object_id) in fills:
            found.append(_fill_notice(entry, fills[int(entry.object_id)]))
        elif entry.pk in rejected and int(entry.object_id) in orders:
            found.append(_reject_notice(entry, orders[int(entry.object_id)]))
        elif entry.action in REFUSED and int(entry.object_id) in orders:
            found.append(_refused_notice(entry, orders[int(entry.object_id)]))
        elif entry.action in (HALT, RESUME):
            found.append(_account_notice(entry))
        elif entry.action in (ENGAGE, RELEASE):
            found.append(_kill_switch_notice(entry, flattened=flattened))
    return found


def notice_groups(notices: list[dict]) -> dict[str, list[dict]]:
    """The notices each user's notice group receives: an account's to its active members and the
    active superusers, a notice of no account (the kill switch) to every active user."""
    if not notices:
        return {}
    account_ids = {n["account_id"] for n in notices if n["account_id"] is not None}
    active = User.objects.filter(is_active=True)
    desk_wide = any(n["account_id"] is None for n in notices)
    everyone = list(active.values_list("pk", flat=True)) if desk_wide else []
    members: dict[int, set[int]] = {}
    if account_ids:
        superusers = set(active.filter(is_superuser=True).values_list("pk", flat=True))
        members = {pk: set(superusers) for pk in account_ids}
        for account_id, user_id in AccountMembership.objects.filter(
            account_id__in=account_ids, user__is_active=True
        ).values_list("account_id", "user_id"):
            members[account_id].add(user_id)
    by_group: dict[str, list[dict]] = {}
    for notice in notices:
        users = everyone if notice["account_id"] is None else sorted(members[notice["account_id"]])
        for user_id in users:
            by_group.setdefault(live.notice_group(user_id), []).append(notice)
    return by_group

"""Every write of the orders app, one topic per module; callers import the services from here.

Each service is keyword-only and atomic: it locks the rows it changes, checks the transition
table, saves with ``update_fields`` and writes the ``OrderEvent`` (``events``), the audit row and
(when the worker must act) the outbox row in the same transaction. A refusal raises a domain
exception and leaves no rows. ``actor=None`` means the desk itself (scheduler, monitor,
strategy, bridge). Broker-side services (``order_mark_*``, ``order_apply_broker_status``,
``fill_record``…) are idempotent: a redelivered message (same ``message_id``), a duplicate
``exec_id`` or a backward status is recorded (or skipped) and changes nothing.

- ``entry``: ``order_submit`` and its checks; ``brackets``: an entry with its exits;
  ``duplicates``: the duplicate guard; ``quantity``: quantity increments.
- ``amend``: approve or refuse, cancel, modify.
- ``broker_events``: what the bridge applies (accepted, rejected, unknown, status);
  ``broker_orders``: orders first seen in the broker's events (a strategy's, TWS's);
  ``command_failures``: commands that went to the dead-letter stream.
- ``flatten``: close a position, an account or the desk (and the kill switch's "cancel and flatten").
- ``baskets``: orders entered as one, checked all or nothing, cancelled together.
- ``fills``: executions, commissions, positions; ``fill_corrections``: IB's corrections.
- ``risk_limits``, ``instruments``, ``schedules`` (scheduled orders kept by people) and
  ``schedule_firing`` (the beat's firing of them).
- ``events``: the order event kinds and their writer; ``common`` and ``states``: the helpers
  the services share.
"""

from orders.services.amend import order_approval_refuse, order_approve, order_cancel, order_modify
from orders.services.baskets import basket_cancel, basket_check, basket_submit
from orders.services.brackets import bracket_submit
from orders.services.broker_events import (
    order_apply_broker_status,
    order_mark_accepted,
    order_mark_command_rejected,
    order_mark_rejected,
    order_mark_unknown,
)
from orders.services.broker_orders import order_record_broker
from orders.services.command_failures import order_command_dead_lettered
from orders.services.common import order_place_data
from orders.services.duplicates import duplicate_refusals_audited
from orders.services.entry import order_submit
from orders.services.events import OrderEventKind, order_event_record
from orders.services.fills import fill_apply_commission, fill_record, position_record_broker
from orders.services.flatten import (
    account_flatten,
    desk_flatten,
    kill_switch_cancel_and_flatten,
    position_flatten,
)
from orders.services.instruments import (
    INSTRUMENT_EDITABLE,
    instrument_create,
    instrument_record_price,
    instrument_update,
)
from orders.services.risk_limits import (
    RISK_LIMIT_FIELDS,
    RISK_POLICY_FIELDS,
    risk_limit_update,
    risk_limits_data,
    risk_limits_publish,
)
from orders.services.schedule_firing import (
    occurrence_client_order_id,
    scheduled_order_dry_run,
    scheduled_order_fire_due,
    scheduled_order_pause,
    scheduled_order_resume,
    scheduled_order_settle,
)
from orders.services.schedules import scheduled_order_create, scheduled_order_delete, scheduled_order_update

__all__ = [
    "INSTRUMENT_EDITABLE",
    "RISK_LIMIT_FIELDS",
    "RISK_POLICY_FIELDS",
    "OrderEventKind",
    "account_flatten",
    "basket_cancel",
    "basket_check",
    "basket_submit",
    "bracket_submit",
    "desk_flatten",
    "duplicate_refusals_audited",
    "fill_apply_commission",
    "fill_record",
    "instrument_create",
    "instrument_record_price",
    "instrument_update",
    "kill_switch_cancel_and_flatten",
    "occurrence_client_order_id",
    "order_apply_broker_status",
    "order_approval_refuse",
    "order_approve",
    "order_cancel",
    "order_command_dead_lettered",
    "order_event_record",
    "order_mark_accepted",
    "order_mark_command_rejected",
    "order_mark_rejected",
    "order_mark_unknown",
    "order_modify",
    "order_place_data",
    "order_record_broker",
    "order_submit",
    "position_flatten",
    "position_record_broker",
    "risk_limit_update",
    "risk_limits_data",
    "risk_limits_publish",
    "scheduled_order_create",
    "scheduled_order_delete",
    "scheduled_order_dry_run",
    "scheduled_order_fire_due",
    "scheduled_order_pause",
    "scheduled_order_resume",
    "scheduled_order_settle",
    "scheduled_order_update",
]

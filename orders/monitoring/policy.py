"""The monitor's policy for an account and instrument: the risk limit's fields, a running strategy's overrides."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from accounts.models import BrokerAccount
from orders.models import Instrument, RiskLimit
from orders.policy_fields import POLICY_FIELDS
from orders.selectors import risk_limit_for_account


@dataclass(frozen=True)
class Policy:
    """What the monitor does for one account and instrument."""

    stop_loss_pct: Decimal | None = None
    take_profit_pct: Decimal | None = None
    stale_order_seconds: int | None = None
    stale_order_action: str = "reprice"
    stale_reprice_max: int = 3
    reject_retry_max: int = 0

    @property
    def wants_protection(self) -> bool:
        return bool(self.stop_loss_pct) or bool(self.take_profit_pct)


def _coerce(name: str, value):
    if value in (None, ""):
        return None
    if name in ("stop_loss_pct", "take_profit_pct"):
        return Decimal(str(value))
    if name == "stale_order_action":
        return str(value) if str(value) in ("reprice", "cancel") else "reprice"
    return int(value)


def policy_for(
    *, account: BrokerAccount, instrument: Instrument | None = None, limits: RiskLimit | None = None
) -> Policy:
    """Return the monitor's policy for ``account`` (and ``instrument``).

    The account's ``RiskLimit`` gives the defaults; the parameters of the most recently started
    running trading session on the account that has traded ``instrument`` override them.
    """
    from strategies.models import TradingSession

    limits = limits or risk_limit_for_account(account)
    values = {name: getattr(limits, name) for name in POLICY_FIELDS}
    if instrument is not None:
        session = (
            TradingSession.objects.filter(
                account=account, status=TradingSession.Status.RUNNING, orders__instrument=instrument
            )
            .select_related("strategy")
            .order_by("-started_at", "-pk")
            .first()
        )
        if session is not None:
            for name in POLICY_FIELDS:
                if name in (session.strategy.parameters or {}):
                    values[name] = session.strategy.parameters[name]
    coerced = {name: _coerce(name, value) for name, value in values.items()}
    for name, default in (("stale_order_action", "reprice"), ("stale_reprice_max", 3), ("reject_retry_max", 0)):
        if coerced[name] is None:
            coerced[name] = default
    return Policy(**coerced)

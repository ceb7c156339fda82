"""Every Redis key and consumer group of the contract, derived from one prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamNames:
    """Every Redis key of the contract, derived from one prefix (``TRADECONSOLE_STREAM_PREFIX``)."""

    prefix: str = "tc"

    @property
    def commands(self) -> str:
        return f"{self.prefix}:commands"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}:dlq"

    def md(self, symbol: str) -> str:
        """The market-data stream of one symbol."""
        return f"{self.prefix}:md:{symbol}"

    @property
    def md_wanted(self) -> str:
        """A set of the symbols the desk wants quotes of (written by Django from the users' watchlists)."""
        return f"{self.prefix}:md:wanted"

    def risk_limits(self, account: str) -> str:
        """The string key holding one account's risk limits as JSON (written by Django)."""
        return f"{self.prefix}:risk:limits:{account}"

    def worker(self, name: str) -> str:
        """A key of the worker's durable state (``{prefix}:worker:{name}``)."""
        return f"{self.prefix}:worker:{name}"

    @property
    def halts(self) -> str:
        """The kill switch's barrier: a hash, account code (or ``*``) -> JSON ``{"reason", "token"}``,
        written by Django before an engage or halt returns; the worker sends nothing its scope covers."""
        return f"{self.prefix}:halts"

    def sending(self, account: str) -> str:
        """The worker's short lease while an order of ``account`` (``*``: any) is between its send
        claim and placeOrder; an engage waits for the leases of its scope to end."""
        return f"{self.prefix}:worker:sending:{account}"


COMMANDS_GROUP = "execution"
EVENTS_GROUP = "bridge"

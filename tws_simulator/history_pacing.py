"""TWS's historical-data pacing rules, per connection: error 162 "Historical data request pacing violation".

IB's rules: no more than 60 requests in any ten minutes; no identical request within 15 seconds;
no six or more requests for the same contract, exchange and tick type within two seconds. The limits
come from the config (IB's by default) so tests can use small ones. A refused request does not
count against the limits.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from tws_simulator.config import SimulatorConfig

VIOLATION = "Historical Market Data Service error message:Historical data request pacing violation"


@dataclass(frozen=True, slots=True)
class Limits:
    per_window: int
    window: float
    identical_within: float
    same_contract_count: int
    same_contract_within: float

    @classmethod
    def of(cls, config: SimulatorConfig) -> Limits:
        return cls(
            config.history_requests_per_window,
            config.history_window,
            config.history_identical_within,
            config.history_same_contract_count,
            config.history_same_contract_within,
        )


class HistoryPacing:
    """The recent historical requests of one connection, on the loop thread."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.recent: deque[tuple[float, tuple, tuple]] = deque()

    def admit(self, now: float, identity: tuple, contract_key: tuple) -> bool:
        """Record a request at ``now`` and return True, or return False (a violation, not recorded).

        ``identity`` is everything that makes two requests identical; ``contract_key`` is the
        contract, exchange and tick type of the six-in-two-seconds rule.
        """
        lim = self.limits
        horizon = max(lim.window, lim.identical_within, lim.same_contract_within)
        while self.recent and self.recent[0][0] <= now - horizon:
            self.recent.popleft()
        in_window = sum(1 for t, _, _ in self.recent if t > now - lim.window)
        if lim.per_window and in_window >= lim.per_window:
            return False
        if any(i == identity and t > now - lim.identical_within for t, i, _ in self.recent):
            return False
        same = sum(1 for t, _, k in self.recent if k == contract_key and t > now - lim.same_contract_within)
        if lim.same_contract_count and same + 1 >= lim.same_contract_count:
            return False
        self.recent.append((now, identity, contract_key))
        return True

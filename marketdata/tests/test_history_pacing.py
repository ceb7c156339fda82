"""IB's historical pacing rules as the broker loop keeps them, on a clock the test moves by hand."""

from __future__ import annotations

from marketdata.broker.pacing import HistoryPacing, PacingRules


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pacing() -> tuple[HistoryPacing, Clock]:
    """IB's rules to the second (no margin), so the figures below are IB's own."""
    clock = Clock()
    return HistoryPacing(PacingRules(margin=0.0), clock=clock), clock


def _send(pacing: HistoryPacing, request, contract) -> None:
    assert pacing.delay(request, contract) == 0.0
    pacing.record(request, contract)


def test_sixty_requests_in_ten_minutes_then_the_sixty_first_waits_for_the_first_to_age_out():
    pacing, clock = _pacing()
    for n in range(60):
        _send(pacing, ("req", n), ("SYM", n))  # different contracts: only the 10-minute rule applies
        clock.now += 3.0
    # 60 sent over 180 s; the first went at 1000.0, so the next may go at 1600.0.
    assert pacing.delay(("req", 60), ("SYM", 60)) == 1600.0 - clock.now
    clock.now = 1599.0
    assert pacing.delay(("req", 60), ("SYM", 60)) == 1.0
    clock.now = 1600.0
    _send(pacing, ("req", 60), ("SYM", 60))
    # The second of the sixty (sent at 1003.0) is next to age out.
    assert pacing.delay(("req", 61), ("SYM", 61)) == 3.0


def test_an_identical_request_waits_fifteen_seconds_and_a_different_one_does_not():
    pacing, clock = _pacing()
    _send(pacing, "same", "AAPL")
    clock.now += 5.0
    assert pacing.delay("same", "AAPL") == 10.0
    assert pacing.delay("other", "AAPL") == 0.0
    clock.now += 10.0
    assert pacing.delay("same", "AAPL") == 0.0


def test_the_sixth_request_for_one_contract_within_two_seconds_waits_and_other_contracts_go():
    pacing, clock = _pacing()
    for n in range(5):
        _send(pacing, ("AAPL", n), "AAPL")
        clock.now += 0.25
    # Five went between 1000.0 and 1001.0; a sixth before 1002.0 would be six within 2 s.
    assert pacing.delay(("AAPL", 5), "AAPL") == 1002.0 - clock.now
    assert pacing.delay(("MSFT", 0), "MSFT") == 0.0
    clock.now = 1002.0
    _send(pacing, ("AAPL", 5), "AAPL")


def test_a_violation_holds_every_request_and_the_back_off_doubles_while_violations_repeat():
    pacing, clock = _pacing()
    assert pacing.violated() == 30.0
    assert pacing.delay("any", "MSFT") == 30.0
    clock.now += 30.0
    assert pacing.delay("any", "MSFT") == 0.0
    assert pacing.violated() == 60.0
    pacing.answered()
    clock.now += 60.0
    assert pacing.violated() == 30.0


def test_the_back_off_stops_growing_at_ten_minutes():
    pacing, _clock = _pacing()
    waits = [pacing.violated() for _ in range(8)]
    assert waits == [30.0, 60.0, 120.0, 240.0, 480.0, 600.0, 600.0, 600.0]


def test_by_default_every_window_is_kept_half_a_second_longer_than_ibs():
    clock = Clock()
    pacing = HistoryPacing(clock=clock)
    pacing.record("same", "AAPL")
    clock.now += 15.0
    assert pacing.delay("same", "AAPL") == 0.5
    clock.now += 0.5
    assert pacing.delay("same", "AAPL") == 0.0

"""The worker's durable records in Redis: claim once, load back, prune only old final orders."""

from __future__ import annotations

import time

from execution_worker.store import OrderRecord, Store


def _record(coid: str, **values) -> OrderRecord:
    base = {"account": "DU1", "symbol": "AAPL", "side": "BUY", "quantity": "1", "order_type": "MKT"}
    base.update(values)
    return OrderRecord(client_order_id=coid, **base)


def test_a_client_order_id_is_claimed_once_with_its_order_id(redis_client, prefix):
    store = Store(redis_client, prefix)
    assert store.record_new(_record("a", order_id=41)) is True
    assert store.record_new(_record("a", order_id=42)) is False
    records, max_id, halts = store.load()
    assert records["a"].order_id == 41 and max_id == 41 and halts == {}
    assert redis_client.hget(f"{prefix}:worker:order_ids", "41") == b"a"


def test_a_claim_still_works_when_redis_does_not_know_the_script(redis_client, prefix):
    # As after a Redis restart: the sha the store holds names no script Redis has.
    store = Store(redis_client, prefix)
    store._claim.sha = "0" * 40
    assert store.record_new(_record("a", order_id=7)) is True
    assert store.record_new(_record("a", order_id=8)) is False
    assert store.load()[0]["a"].order_id == 7


def test_halts_survive_a_reload_until_cleared(redis_client, prefix):
    store = Store(redis_client, prefix)
    store.set_halt("*", "kill switch")
    assert store.load()[2] == {"*": "kill switch"}
    store.clear_halt("*")
    assert store.load()[2] == {}


def test_prune_forgets_old_final_orders_and_keeps_working_and_unknown_ones(redis_client, prefix):
    store = Store(redis_client, prefix)
    old = time.time_ns() - 10 * 24 * 3600 * 10**9
    store.record_new(_record("filled", order_id=1, state="Filled", created_ns=old))
    store.record_new(_record("working", order_id=2, state="Submitted", created_ns=old))
    store.record_new(_record("unknown", order_id=3, state="unknown", created_ns=old))
    store.record_new(_record("fresh", order_id=4, state="Cancelled", created_ns=time.time_ns()))
    records, max_id, _ = store.load()
    assert store.prune(records, older_than_ns=time.time_ns() - 7 * 24 * 3600 * 10**9) == 1
    assert sorted(records) == ["fresh", "unknown", "working"]
    assert sorted(store.load()[0]) == ["fresh", "unknown", "working"]
    assert max_id == 4 and store.load()[1] == 4


def test_a_command_id_is_claimed_once_released_when_it_had_no_effect_and_pruned_by_age(redis_client, prefix):
    store = Store(redis_client, prefix)
    assert store.claim_command("m1", 1_000) is True
    assert store.claim_command("m1", 2_000) is False
    store.release_command("m1")
    assert store.claim_command("m1", 3_000) is True
    assert store.claim_command("m2", 5_000) is True
    assert redis_client.pttl(store.applied_key) > 0
    assert store.prune_commands(4_000) == 1
    assert store.claim_command("m1", 6_000) is True and store.claim_command("m2", 6_000) is False

"""The consumer-group helper against the real Redis: pending first, claim, ack, dead-letter before ack."""

from __future__ import annotations

import time

from execution_worker.messages.consumer import StreamConsumer


def _consumer(client, prefix, name="c1", **kwargs):
    consumer = StreamConsumer(
        client, stream=f"{prefix}:s", group="g", consumer=name, dlq=f"{prefix}:dlq", min_idle_ms=50, **kwargs
    )
    consumer.ensure_group()
    return consumer


def test_entries_written_before_the_group_existed_are_delivered(redis_client, prefix):
    redis_client.xadd(f"{prefix}:s", {"a": "1"})
    consumer = _consumer(redis_client, prefix)
    consumer.ensure_group()  # a second call is harmless
    entries = consumer.read(block_ms=None)
    assert [e.fields for e in entries] == [{b"a": b"1"}]


def test_a_restarted_consumer_reads_its_pending_entries_before_new_ones(redis_client, prefix):
    consumer = _consumer(redis_client, prefix)
    first = redis_client.xadd(f"{prefix}:s", {"n": "1"})
    assert [e.entry_id for e in consumer.read(block_ms=None)] == [first]
    second = redis_client.xadd(f"{prefix}:s", {"n": "2"})
    restarted = _consumer(redis_client, prefix)
    batch = restarted.read(block_ms=None)
    assert [e.entry_id for e in batch] == [first]
    assert batch[0].deliveries == 2
    assert [e.entry_id for e in restarted.read(block_ms=None)] == [second]


def test_acknowledged_entries_are_not_read_again(redis_client, prefix):
    consumer = _consumer(redis_client, prefix)
    redis_client.xadd(f"{prefix}:s", {"n": "1"})
    entry = consumer.read(block_ms=None)[0]
    consumer.ack(entry.entry_id)
    assert _consumer(redis_client, prefix).read(block_ms=None) == []


def test_entries_of_a_dead_consumer_are_claimed_after_the_idle_time(redis_client, prefix):
    dead = _consumer(redis_client, prefix, name="dead")
    entry_id = redis_client.xadd(f"{prefix}:s", {"n": "1"})
    dead.read(block_ms=None)
    alive = _consumer(redis_client, prefix, name="alive")
    assert alive.claim_stale() == []
    time.sleep(0.08)
    claimed = alive.claim_stale()
    assert [e.entry_id for e in claimed] == [entry_id]
    assert claimed[0].deliveries == 2


def test_dead_letter_copies_the_entry_with_its_reason_then_acknowledges(redis_client, prefix):
    consumer = _consumer(redis_client, prefix)
    redis_client.xadd(f"{prefix}:s", {"data": "{not json"})
    entry = consumer.read(block_ms=None)[0]
    consumer.dead_letter(entry, code="message.undecodable", reason="data is not JSON")
    ((_dlq_id, fields),) = redis_client.xrange(f"{prefix}:dlq")
    assert fields[b"code"] == b"message.undecodable"
    assert fields[b"reason"] == b"data is not JSON"
    assert fields[b"data"] == b"{not json"
    assert fields[b"entry_id"] == entry.entry_id
    assert redis_client.xpending(f"{prefix}:s", "g")["pending"] == 0


def test_a_huge_entry_is_dead_lettered_as_evidence_not_copied_whole(redis_client, prefix):
    consumer = _consumer(redis_client, prefix)
    redis_client.xadd(f"{prefix}:s", {"data": "x" * (10 * 1024 * 1024)})
    entry = consumer.read(block_ms=None)[0]
    consumer.dead_letter(entry, code="message.too_large", reason="too large")
    ((_, fields),) = redis_client.xrange(f"{prefix}:dlq")
    assert len(fields[b"data"]) < 5000


def test_should_dead_letter_after_the_fifth_delivery(redis_client, prefix):
    consumer = _consumer(redis_client, prefix)
    redis_client.xadd(f"{prefix}:s", {"n": "1"})
    deliveries = []
    for _ in range(5):
        fresh = _consumer(redis_client, prefix)
        entry = fresh.read(block_ms=None)[0]
        deliveries.append((entry.deliveries, fresh.should_dead_letter(entry)))
    assert deliveries == [(1, False), (2, False), (3, False), (4, False), (5, True)]
    del consumer


def test_a_lost_group_is_recreated_instead_of_failing(redis_client, prefix):
    consumer = _consumer(redis_client, prefix)
    redis_client.delete(f"{prefix}:s")
    assert consumer.read(block_ms=None) == []
    redis_client.xadd(f"{prefix}:s", {"n": "1"})
    assert len(consumer.read(block_ms=None)) == 1

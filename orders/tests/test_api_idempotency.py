"""Idempotent order entry (T1, T2): retry, concurrent duplicate, key reuse, missing key, per-user keys."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.idempotency import IdempotencyKey, idempotency_keys_purge
from accounts.models import OutboxMessage, Role
from accounts.tests.factories import UserFactory
from orders.models import Order

ORDERS = reverse("api-v1:order-list")
BODY = {
    "account": "DU0000001",
    "symbol": "AAPL",
    "side": "BUY",
    "quantity": "10",
    "order_type": "LMT",
    "limit_price": "100.00",
}


def post(client, body=BODY, key="key-1"):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(ORDERS, body, format="json", **headers)


@pytest.mark.django_db
def test_a_retry_with_the_same_key_and_body_returns_the_first_response(as_trader):
    first = post(as_trader)
    second = post(as_trader, body=dict(reversed(list(BODY.items()))))  # same body, other key order

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Order.objects.count() == 1
    assert OutboxMessage.objects.filter(type="order.place").count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_unprocessable(as_trader):
    post(as_trader)

    response = post(as_trader, body={**BODY, "quantity": "11"})

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency.key_reused"
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_an_order_without_a_key_is_a_bad_request(as_trader):
    response = post(as_trader, key=None)

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency.key_missing"
    assert response.json()["field"] == "Idempotency-Key"
    assert not Order.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "naïve-key", "two words"])
def test_a_malformed_key_is_a_bad_request(as_trader, key):
    response = post(as_trader, key=key)

    assert response.status_code == 400
    assert response.json()["code"] in {"idempotency.key_missing", "idempotency.key_invalid"}
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_keys_are_scoped_per_user(as_trader, account, trader):
    first = post(as_trader)
    other = UserFactory(username="trader2", roles=[Role.TRADER], accounts=[account])
    as_trader.force_authenticate(other)

    second = post(as_trader)

    assert second.status_code == 201
    assert second.json()["client_order_id"] != first.json()["client_order_id"]
    assert "Idempotent-Replayed" not in second
    assert Order.objects.count() == 2


@pytest.mark.django_db
def test_a_refused_request_keeps_no_key_so_it_can_be_sent_again(as_trader, account):
    account.trading_enabled = False
    account.save(update_fields=["trading_enabled"])
    assert post(as_trader).status_code == 409
    assert post(as_trader, body={**BODY, "quantity": "abc"}).status_code == 400
    assert not IdempotencyKey.objects.exists()

    account.trading_enabled = True
    account.save(update_fields=["trading_enabled"])
    assert post(as_trader).status_code == 201
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_a_key_older_than_24_hours_is_forgotten(as_trader):
    first = post(as_trader)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    # As old as its key, so the same order again is no possible duplicate either.
    Order.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    second = post(as_trader)

    assert second.status_code == 201
    assert second.json()["client_order_id"] != first.json()["client_order_id"]
    assert Order.objects.count() == 2


@pytest.mark.django_db
def test_purging_deletes_only_expired_keys(as_trader):
    post(as_trader, key="old")
    post(as_trader, key="new", body={**BODY, "quantity": "2"})
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))

    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db
def test_a_key_left_in_progress_by_a_dead_request_is_taken_over(as_trader, trader):
    # A request that died mid-way committed nothing but its "in progress" key row.
    IdempotencyKey.objects.create(
        user=trader, key="key-1", fingerprint=_fingerprint(as_trader), created_at=timezone.now()
    )

    response = post(as_trader)

    assert response.status_code == 201
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_a_request_that_fails_after_writing_leaves_neither_its_order_nor_its_key(as_trader, monkeypatch):
    """The key, the order and the stored response commit together: a failure before the commit
    rolls all of them back, and the same key then places the order once."""
    from accounts.api import idempotency

    def fail(**kwargs):
        raise RuntimeError("the server died before storing the response")

    monkeypatch.setattr(idempotency, "idempotency_key_complete", fail)
    as_trader.raise_request_exception = False

    assert post(as_trader).status_code == 500
    assert not Order.objects.exists() and not OutboxMessage.objects.exists()
    assert not IdempotencyKey.objects.exists()

    monkeypatch.undo()
    assert post(as_trader).status_code == 201
    assert Order.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_key_can_only_be_claimed_inside_a_transaction(trader):
    from accounts.idempotency import idempotency_key_claim

    with pytest.raises(RuntimeError):
        idempotency_key_claim(user=trader, key="k", fingerprint="f" * 64)


def _fingerprint(client) -> str:
    from accounts.idempotency import request_fingerprint

    return request_fingerprint(method="POST", path=ORDERS, body=BODY)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_concurrent_duplicate_gets_a_conflict_while_the_first_runs(trader, instrument, account):
    """T1: hold the first request inside its transaction; the duplicate must answer 409 at once."""
    first_inside = threading.Event()
    release_first = threading.Event()
    results: dict[str, object] = {}

    from orders import services

    real_submit = services.order_submit

    def slow_submit(**kwargs):
        order = real_submit(**kwargs)
        first_inside.set()
        # Bounded: the test fails rather than hangs if the duplicate never answers.
        release_first.wait(timeout=10)
        return order

    def first():
        try:
            client = APIClient()
            client.force_authenticate(trader)
            results["first"] = post(client)
        finally:
            connection.close()

    services.order_submit = slow_submit
    try:
        thread = threading.Thread(target=first)
        thread.start()
        assert first_inside.wait(timeout=10)
        services.order_submit = real_submit
        client = APIClient()
        client.force_authenticate(trader)
        duplicate = post(client)
        release_first.set()
        thread.join(timeout=10)
    finally:
        services.order_submit = real_submit
        release_first.set()

    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "idempotency.in_progress"
    assert results["first"].status_code == 201
    retry = post(client)
    assert retry.status_code == 201
    assert retry.json() == results["first"].json()
    assert Order.objects.count() == 1
    assert OutboxMessage.objects.filter(type="order.place").count() == 1


def _hold_in_a_thread(hold) -> tuple[threading.Event, threading.Event, threading.Thread]:
    """Run ``hold()`` in a transaction of another connection until released; return (held, release, thread)."""
    held, release = threading.Event(), threading.Event()

    def run():
        try:
            with transaction.atomic():
                hold()
                held.set()
                release.wait(timeout=10)  # bounded: the test fails rather than hangs
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert held.wait(timeout=10)
    return held, release, thread


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_key_row_locked_by_a_running_request_of_the_earlier_version_is_a_conflict(trader, instrument, account):
    """A rolling deploy: the earlier version committed the key's row on its own and holds its row
    lock while it places the order. The new version must answer 409, not place a second order."""
    client = APIClient()
    client.force_authenticate(trader)
    IdempotencyKey.objects.create(user=trader, key="key-1", fingerprint=_fingerprint(client), created_at=timezone.now())
    _, release, thread = _hold_in_a_thread(lambda: IdempotencyKey.objects.select_for_update().get(key="key-1"))
    try:
        response = post(client)
    finally:
        release.set()
        thread.join(timeout=10)

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency.in_progress"
    assert not Order.objects.exists()
    assert post(client).status_code == 201  # unlocked now: a dead request's row, taken over
    assert Order.objects.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_while_a_retry_holds_a_finished_key_others_replay_it_or_get_422(trader, instrument, account):
    from accounts.idempotency import idempotency_key_claim

    client = APIClient()
    client.force_authenticate(trader)
    first = post(client)
    _, release, thread = _hold_in_a_thread(
        lambda: idempotency_key_claim(user=trader, key="key-1", fingerprint=_fingerprint(client))
    )
    try:
        replay = post(client)
        other = post(client, body={**BODY, "quantity": "11"})
    finally:
        release.set()
        thread.join(timeout=10)

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"
    assert other.status_code == 422 and other.json()["code"] == "idempotency.key_reused"
    assert Order.objects.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_racing_duplicates_create_exactly_one_order(trader, instrument, account):
    """Eight threads post the same key at once: one order, and every 201 is the same order."""
    barrier = threading.Barrier(8, timeout=10)
    responses = []
    lock = threading.Lock()

    def worker():
        try:
            client = APIClient()
            client.force_authenticate(trader)
            barrier.wait()
            response = post(client, key="race")
            with lock:
                responses.append(response)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    codes = sorted(response.status_code for response in responses)
    assert len(codes) == 8 and set(codes) <= {201, 409}
    assert Order.objects.count() == 1
    order_ids = {response.json()["client_order_id"] for response in responses if response.status_code == 201}
    assert order_ids == {str(Order.objects.get().client_order_id)}
    with transaction.atomic():
        assert IdempotencyKey.objects.get(key="race").status == IdempotencyKey.Status.COMPLETE


@pytest.mark.django_db
def test_a_multipart_upload_is_an_unsupported_media_type_not_a_server_error(as_trader):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = as_trader.post(
        ORDERS,
        {**BODY, "attachment": SimpleUploadedFile("x.txt", b"hello")},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="upload-1",
    )

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert not Order.objects.exists()

"""Order events: one enumeration of their kinds, its broker kinds the stream contract's, older kinds still readable."""

from __future__ import annotations

import pytest
from django.urls import reverse

from execution_worker import messages as contract
from orders.models import OrderEvent, OrderEventKind
from orders.services import order_event_record
from orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

# A kind no writer uses any more, as a row of an older version holds it.
OLDER_KIND = "monitor.stale_cancel"


def test_the_kinds_of_the_events_the_bridge_applies_are_the_stream_contracts_event_types():
    broker_kinds = [
        OrderEventKind.ACCEPTED,
        OrderEventKind.REJECTED,
        OrderEventKind.STATUS,
        OrderEventKind.FILLED,
        OrderEventKind.UNKNOWN,
    ]
    assert set(broker_kinds) <= set(contract.EVENT_KINDS)
    assert [kind.value for kind in broker_kinds] == [
        contract.OrderAccepted.TYPE,
        contract.OrderRejected.TYPE,
        contract.OrderStatus.TYPE,
        contract.OrderFilled.TYPE,
        contract.OrderUnknown.TYPE,
    ]


def test_the_kind_field_offers_exactly_the_enumeration():
    assert OrderEvent._meta.get_field("kind").choices == OrderEventKind.choices


def test_an_event_of_a_kind_outside_the_enumeration_is_refused_and_writes_nothing(account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    with pytest.raises(ValueError):
        order_event_record(order=order, kind=OLDER_KIND)
    assert not OrderEvent.objects.exists()


@pytest.fixture
def older_event(account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    # Written as an older version did, past the service that now refuses the kind.
    return OrderEvent.objects.create(order=order, kind=OLDER_KIND, to_status=order.status, detail="older row")


def test_an_event_of_an_older_kind_is_labelled_with_its_stored_string(older_event):
    older_event.refresh_from_db()
    assert (older_event.kind, older_event.get_kind_display()) == (OLDER_KIND, OLDER_KIND)


def test_the_admin_lists_filters_and_shows_an_event_of_an_older_kind(client, trader, older_event):
    client.force_login(trader)
    changelist = reverse("admin:orders_orderevent_changelist")
    listed = client.get(changelist).context["cl"].result_list
    assert [event.pk for event in listed] == [older_event.pk]
    filtered = client.get(changelist, {"kind": OLDER_KIND}).context["cl"].result_list
    assert [event.pk for event in filtered] == [older_event.pk]
    page = client.get(reverse("admin:orders_order_change", args=[older_event.order_id]))
    assert page.status_code == 200 and OLDER_KIND in page.content.decode()


def test_the_api_serves_an_event_of_an_older_kind_as_stored(api_client, trader, older_event):
    api_client.force_authenticate(trader)
    url = reverse("api-v1:order-detail", kwargs={"client_order_id": older_event.order.client_order_id})
    response = api_client.get(url)
    assert response.status_code == 200, response.content
    assert [event["kind"] for event in response.json()["events"]] == [OLDER_KIND]


def test_the_admin_labels_an_event_by_its_kind(client, trader, account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    order_event_record(order=order, kind=OrderEventKind.ACCEPTED, to_status=order.status)
    client.force_login(trader)
    page = client.get(reverse("admin:orders_orderevent_changelist")).content.decode()
    assert "Accepted by the broker" in page

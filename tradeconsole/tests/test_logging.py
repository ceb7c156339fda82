"""The server log: an expected refusal (4xx) is one line, without a traceback; a 500 keeps its traceback."""

from __future__ import annotations

import io
import logging

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def server_log(settings):
    """What every handler a ``django.request`` record reaches writes, as runserver/daphne show it (DEBUG on)."""
    settings.DEBUG = True
    logger, handlers = logging.getLogger("django.request"), []
    while logger is not None:
        # pytest's own capture handlers are not the server's log.
        handlers += [
            h for h in logger.handlers if isinstance(h, logging.StreamHandler) and "pytest" not in type(h).__module__
        ]
        logger = logger.parent if logger.propagate else None
    out = io.StringIO()
    previous = [handler.setStream(out) for handler in handlers]
    yield out
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)


def test_a_viewer_opening_add_order_is_logged_once_without_a_traceback(client, viewer, server_log):
    client.force_login(viewer)

    response = client.get(reverse("admin:orders_order_add"))

    assert response.status_code == 403
    lines = [line for line in server_log.getvalue().splitlines() if line.strip()]
    assert len([line for line in lines if "Forbidden" in line]) == 1, server_log.getvalue()
    assert "Traceback" not in server_log.getvalue()


def test_an_api_refusal_is_logged_once(client, server_log):
    response = client.get(reverse("api-v1:order-list"))

    assert response.status_code == 401
    assert len([line for line in server_log.getvalue().splitlines() if "Unauthorized" in line]) == 1

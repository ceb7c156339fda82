"""T35: Schemathesis against the API's own OpenAPI schema, in process (WSGI), as a Trader and a Viewer.

Every generated request must get an answer that is not a 5xx and that matches the schema: a
documented status code, content type and body. Example counts are bounded so this stays quick;
``TC_SCHEMA_FUZZ_EXAMPLES`` raises them (a longer campaign against a real server as a Trader:
``scripts/api_fuzz.py``).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from knox.models import AuthToken
from schemathesis import checks

from accounts.models import Role
from accounts.tests.factories import UserFactory
from orders.tests.factories import OrderFactory
from scripts.api_fuzz_checks import not_a_server_error_but_a_broker_outage


def _schema_dict() -> dict:
    # Generated in process (no database access), with the /api/v1 prefix the requests need.
    schema = SchemaGenerator().get_schema(request=None, public=True)
    schema["servers"] = [{"url": "/"}]
    return schema


APP = get_wsgi_application()
schema = schemathesis.openapi.from_dict(_schema_dict())
schema.app = APP
# Hypothesis fuzzing (and the schema's examples) only: the boundary-value "coverage" phase sends
# thousands of requests, too many for a suite that must stay well under a minute.
schema.config.phases.coverage.enabled = False


# What T35 asks: no 5xx, and every answer as documented (status, content type, headers, body).
CHECKS = [
    not_a_server_error_but_a_broker_outage,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def in_process_requests():
    """Keep the test's database connection open across in-process WSGI requests.

    Django closes connections when a request finishes; the test client avoids it the same way.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def desk(account, other_account, instrument, in_process_requests):
    """Rows for the fuzzer to hit: an order on the caller's account and one on another account."""
    OrderFactory(account=account, instrument=instrument)
    OrderFactory(account=other_account, instrument=instrument)
    return account


def _token_for(role: Role, account) -> str:
    user = UserFactory(username=f"fuzz-{role.value.lower().replace(' ', '-')}", roles=[role], accounts=[account])
    _, token = AuthToken.objects.create(user=user)
    return token


FUZZ_SETTINGS = settings(
    max_examples=int(os.environ.get("TC_SCHEMA_FUZZ_EXAMPLES", "8")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_conforms_to_its_schema_for_a_trader(case, desk):
    case.call_and_validate(checks=CHECKS, headers={"Authorization": f"Token {_cached_token(Role.TRADER, desk)}"})


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_conforms_to_its_schema_for_a_viewer(case, desk):
    case.call_and_validate(checks=CHECKS, headers={"Authorization": f"Token {_cached_token(Role.VIEWER, desk)}"})


_tokens: dict[tuple[str, int], str] = {}


def _cached_token(role: Role, account) -> str:
    # One token per role and test database row of the account, reused across Hypothesis examples.
    key = (role.value, account.pk)
    from django.db import connection  # noqa: F401 - the token lives in this test's transaction

    if key not in _tokens or not AuthToken.objects.filter(token_key=_tokens[key][:15]).exists():
        _tokens[key] = _token_for(role, account)
    return _tokens[key]

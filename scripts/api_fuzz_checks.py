"""Schemathesis checks of the desk's API, shared by the suite's in-process fuzz test and by
``scripts/api_fuzz.py`` (loaded there through ``SCHEMATHESIS_HOOKS``)."""

from __future__ import annotations

import json

import schemathesis
from schemathesis import checks

# A dependency's documented outage, not a server error: the broker (the marketdata process and
# TWS) did not answer a lookup. Neither fuzz run starts a broker.
DEPENDENCY_OUTAGES = {(503, "marketdata.broker_unavailable")}


@schemathesis.check
def not_a_server_error_but_a_broker_outage(ctx, response, case):
    """No 5xx, except an outage of the broker answered as documented (503 with its stable code)."""
    if response.status_code >= 500:
        try:
            code = json.loads(response.content).get("code")
        except (ValueError, AttributeError):
            code = None
        if (response.status_code, code) in DEPENDENCY_OUTAGES:
            return None
    return checks.not_a_server_error(ctx, response, case)

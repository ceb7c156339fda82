"""A request id per HTTP request, kept in a context variable so audit rows can carry it.

It is also the correlation id of what the request starts (``logclock.correlation``): the log lines
of the request, the outbox rows it writes and, through them, the worker's and the bridge's lines
about its orders carry the same id.
"""

from __future__ import annotations

import contextvars

from logclock import correlation

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current_request_id() -> str:
    """Return the id of the request being served, or ``""`` outside a request."""
    return _request_id.get()


class RequestIdMiddleware:
    """Take ``X-Request-ID`` when it is well formed, else make one; echo it on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if correlation.well_formed(incoming) else correlation.new_id()
        token = _request_id.set(request_id)
        correlation_token = correlation.bind(request_id)
        request.request_id = request_id
        try:
            response = self.get_response(request)
        finally:
            correlation.reset(correlation_token)
            _request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response

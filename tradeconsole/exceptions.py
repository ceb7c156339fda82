"""The base of every domain exception, and the one DRF handler that maps them to HTTP."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A refusal a person or script can act on: a stable ``code`` and a message for people.

    Subclasses set ``code`` (``order.quantity_not_positive``) and ``http_status``.
    ``field`` names the input that was wrong, when there is one.
    """

    code = "error"
    http_status = 400
    default_message = "The request was refused."

    def __init__(self, message: str | None = None, *, field: str | None = None, extra: dict | None = None):
        self.message = message or self.default_message
        self.field = field
        self.extra = extra or {}
        super().__init__(self.message)

    def as_dict(self) -> dict:
        body = {"code": self.code, "detail": self.message}
        if self.field:
            body["field"] = self.field
        body.update(self.extra)
        return body


PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemJSONRenderer(JSONRenderer):
    """JSON labelled ``application/problem+json``: how every error is written, whatever was asked."""

    media_type = PROBLEM_CONTENT_TYPE


def _problem(status: int, code: str, title: str, detail, **more) -> Response:
    body = {"type": f"urn:tradeconsole:error:{code}", "title": title, "status": status, "code": code}
    body["detail"] = detail
    body.update(more)
    response = Response(body, status=status, content_type=PROBLEM_CONTENT_TYPE)
    return response


def problem_body(exc: ApplicationError) -> dict:
    """Return the problem+json body of a domain refusal (the live pages' controls answer it too)."""
    body = {"type": f"urn:tradeconsole:error:{exc.code}", "title": "Request refused", "status": exc.http_status}
    return {**body, **exc.as_dict()}


def problem_response(exc: ApplicationError) -> Response:
    """Return the problem+json response of a domain refusal (what the API answers for ``exc``)."""
    return Response(problem_body(exc), status=exc.http_status, content_type=PROBLEM_CONTENT_TYPE)


def api_exception_handler(exc, context):
    """Answer every error as ``application/problem+json`` with a stable ``code``.

    Domain refusals keep their code; DRF's own errors get ``validation_error``,
    ``not_authenticated`` and the like; anything unexpected is logged and answered as a
    generic 500 without a stack trace. The body is JSON even when the view renders something
    else (the schema's YAML, the Swagger UI's HTML, the browsable API).
    """
    request = context.get("request")
    if request is not None:
        # DRF renders the response with the renderer the request negotiated; errors have one.
        request.accepted_renderer, request.accepted_media_type = ProblemJSONRenderer(), PROBLEM_CONTENT_TYPE
    if isinstance(exc, ApplicationError):
        set_rollback()
        return problem_response(exc)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        # The last resort: the details go to the log, never to the caller.
        logger.exception("Unhandled error in API view %s", context.get("view").__class__.__name__)
        set_rollback()
        problem = _problem(500, "server_error", "Server error", "The server could not complete the request.")
        # Logged once, with its traceback: django.request would add a second, bare line.
        problem._has_been_logged = True
        return problem
    if isinstance(exc, drf_exceptions.ValidationError):
        problem = _problem(
            response.status_code, "validation_error", "Invalid input", "The input is not valid.", errors=response.data
        )
    else:
        code = exc.get_codes() if isinstance(exc, drf_exceptions.APIException) else "error"
        code = code if isinstance(code, str) else "error"
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        problem = _problem(response.status_code, code, str(getattr(exc, "default_detail", "Error")), detail)
    for header in ("Retry-After", "WWW-Authenticate", "Allow"):
        if header in response:
            problem[header] = response[header]
    return problem

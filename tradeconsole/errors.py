"""The console's own refusal page: a 403 in the admin's look, saying what was refused and where to go."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseForbidden
from django.template import loader

DEFAULT_MESSAGE = "Your role does not allow this page or action."


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponseForbidden:
    """Answer a refused page (``PermissionDenied`` anywhere) with the styled 403 page, status 403.

    The message is the refusal's own when it has one (the admin raises it bare), else the
    default; the page names who is signed in and links back to the desk.
    """
    message = str(exception) if isinstance(exception, PermissionDenied) and str(exception) else DEFAULT_MESSAGE
    context = {
        **admin.site.each_context(request),
        "title": "Not allowed",
        "message": message,
        "path": request.path,
    }
    return HttpResponseForbidden(loader.render_to_string("403.html", context, request))

"""Sign-in lockouts (django-axes): the client address, the 429 answer, audit rows, and clearing a lockout.

django-axes counts failed sign-ins (the admin login, HTTP Basic on the token endpoint) in
PostgreSQL by user name and by client address, and its backend refuses every sign-in of a
locked-out name or address, the right password included (settings: ``AXES_*``). This module is
the desk's side: where the client address comes from, the answer a refused person or script
gets (429 with ``Retry-After``), an audit row when a lockout starts, and the service an admin
clears one with (also audited). A lockout ends by itself when the cool-off has passed since the
last counted failure: its audit row says when (``locked_until``).
"""

from __future__ import annotations

import ipaddress
import logging
import math
from datetime import datetime

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from tradeconsole.exceptions import ApplicationError

logger = logging.getLogger(__name__)


class LockoutSubjectInvalid(ApplicationError):
    code = "lockout.subject_invalid"
    default_message = "Name exactly one of a user name and a client address."


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's address: ``REMOTE_ADDR``, or the ``X-Forwarded-For`` entry set by the
    outermost of ``settings.PROXY_COUNT`` trusted proxies.

    A request with fewer entries than proxies did not come through them; one whose entry is not
    an address is judged by ``REMOTE_ADDR`` (axes stores addresses in an ``inet`` column).
    """
    remote = request.META.get("REMOTE_ADDR") or None
    count = settings.PROXY_COUNT
    if count:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= count:
            try:
                return str(ipaddress.ip_address(hops[-count]))
            except ValueError:
                logger.warning("X-Forwarded-For entry is not an address; using REMOTE_ADDR")
    return remote


def lockout_release_time(request: HttpRequest, credentials: dict | None) -> datetime:
    """Return when the lockout refusing ``request`` ends (now if it is not locked out).

    A name or address is locked while its failures within the cool-off reach the limit, so it is
    free once the newest failures that still reach the limit are a cool-off old.
    """
    AxesProxyHandler.update_request(request)
    limit = get_failure_limit(request, credentials)
    cool_off = get_cool_off(request)
    now = timezone.now()
    release = now
    for attempts in AxesProxyHandler.get_implementation().get_user_attempts(request, credentials):
        counted = 0
        for attempt_time, failures in attempts.order_by("-attempt_time").values_list(
            "attempt_time", "failures_since_start"
        ):
            counted += failures
            if counted >= limit:
                release = max(release, attempt_time + cool_off)
                break
    return release


def lockout_seconds_left(request: HttpRequest, credentials: dict | None) -> int:
    """Return the whole seconds until the lockout refusing ``request`` ends, at least 1 (``Retry-After``)."""
    return max(1, math.ceil((lockout_release_time(request, credentials) - timezone.now()).total_seconds()))


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """Answer a sign-in refused by a lockout: the admin's page, 429 with ``Retry-After``.

    axes' middleware calls it with the response it replaces; its asynchronous path (daphne)
    passes the credentials in that place, so they are read from the request, where axes put them.
    """
    credentials = getattr(request, "axes_credentials", None)
    seconds = lockout_seconds_left(request, credentials)
    body = render_to_string(
        "admin/locked_out.html", {"minutes": math.ceil(seconds / 60), "title": "Sign-in locked"}, request=request
    )
    response = HttpResponse(body, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _via(request: HttpRequest) -> str:
    return "api" if request.path.startswith("/api/") else "admin"


def login_lockout_record(*, request: HttpRequest, username: str | None, ip_address: str | None) -> None:
    """Write the audit row of a lockout that has just started (axes' ``user_locked_out``).

    The row's object is the user when the name is one of the desk's, else the attempt axes
    counted; ``after`` holds the name, the address, the failures and ``locked_until``.
    """
    credentials = getattr(request, "axes_credentials", None)
    user = get_user_model().objects.filter(username=username).first() if username else None
    obj = user or AccessAttempt.objects.filter(username=username, ip_address=ip_address).order_by("-id").first()
    if obj is None:
        logger.error("Lockout of %r from %s has no attempt row to audit", username, ip_address)
        return
    after = {
        "username": username,
        "ip_address": ip_address,
        "failures": request.axes_failures_since_start,
        "locked_until": lockout_release_time(request, credentials).isoformat(),
        "path": request.path,
    }
    with transaction.atomic():
        audit_record(actor=None, action="login.locked_out", obj=obj, after=after, via=_via(request))


def on_user_locked_out(sender, request, username=None, ip_address=None, **kwargs) -> None:
    """axes' ``user_locked_out``: audit a lockout when it starts, not each attempt it refuses.

    axes sends the signal for the failure that reaches the limit, and again for every sign-in
    refused while locked out; only the former has counted failures on the request. Two failures
    reaching the limit at once in two processes may both write a row, never neither.
    """
    if getattr(request, "axes_failures_since_start", None) is None:
        return
    login_lockout_record(request=request, username=username, ip_address=ip_address)


@transaction.atomic
def login_lockout_clear(*, username: str | None = None, ip_address: str | None = None, actor: User, via: str) -> int:
    """Clear the lockout of one user name or one client address, and return the failures forgotten.

    Clearing a name forgets its failures for the name only: they still count against the
    addresses they came from (each row is renamed ``(cleared) #<id>``), so freeing a person does
    not free the address that guessed their password. Clearing an address forgets its failures
    altogether (an address is cleared when it is trusted). The audit row is written whenever the
    name is a user's or failures were counted, locked out or not.

    :raises LockoutSubjectInvalid: neither or both of ``username`` and ``ip_address``.
    """
    if (username is None) == (ip_address is None):
        raise LockoutSubjectInvalid()
    subject = {"username": username} if username is not None else {"ip_address": ip_address}
    attempts = list(AccessAttempt.objects.select_for_update().filter(**subject).order_by("id"))
    failures = sum(attempt.failures_since_start for attempt in attempts)
    if username is not None:
        AccessAttempt.objects.filter(pk__in=[a.pk for a in attempts]).update(
            username=Concat(Value("(cleared) #"), Cast("id", CharField()))
        )
    else:
        AccessAttempt.objects.filter(pk__in=[a.pk for a in attempts]).delete()
    user = get_user_model().objects.filter(username=username).first() if username else None
    obj = user or (attempts[0] if attempts else None)
    if obj is not None:
        before = {"username": username, "ip_address": ip_address, "failures": failures}
        audit_record(actor=actor, action="login.lockout_cleared", obj=obj, before=before, via=via)
    return failures

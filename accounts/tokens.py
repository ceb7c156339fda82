"""API tokens of scripts (django-rest-knox): create, list and revoke, each change audited.

Knox stores only a SHA-512 digest of a token and the first characters (``token_key``) to find it;
the token itself is shown once, when it is created. Every token expires (``REST_KNOX.TOKEN_TTL``
at most). A request made with a token is its user's: services called by the API record that
user as the actor and ``via="api"`` in the audit log.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings

from accounts.models import User
from accounts.services import audit_record
from tradeconsole.exceptions import ApplicationError


class ApiTokenLimitReached(ApplicationError):
    code = "api_token.limit"
    http_status = 409
    default_message = "You hold the maximum number of API tokens; revoke one first."


class ApiTokenTtlInvalid(ApplicationError):
    code = "api_token.ttl_invalid"
    http_status = 400
    default_message = "The token lifetime must be between one minute and the desk's maximum."


def _describe(token: AuthToken) -> dict:
    return {"token_key": token.token_key, "created": token.created, "expiry": token.expiry}


def api_token_list(*, user: User) -> QuerySet[AuthToken]:
    """Return ``user``'s tokens that have not expired, newest first."""
    return AuthToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created")


@transaction.atomic
def api_token_create(
    *, user: User, actor: User | None, ttl: timedelta | None = None, via: str
) -> tuple[AuthToken, str]:
    """Create a token for ``user`` expiring after ``ttl`` (default and maximum: the desk's TTL).

    Returns the stored token and the token text, which is never stored and cannot be shown again.

    :raises ApiTokenTtlInvalid: ``ttl`` under a minute or above the maximum.
    :raises ApiTokenLimitReached: ``user`` already holds the maximum number of live tokens.
    """
    maximum = knox_settings.TOKEN_TTL
    ttl = ttl or maximum
    if ttl < timedelta(minutes=1) or ttl > maximum:
        raise ApiTokenTtlInvalid(field="ttl_hours")
    # Lock the user row so two concurrent creations cannot both pass the limit.
    User.objects.select_for_update().filter(pk=user.pk).first()
    # Expired tokens are refused anyway; deleting them here keeps the table to live tokens.
    AuthToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is not None and api_token_list(user=user).count() >= limit:
        raise ApiTokenLimitReached()
    token, text = AuthToken.objects.create(user=user, expiry=ttl)
    audit_record(actor=actor, action="api_token.create", obj=user, after=_describe(token), via=via)
    return token, text


@transaction.atomic
def api_token_revoke(*, token: AuthToken, actor: User | None, via: str) -> None:
    """Revoke ``token``: requests carrying it are refused from now on. Revoking twice does nothing."""
    deleted, _ = AuthToken.objects.filter(digest=token.digest).delete()
    if deleted:
        audit_record(actor=actor, action="api_token.revoke", obj=token.user, before=_describe(token), via=via)

"""Authentication of API scripts: by knox token (``Authorization: Token …``; tokens are made in
``accounts.tokens``), and by user name and password (HTTP Basic, on the token endpoint only),
under the sign-in lockout of ``accounts.lockouts``."""

from __future__ import annotations

import binascii
from hmac import compare_digest

from django.contrib.auth import authenticate, get_user_model
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication as DrfBasicAuthentication

from accounts import sql
from accounts.auth_backend import permissions_preload


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's token check (``Authorization: Token …``), reading the token and its user in one plain
    query, and without knox's sweep of the user's other tokens.

    knox's own check builds an ORM query per API call, which cost more CPU than the rest of the
    check, then reads every token of the user to delete the expired ones: a query per call for
    housekeeping. Here a request only refuses (and deletes) its own token when it has expired, as
    knox does; the user's other expired tokens go when they next create one
    (``accounts.tokens.api_token_create``). An expired token is refused either way. Everything
    else is knox's: the digest comparison, ``AUTO_REFRESH``, the inactive-user refusal.
    """

    def authenticate_credentials(self, token: bytes):
        msg = _("Invalid token.")
        token = token.decode("utf-8")
        for auth_token, permission_names in sql.tokens_with_key(token[: CONSTANTS.TOKEN_KEY_LENGTH]):
            # Read with the token: the role gate asks for a permission on every write.
            permissions_preload(auth_token.user, permission_names)
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(token)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(msg)
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(msg)

    def _cleanup_token(self, auth_token: AuthToken) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


class SignInLockedOut(exceptions.Throttled):
    """Too many failed sign-ins by this user name or from this address: 429 with ``Retry-After``."""

    default_detail = _("Too many failed sign-ins for this user name or from this address.")
    default_code = "auth.locked_out"


def _without_body(request) -> HttpRequest:
    """Return a request with ``request``'s headers, path and query but no body, for django-axes.

    axes records a failure's form data from ``request.POST``; here the credentials are in the
    header, and parsing a body that does not parse must not stop a failure from being counted.
    """
    probe = HttpRequest()
    probe.method = request.method
    probe.path = request.path
    probe.path_info = request._request.path_info
    probe.META = request.META
    probe.GET = request.GET
    return probe


class BasicAuthentication(DrfBasicAuthentication):
    """HTTP Basic (user name and password) under the desk's sign-in lockout (django-axes).

    Every failure counts against the user name and the client address, as on the admin login;
    once either is locked out, every attempt, the right password included, is refused with 429
    (``auth.locked_out``) and ``Retry-After``, until the cool-off has passed or an admin clears it.
    """

    def authenticate_credentials(self, userid, password, request=None):
        probe = _without_body(request)
        credentials = {get_user_model().USERNAME_FIELD: userid, "password": password}
        user = authenticate(request=probe, **credentials)
        if getattr(probe, "axes_locked_out", False):
            # Imported here: DRF loads this module while tradeconsole.exceptions is being imported.
            from accounts.lockouts import lockout_seconds_left

            raise SignInLockedOut(wait=lockout_seconds_left(probe, credentials))
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid username/password."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (user, None)

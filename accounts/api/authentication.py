"""Authentication of API scripts by knox token (``Authorization: Token …``); tokens are made in ``accounts.tokens``."""

from __future__ import annotations

from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.models import AuthToken
from knox.signals import token_expired


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's token check (``Authorization: Token …``), without its sweep of the user's other tokens.

    knox reads every token of the user on each request to delete the expired ones: a query per
    API call for housekeeping. Here a request only refuses (and deletes) its own token when it
    has expired, as knox does; the user's other expired tokens go when they next create one
    (``accounts.tokens.api_token_create``). An expired token is refused either way.
    """

    def _cleanup_token(self, auth_token: AuthToken) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False

"""API views of accounts: accounts, halts, the kill switch, alerts, tokens."""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services, tokens, two_factor
from accounts.api.authentication import BasicAuthentication
from accounts.api.params import query_params
from accounts.api.permissions import DeskPermission, IsDeskMember
from accounts.api.serializers import (
    AccountOutput,
    AlertOutput,
    HaltInput,
    KillSwitchEngageInput,
    KillSwitchOutput,
    KillSwitchReleaseInput,
    TokenCreateInput,
    TokenCreateOutput,
    TokenOutput,
)
from accounts.api.throttling import TokenCreateThrottle
from accounts.models import Alert

VIA = "api"


def visible_account(request, code: str):
    """Return the account ``code`` among the caller's; 404 for any other (existence is not revealed)."""
    return get_object_or_404(selectors.accounts_for_user(request.user), code=code)


class AccountListApi(generics.ListAPIView):
    """The accounts you are a member of."""

    permission_classes = [IsDeskMember]
    serializer_class = AccountOutput

    def get_queryset(self):
        return selectors.accounts_for_user(self.request.user).select_related("halted_by")


class AccountHaltApi(APIView):
    """Halt trading on one account (Risk manager): no new orders; optionally cancel working ones."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "accounts.change_brokeraccount"}

    @extend_schema(request=HaltInput, responses=AccountOutput)
    def post(self, request, code: str):
        account = visible_account(request, code)
        data = HaltInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = services.account_halt(account=account, actor=request.user, via=VIA, **data.validated_data)
        return Response(AccountOutput(account).data)


class AccountResumeApi(APIView):
    """Resume trading on a halted account (Risk manager)."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "accounts.change_brokeraccount"}

    @extend_schema(request=None, responses=AccountOutput)
    def post(self, request, code: str):
        account = services.account_resume(account=visible_account(request, code), actor=request.user, via=VIA)
        return Response(AccountOutput(account).data)


class KillSwitchApi(APIView):
    """The desk-wide kill switch: engaged means no new order on any account."""

    permission_classes = [IsDeskMember]

    @extend_schema(responses=KillSwitchOutput)
    def get(self, request):
        return Response(KillSwitchOutput(selectors.kill_switch_get()).data)


class KillSwitchEngageApi(APIView):
    """Engage the kill switch (Risk manager); by default every working order is cancelled too."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "accounts.change_killswitch"}

    @extend_schema(request=KillSwitchEngageInput, responses=KillSwitchOutput)
    def post(self, request):
        data = KillSwitchEngageInput(data=request.data)
        data.is_valid(raise_exception=True)
        switch = services.kill_switch_engage(actor=request.user, via=VIA, **data.validated_data)
        return Response(KillSwitchOutput(switch).data)


class KillSwitchReleaseApi(APIView):
    """Release the kill switch (Risk manager); accounts halted one by one stay halted."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "accounts.change_killswitch"}

    @extend_schema(request=KillSwitchReleaseInput, responses=KillSwitchOutput)
    def post(self, request):
        data = KillSwitchReleaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        switch = services.kill_switch_release(actor=request.user, via=VIA, **data.validated_data)
        return Response(KillSwitchOutput(switch).data)


class AlertFilter(serializers.Serializer):
    status = serializers.MultipleChoiceField(choices=Alert.Status.choices, required=False)
    account = serializers.CharField(required=False, allow_blank=True, max_length=32)


class AlertListApi(generics.ListAPIView):
    """Alerts of your accounts and of the whole desk, newest first."""

    permission_classes = [IsDeskMember]
    serializer_class = AlertOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, many=True, enum=Alert.Status.values, explode=True),
            OpenApiParameter("account", str, description="Account code"),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = query_params(AlertFilter, self.request)
        account = None
        if params.get("account"):
            account = selectors.account_for_member(self.request.user, params["account"])
            if account is None:
                return Alert.objects.none()
        return selectors.alert_list(user=self.request.user, status=sorted(params.get("status") or []), account=account)


class AlertDetailApi(generics.RetrieveAPIView):
    """One alert."""

    permission_classes = [IsDeskMember]
    serializer_class = AlertOutput

    def get_queryset(self):
        return selectors.alert_list(user=self.request.user)


class AlertAcknowledgeApi(APIView):
    """Acknowledge an alert: you have seen it (it stays until the condition is resolved)."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "accounts.change_alert"}

    @extend_schema(request=None, responses=AlertOutput)
    def post(self, request, pk: int):
        alert = get_object_or_404(selectors.alert_list(user=request.user), pk=pk)
        return Response(AlertOutput(services.alert_acknowledge(alert=alert, actor=request.user, via=VIA)).data)


class TokenListCreateApi(APIView):
    """Your API tokens: list them, or create one (signed in, or with HTTP Basic username and password,
    plus the authenticator's current code as ``otp_token`` for a user who enrolled one).

    The token text is in the creation response only; it is stored hashed and expires.
    """

    authentication_classes = [*APIView.authentication_classes, BasicAuthentication]
    permission_classes = [IsDeskMember]

    def get_throttles(self):
        return [TokenCreateThrottle()] if self.request.method == "POST" else []

    @extend_schema(responses=TokenOutput(many=True))
    def get(self, request):
        self._password_sign_in_check(request, None)
        return Response(TokenOutput(tokens.api_token_list(user=request.user), many=True).data)

    @staticmethod
    def _password_sign_in_check(request, code: str | None) -> None:
        """A password alone is not a sign-in for a user with an authenticator (as on the login page):
        HTTP Basic brings the code as ``otp_token`` or ``X-OTP-Code``, to list tokens as to create one."""
        if isinstance(request.successful_authenticator, BasicAuthentication):
            two_factor.password_sign_in_check(request.user, code or request.headers.get("X-OTP-Code"))

    @extend_schema(request=TokenCreateInput, responses={201: TokenCreateOutput})
    def post(self, request):
        data = TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        self._password_sign_in_check(request, data.validated_data.get("otp_token"))
        hours = data.validated_data.get("ttl_hours")
        token, text = tokens.api_token_create(
            user=request.user, actor=request.user, ttl=timedelta(hours=hours) if hours else None, via=VIA
        )
        body = {**TokenOutput(token).data, "token": text}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenRevokeApi(APIView):
    """Revoke one of your tokens (by its ``token_key``); requests carrying it are refused from now on."""

    permission_classes = [IsDeskMember]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, token_key: str):
        token = get_object_or_404(tokens.api_token_list(user=request.user), token_key=token_key)
        tokens.api_token_revoke(token=token, actor=request.user, via=VIA)
        return Response(status=status.HTTP_204_NO_CONTENT)

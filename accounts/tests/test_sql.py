"""The hand-written statements of ``accounts.sql`` answer what the ORM answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from knox.models import AuthToken

from accounts import sql
from accounts.models import BrokerAccount, IdempotencyKey, KillSwitch, Role
from accounts.tests.factories import UserFactory
from accounts.tokens import api_token_create

pytestmark = pytest.mark.django_db


def _orm_permissions(user) -> set[str]:
    user = type(user).objects.get(pk=user.pk)  # no cached permissions
    return ModelBackend().get_all_permissions(user)


def test_a_users_permission_names_are_modelbackends(account):
    user = UserFactory(username="both", roles=[Role.TRADER, Role.RISK_MANAGER], accounts=[account])
    user.user_permissions.add(Permission.objects.get(codename="view_auditlog"))

    assert sql.user_permission_names(user.pk) == _orm_permissions(user)
    assert "accounts.view_auditlog" in sql.user_permission_names(user.pk)


def test_a_user_without_a_role_has_no_permission_names(user):
    assert sql.user_permission_names(user.pk) == _orm_permissions(user) == set()


def test_the_tokens_with_a_key_are_the_orms_with_their_users_permissions(trader, viewer):
    token, _text = api_token_create(user=trader, actor=trader, via="test")
    api_token_create(user=viewer, actor=viewer, via="test")

    ((found, names),) = sql.tokens_with_key(token.token_key)

    stored = AuthToken.objects.select_related("user").get(token_key=token.token_key)
    assert model_to_dict(found) == model_to_dict(stored)
    assert model_to_dict(found.user) == model_to_dict(stored.user)
    assert set(names) == _orm_permissions(trader)
    assert sql.tokens_with_key("no-such-key") == []


@pytest.mark.parametrize("who", ["trader", "superuser", "user"])
def test_the_account_with_a_code_is_the_one_among_the_members(who, account, other_account, trader, user):
    member_id = {"trader": trader.pk, "superuser": None, "user": user.pk}[who]
    for candidate in (account, other_account):
        expected = BrokerAccount.objects.filter(code=candidate.code)
        if member_id is not None:
            expected = expected.filter(memberships__user_id=member_id)
        assert sql.account_with_code(candidate.code, member_id=member_id) == expected.first()


def test_a_broker_account_read_under_lock_is_the_orms(account):
    with transaction.atomic():
        locked = sql.broker_account_lock(account.pk)
    assert model_to_dict(locked) == model_to_dict(BrokerAccount.objects.get(pk=account.pk))
    assert sql.broker_account_lock(account.pk + 1000) is None


def test_the_kill_switchs_reason_and_state_are_the_orms(db):
    with transaction.atomic():
        assert sql.kill_switch_reason() is None
        assert sql.kill_switch_engaged_for_share() is None  # no row yet
    KillSwitch.objects.create(pk=1, engaged=False, reason="")
    with transaction.atomic():
        assert sql.kill_switch_reason() is None
        assert sql.kill_switch_engaged_for_share() is False
    KillSwitch.objects.filter(pk=1).update(engaged=True, reason="fat finger")
    with transaction.atomic():
        assert sql.kill_switch_reason() == KillSwitch.objects.get(pk=1).reason == "fat finger"
        assert sql.kill_switch_engaged_for_share() is KillSwitch.objects.get(pk=1).engaged is True


def test_an_idempotency_key_inserted_in_plain_sql_is_the_row_the_orm_reads(user):
    now = timezone.now()
    with transaction.atomic():
        held, inserted = sql.idempotency_key_insert(
            user_id=user.pk, key="k-1", fingerprint="f" * 64, status=IdempotencyKey.Status.IN_PROGRESS, created_at=now
        )
        again = sql.idempotency_key_insert(
            user_id=user.pk, key="k-1", fingerprint="f" * 64, status=IdempotencyKey.Status.IN_PROGRESS, created_at=now
        )
        locked = sql.idempotency_key_lock(user_id=user.pk, key="k-1")
        sql.idempotency_key_write_response(
            pk=inserted,
            status=IdempotencyKey.Status.COMPLETE,
            response_status=201,
            response_body={"id": 7, "price": "1.50"},
            completed_at=now + timedelta(seconds=1),
        )

    row = IdempotencyKey.objects.get(user=user, key="k-1")
    assert held and inserted == row.pk
    assert again == (True, None)  # the lock is this transaction's already; the row exists
    assert locked == row and locked.fingerprint == row.fingerprint
    assert (row.status, row.response_status, row.response_body) == ("complete", 201, {"id": 7, "price": "1.50"})
    assert (row.created_at, row.completed_at) == (now, now + timedelta(seconds=1))
    assert sql.idempotency_key_lock(user_id=user.pk, key="other") is None

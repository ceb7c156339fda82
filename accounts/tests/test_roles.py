"""The role groups and the permissions each one holds."""

from __future__ import annotations

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission

from accounts.models import Role, User
from accounts.selectors import user_has_role, user_roles
from accounts.services import roles_sync

pytestmark = pytest.mark.django_db


def permissions_of(role: Role) -> set[str]:
    group = Group.objects.get(name=str(role))
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_the_migration_creates_one_group_per_role():
    assert set(Group.objects.filter(name__in=Role.values).values_list("name", flat=True)) == set(Role.values)


def test_a_viewer_may_view_everything_of_the_desk_and_change_nothing():
    perms = permissions_of(Role.VIEWER)
    assert {
        "orders.view_order",
        "orders.view_fill",
        "orders.view_position",
        "accounts.view_brokeraccount",
        "accounts.view_auditlog",
        "strategies.view_tradingsession",
    } <= perms
    desk = {p for p in perms if not p.startswith("knox.")}  # one's own API tokens aside
    assert not any(p.split(".")[1].startswith(("add_", "change_", "delete_", "approve_")) for p in desk)
    assert "accounts.view_user" not in perms
    assert "accounts.view_idempotencykey" not in perms


def test_a_trader_may_enter_and_cancel_orders_but_not_touch_limits_or_the_kill_switch():
    perms = permissions_of(Role.TRADER)
    assert {"orders.add_order", "orders.change_order", "orders.view_position", "orders.view_fill"} <= perms
    assert permissions_of(Role.VIEWER) <= perms
    for forbidden in (
        "orders.change_risklimit",
        "accounts.change_killswitch",
        "accounts.change_brokeraccount",
        "orders.approve_order",
        "orders.delete_order",
    ):
        assert forbidden not in perms


def test_a_risk_manager_holds_the_traders_permissions_plus_limits_halts_kill_switch_and_approvals():
    perms = permissions_of(Role.RISK_MANAGER)
    assert permissions_of(Role.TRADER) <= perms
    assert {
        "orders.change_risklimit",
        "accounts.change_brokeraccount",
        "accounts.change_killswitch",
        "accounts.change_alert",
        "orders.approve_order",
    } <= perms
    assert "orders.delete_order" not in perms


def test_an_admin_holds_every_permission_of_the_domain_apps():
    perms = permissions_of(Role.ADMIN)
    assert permissions_of(Role.RISK_MANAGER) <= perms
    assert {"orders.delete_order", "accounts.add_brokeraccount", "auth.change_group", "accounts.change_user"} <= perms


def test_roles_sync_restores_a_group_whose_permissions_were_removed():
    Group.objects.get(name=str(Role.TRADER)).permissions.clear()
    counts = roles_sync()
    assert "orders.add_order" in permissions_of(Role.TRADER)
    assert counts[str(Role.TRADER)] == len(permissions_of(Role.TRADER))


def test_user_has_role_follows_the_groups_and_a_superuser_holds_every_role(trader, admin_user, user):
    assert user_has_role(trader, Role.TRADER)
    assert not user_has_role(trader, Role.RISK_MANAGER)
    assert not user_has_role(user, Role.VIEWER)
    assert all(user_has_role(admin_user, role) for role in Role)
    assert user_roles(trader) == [Role.TRADER]


def test_group_permissions_reach_the_user(trader, viewer):
    assert trader.has_perm("orders.add_order")
    assert not viewer.has_perm("orders.add_order")
    assert viewer.has_perm("orders.view_order")


def test_a_users_own_and_group_permissions_are_read_in_one_query(trader, django_assert_num_queries):
    trader.user_permissions.add(Permission.objects.get(codename="view_killswitch"))
    expected = ModelBackend().get_all_permissions(User.objects.get(pk=trader.pk))
    fresh = User.objects.get(pk=trader.pk)

    with django_assert_num_queries(1):
        assert fresh.get_all_permissions() == expected
        assert fresh.has_perm("orders.add_order") and fresh.has_perm("accounts.view_killswitch")
        assert not fresh.has_perm("orders.approve_order")
    assert "accounts.view_killswitch" in expected and "orders.add_order" in expected


def test_every_role_manages_its_own_api_tokens():
    # A reporting script reads as a Viewer; the admin shows a non-superuser only their own tokens.
    tokens = {"knox.view_authtoken", "knox.add_authtoken", "knox.delete_authtoken"}

    for role in Role.values:
        assert tokens <= permissions_of(role)

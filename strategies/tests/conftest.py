"""Fixtures of the strategies tests (factories are in ``factories.py``)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from accounts.models import Role
from accounts.tests.factories import UserFactory


@pytest.fixture
def session_opener(account):
    """A Trader who may also open sessions (the strategies.add_tradingsession permission)."""
    person = UserFactory(username="opener", roles=[Role.TRADER], accounts=[account])
    person.user_permissions.add(Permission.objects.get(codename="add_tradingsession"))
    return person

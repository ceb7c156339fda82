"""factory_boy factories of the accounts app."""

from __future__ import annotations

import factory
from django.contrib.auth.models import Group

from accounts.models import AccountMembership, Alert, BrokerAccount, User
from accounts.services import roles_sync


class UserFactory(factory.django.DjangoModelFactory):
    """A user; ``roles=[Role.TRADER]`` puts them in groups, ``accounts=[account]`` makes them a member.

    The password is ``password``.
    """

    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@desk.example")
    password = factory.django.Password("password")
    is_staff = True

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            names = [str(role) for role in extracted]
            if Group.objects.filter(name__in=names).count() < len(set(names)):
                # A transactional test without serialized_rollback flushed the migration's groups.
                roles_sync()
            self.groups.add(*Group.objects.filter(name__in=names))

    @factory.post_generation
    def accounts(self, create, extracted, **kwargs):
        if create and extracted:
            for account in extracted:
                AccountMembership.objects.get_or_create(user=self, account=account)


class BrokerAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BrokerAccount
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"DU{n + 1000001:07d}")
    name = factory.LazyAttribute(lambda account: f"Account {account.code}")


class AccountMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountMembership

    user = factory.SubFactory(UserFactory)
    account = factory.SubFactory(BrokerAccountFactory)


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alert

    key = factory.Sequence(lambda n: f"test.alert:{n}")
    kind = "test"
    message = "Something to look at"

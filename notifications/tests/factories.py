"""factory_boy factories of the notifications app."""

from __future__ import annotations

import factory

from notifications.models import Channel, Rule, UserPreference


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    name = factory.Sequence(lambda n: f"channel {n}")
    kind = Channel.Kind.WEBHOOK
    target = "http://127.0.0.1:9/hook"
    secret = "s3cret"


class RuleFactory(factory.django.DjangoModelFactory):
    """A rule for every alert at warning or above; ``channels=[…]``, ``users=[…]`` and so on set its targets."""

    class Meta:
        model = Rule
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"rule {n}")

    @factory.post_generation
    def channels(self, create, extracted, **kwargs):
        if create and extracted:
            self.channels.set(extracted)

    @factory.post_generation
    def users(self, create, extracted, **kwargs):
        if create and extracted:
            self.users.set(extracted)

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.set(extracted)

    @factory.post_generation
    def escalation_channels(self, create, extracted, **kwargs):
        if create and extracted:
            self.escalation_channels.set(extracted)


class UserPreferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserPreference

"""Give Viewers their own API tokens too (accounts.roles.VIEWER): a reporting script reads as a Viewer.

Re-applies 0008's grant, which reads the roles table as it is now.
"""

from importlib import import_module

from django.db import migrations

_0008 = import_module("orders.migrations.0008_roles_api_tokens")


def revoke_viewer_tokens(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name="Viewer"):
        group.permissions.remove(*_0008._token_permissions(apps, schema_editor))


class Migration(migrations.Migration):
    dependencies = [("orders", "0008_roles_api_tokens")]

    operations = [migrations.RunPython(_0008.grant_api_tokens, revoke_viewer_tokens)]

"""Give the roles their strategy permissions of issue 19 (accounts.roles): Traders add strategies and
save versions, Risk managers approve versions. Re-reads the roles table as it is now, as orders.0008 does."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations


def _strategy_permissions(apps, schema_editor):
    # Permissions are normally created after migrate; the groups need the new model's now.
    create_permissions(global_apps.get_app_config("strategies"), apps=apps, verbosity=0,
                       using=schema_editor.connection.alias)
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="strategies").select_related("content_type")


def grant_strategy_permissions(apps, schema_editor):
    from accounts.roles import ROLE_PERMISSIONS, expand

    rows = {(p.content_type.app_label, p.codename): p for p in _strategy_permissions(apps, schema_editor)}
    for group in apps.get_model("auth", "Group").objects.filter(name__in=[str(r) for r in ROLE_PERMISSIONS]):
        group.permissions.add(*[rows[key] for key in expand(ROLE_PERMISSIONS[group.name], list(rows))])


class Migration(migrations.Migration):
    dependencies = [
        ("strategies", "0002_strategy_version"),
        ("orders", "0003_roles"),
    ]

    # Going back leaves the grants: the model's permissions go with 0002's table.
    operations = [migrations.RunPython(grant_strategy_permissions, migrations.RunPython.noop)]

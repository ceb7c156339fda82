"""Give Traders (and the roles above them) the backtest permissions of issue 19 (accounts.roles), as 0003 does."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant_backtest_permissions(apps, schema_editor):
    from accounts.roles import ROLE_PERMISSIONS, expand

    # Permissions are normally created after migrate; the groups need the new model's now.
    create_permissions(
        global_apps.get_app_config("strategies"), apps=apps, verbosity=0, using=schema_editor.connection.alias
    )
    Permission = apps.get_model("auth", "Permission")
    found = Permission.objects.filter(content_type__app_label="strategies").select_related("content_type")
    rows = {(p.content_type.app_label, p.codename): p for p in found}
    for group in apps.get_model("auth", "Group").objects.filter(name__in=[str(r) for r in ROLE_PERMISSIONS]):
        group.permissions.add(*[rows[key] for key in expand(ROLE_PERMISSIONS[group.name], list(rows))])


class Migration(migrations.Migration):
    dependencies = [
        ("strategies", "0004_backtest"),
        ("orders", "0003_roles"),
    ]

    # Going back leaves the grants: the model's permissions go with 0004's table.
    operations = [migrations.RunPython(grant_backtest_permissions, migrations.RunPython.noop)]

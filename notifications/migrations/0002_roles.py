"""Give the roles their notification permissions (accounts.roles): Admins set up channels, rules and
preferences, Risk managers read rules and deliveries. Re-reads the roles table as orders.0008 does."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant_notification_permissions(apps, schema_editor):
    from accounts.roles import ROLE_PERMISSIONS, expand

    # Permissions are normally created after migrate; the groups need the new models' now.
    create_permissions(
        global_apps.get_app_config("notifications"), apps=apps, verbosity=0, using=schema_editor.connection.alias
    )
    Permission = apps.get_model("auth", "Permission")
    found = Permission.objects.filter(content_type__app_label="notifications").select_related("content_type")
    rows = {(p.content_type.app_label, p.codename): p for p in found}
    for group in apps.get_model("auth", "Group").objects.filter(name__in=[str(r) for r in ROLE_PERMISSIONS]):
        group.permissions.add(*[rows[key] for key in expand(ROLE_PERMISSIONS[group.name], list(rows))])


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("orders", "0003_roles"),
    ]

    # Going back leaves the grants: the models' permissions go with 0001's tables.
    operations = [migrations.RunPython(grant_notification_permissions, migrations.RunPython.noop)]

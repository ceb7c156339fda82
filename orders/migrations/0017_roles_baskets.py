"""Give the roles the basket permissions accounts.roles grants (Viewer and above: view), as 0003 does."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant_basket_permissions(apps, schema_editor):
    from accounts.roles import ROLE_PERMISSIONS, expand

    # Permissions are normally created after migrate; the groups need the new model's now.
    create_permissions(
        global_apps.get_app_config("orders"), apps=apps, verbosity=0, using=schema_editor.connection.alias
    )
    Permission = apps.get_model("auth", "Permission")
    found = Permission.objects.filter(content_type__app_label="orders", content_type__model="basket")
    rows = {(p.content_type.app_label, p.codename): p for p in found.select_related("content_type")}
    for group in apps.get_model("auth", "Group").objects.filter(name__in=[str(r) for r in ROLE_PERMISSIONS]):
        group.permissions.add(*[rows[key] for key in expand(ROLE_PERMISSIONS[group.name], list(rows))])


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0016_basket"),
    ]

    # Going back leaves the grants: the model's permissions go with 0016's table.
    operations = [migrations.RunPython(grant_basket_permissions, migrations.RunPython.noop)]

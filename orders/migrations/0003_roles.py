"""Create the desk's roles as Django groups with the permissions each needs (accounts.roles)."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_roles(apps, schema_editor):
    from accounts.roles import ROLE_PERMISSIONS, expand

    # Permissions are normally created after migrate; the groups need them now.
    for label in ("accounts", "orders", "strategies", "auth"):
        create_permissions(global_apps.get_app_config(label), apps=apps, verbosity=0,
                           using=schema_editor.connection.alias)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    rows = list(Permission.objects.select_related("content_type").values_list(
        "pk", "content_type__app_label", "codename"))
    available = [(app, codename) for _, app, codename in rows]
    by_key = {(app, codename): pk for pk, app, codename in rows}
    for role, rules in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        group.permissions.set([by_key[key] for key in expand(rules, available)])


def remove_roles(apps, schema_editor):
    from accounts.roles import ROLE_PERMISSIONS

    apps.get_model("auth", "Group").objects.filter(name__in=[str(role) for role in ROLE_PERMISSIONS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_order_approve_permission"),
        ("strategies", "0001_initial"),
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]

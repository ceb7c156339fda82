"""Give the roles their API token permissions (accounts.roles.API_TOKENS): one's own tokens in the admin."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations


def _token_permissions(apps, schema_editor):
    # Permissions are normally created after migrate; the groups need knox's now.
    create_permissions(global_apps.get_app_config("knox"), apps=apps, verbosity=0,
                       using=schema_editor.connection.alias)
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="knox")


def grant_api_tokens(apps, schema_editor):
    from accounts.roles import ROLE_PERMISSIONS, expand

    rows = {(p.content_type.app_label, p.codename): p for p in _token_permissions(apps, schema_editor)
            .select_related("content_type")}
    for group in apps.get_model("auth", "Group").objects.filter(name__in=[str(r) for r in ROLE_PERMISSIONS]):
        rules = ROLE_PERMISSIONS[group.name]
        group.permissions.add(*[rows[key] for key in expand(rules, list(rows))])


def revoke_api_tokens(apps, schema_editor):
    tokens = _token_permissions(apps, schema_editor)
    for group in apps.get_model("auth", "Group").objects.all():
        group.permissions.remove(*tokens)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0007_pnl_point_name"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(grant_api_tokens, revoke_api_tokens)]

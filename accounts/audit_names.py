"""The audit log in words: the reason an entry recorded, and the name of the object it changed.

Shared by the audit log's admin and its CSV export (``accounts.exports``).
"""

from __future__ import annotations

from collections import defaultdict

from django.apps import apps
from django.urls import NoReverseMatch, reverse

from accounts.models import AuditLog

# Where an entry's before/after keeps the reason of the change, by the services that wrote it.
REASON_KEYS = ("reason", "halted_reason", "reject_reason", "detail")


def audit_reason(entry: AuditLog) -> str:
    """Return the reason the change recorded (after it, else before it), or ""."""
    for values in (entry.after, entry.before):
        if isinstance(values, dict):
            for key in REASON_KEYS:
                if values.get(key):
                    return str(values[key])
    return ""


def audit_object_names(entries: list[AuditLog]) -> dict[tuple[str, str], tuple[str, str]]:
    """Return (name, admin URL or "") by (object type, object id) for the objects of ``entries``.

    One query per object type; an object gone since (or of an unknown type) is left out, and is
    shown by its type and id.
    """
    ids_by_type: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        ids_by_type[entry.object_type].add(entry.object_id)
    names = {}
    for object_type, ids in ids_by_type.items():
        try:
            model = apps.get_model(object_type)
        except (LookupError, ValueError):
            continue
        pk = model._meta.pk
        try:
            keys = [pk.to_python(value) for value in ids]
        except Exception:  # an id the key field cannot read: shown by type and id
            continue
        # select_related(): names such as an order's read its instrument.
        for obj in model._default_manager.select_related().filter(pk__in=keys):
            try:
                url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
            except NoReverseMatch:
                url = ""
            names[(object_type, str(obj.pk))] = (f"{model._meta.verbose_name.capitalize()}: {obj}", url)
    return names

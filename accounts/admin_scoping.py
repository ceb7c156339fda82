"""Admin building blocks that keep every list, form and object inside the user's accounts.

Every desk admin derives from ``AccountScopedAdmin`` (or uses ``scope_to_accounts``) so that a
user who is not a member of an account can neither list, open, choose nor act on its rows.
Superusers see every account (``accounts.selectors.accounts_for_user`` says so).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest

from accounts.models import BrokerAccount
from accounts.selectors import accounts_for_user


def scope_to_accounts(queryset: QuerySet, *, user, account_path: str, include_unassigned: bool = False) -> QuerySet:
    """Keep the rows of ``queryset`` whose account (at ``account_path``) the user may see.

    ``account_path`` is the lookup from the model to its ``BrokerAccount`` (``"account"``,
    ``"order__account"``, ``"pk"`` for the account itself). ``include_unassigned`` also keeps rows
    with no account at all (desk-wide alerts), which every desk member may see.
    """
    if user.is_superuser:
        return queryset
    condition = Q(**{f"{account_path}__in": accounts_for_user(user).values("pk")})
    if include_unassigned:
        condition |= Q(**{f"{account_path}__isnull": True})
    return queryset.filter(condition)


class AccountScopedMixin:
    """Scope querysets, object permissions and foreign-key choices to the user's accounts.

    Works for ``ModelAdmin`` and inlines. Subclasses set ``account_path``; a model that is not
    tied to an account (instruments) simply does not use the mixin.
    """

    account_path: str = "account"
    include_unassigned: bool = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_to_accounts(
            super().get_queryset(request),
            user=request.user,
            account_path=self.account_path,
            include_unassigned=self.include_unassigned,
        )

    def _in_scope(self, request: HttpRequest, obj: Model | None) -> bool:
        # Asking the scoped queryset (not the object's fields) keeps one definition of "visible".
        if obj is None or request.user.is_superuser:
            return True
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_view_permission(request, obj) and self._in_scope(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._in_scope(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._in_scope(request, obj)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        queryset = scoped_choices(db_field.related_model, request.user)
        if queryset is not None:
            kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        queryset = scoped_choices(db_field.related_model, request.user)
        if queryset is not None:
            kwargs["queryset"] = queryset
        return super().formfield_for_manytomany(db_field, request, **kwargs)


# Models whose choices in a form must be limited to the user's accounts, with the lookup from
# the model to its account. Other related models (instruments, users) are not account data.
_ACCOUNT_PATHS: dict[str, str] = {
    "accounts.brokeraccount": "pk",
    "orders.order": "account",
    "strategies.tradingsession": "account",
}


def scoped_choices(model: type[Model], user) -> QuerySet | None:
    """Return the choices of ``model`` the user may pick, or ``None`` when it is not account data."""
    if model is BrokerAccount:
        return accounts_for_user(user)
    path = _ACCOUNT_PATHS.get(model._meta.label_lower)
    if path is None:
        return None
    return scope_to_accounts(model._default_manager.all(), user=user, account_path=path)


class AccountScopedAdmin(AccountScopedMixin, admin.ModelAdmin):
    """A ``ModelAdmin`` whose rows, objects and choices stay inside the user's accounts."""


class ReadOnlyAdminMixin:
    """View only: no add, change or delete, whatever the user's model permissions say.

    For append-only records (order events, fills, the audit log): the admin may show them but
    only services write them.
    """

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A read-only tabular inline; its rows are already scoped by the parent object's admin."""

    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        # Every shown field, including non-editable ones (``created_at``) a form could not hold.
        return list(self.fields or ())

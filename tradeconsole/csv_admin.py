"""Export CSV from an admin changelist: a link exporting the list as filtered and searched, and an
action exporting the rows selected. Both stream (``tradeconsole.csv_export``) and both read the
admin's own queryset, so a user exports only the rows of their accounts the list shows them.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path

from tradeconsole.csv_export import Column, csv_response, export_filename


class CsvExportAdminMixin:
    """Give a ``ModelAdmin`` an Export CSV link (``<changelist>/export.csv``) and action.

    Set ``csv_columns`` (a list of ``Column``) and ``csv_name`` (the file's name); optionally
    ``csv_select_related`` (the relations the columns read) and ``csv_per_chunk`` (a method called
    with each chunk of rows before it is written).
    """

    csv_columns: Sequence[Column] = ()
    csv_name: str = "export"
    csv_select_related: Sequence[str] = ()
    change_list_template = "admin/csv_export_change_list.html"

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_export_csv"
        export = path("export.csv", self.admin_site.admin_view(self.export_csv_view), name=name)
        # Before the model's own URLs: their "<object_id>/" would take "export.csv" for an id.
        return [export, *super().get_urls()]

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if self.has_view_permission(request):
            actions["export_csv"] = self.get_action("export_csv")
        return actions

    @admin.action(description="Export selected %(verbose_name_plural)s as CSV")
    def export_csv(self, request: HttpRequest, queryset):
        return self._csv(request, queryset)

    def export_csv_view(self, request: HttpRequest):
        """Stream the changelist's rows as CSV: the same filters, search and date drill-down, every page."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # The changelist answers a bad filter by going back to the unfiltered list; so do we.
            return HttpResponseRedirect(request.path.removesuffix("export.csv"))
        return self._csv(request, changelist.get_queryset(request))

    def _csv(self, request: HttpRequest, queryset):
        if self.csv_select_related:
            queryset = queryset.select_related(*self.csv_select_related)
        per_chunk = getattr(self, "csv_per_chunk", None)
        return csv_response(
            queryset, self.csv_columns, filename=export_filename(self.csv_name), request=request, per_chunk=per_chunk
        )

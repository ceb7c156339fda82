"""The admin of strategy versions: read-only rows, the Approve action and "Save a new version from JSON".

Every write goes through ``strategies.services`` (``strategy_version_save``, ``strategy_version_approve``);
a version is never edited here, only read.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.admin_pages import form_add_page
from accounts.admin_services import VIA, each_through_service
from strategies import services
from strategies.engine.graph_shape import MAX_BYTES
from strategies.exceptions import StrategyGraphRefused
from strategies.models import Strategy, StrategyVersion
from strategies.selectors import strategy_list, strategy_version_list
from strategies.services.versions import APPROVE_PERM
from tradeconsole.exceptions import ApplicationError

VERSION_FIELDS = ["strategy", "number", "graph_hash", "warmup", "author", "created_at", "approved_by", "approved_at"]


def versions_table(strategy: Strategy) -> str:
    """The strategy's versions as a read-only table for its admin page, newest first, with the import link."""
    add = reverse("admin:strategies_strategyversion_add")
    link = format_html('<a class="button" href="{}?strategy={}">Save a new version from JSON</a>', add, strategy.pk)
    versions = list(strategy.versions.select_related("author", "approved_by").order_by("-number"))
    if not versions:
        return format_html("<p>No version yet.</p><p>{}</p>", link)
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">v{}</a></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:strategies_strategyversion_change", args=[version.pk]),
                version.number,
                version.graph_hash[:12],
                version.warmup,
                version.author or "the desk",
                f"{version.created_at:%Y-%m-%d %H:%M}",
                f"by {version.approved_by} on {version.approved_at:%Y-%m-%d %H:%M}" if version.is_approved else "no",
            )
            for version in versions
        ),
    )
    head = "<tr><th>version</th><th>hash</th><th>warm-up</th><th>author</th><th>saved (UTC)</th><th>approved</th></tr>"
    return format_html("<table><thead>{}</thead><tbody>{}</tbody></table><p>{}</p>", mark_safe(head), rows, link)


class StrategyVersionImportForm(forms.Form):
    """A graph to save as a strategy's next version: pasted JSON or an exported .json file."""

    strategy = forms.ModelChoiceField(queryset=None)
    graph = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 16, "cols": 100, "spellcheck": "false"}),
        required=False,
        label="Graph (JSON)",
        help_text="React Flow's JSON: nodes and edges, as a version's export gives it.",
    )
    graph_file = forms.FileField(
        required=False, label="or a .json file", help_text="Used instead of the text when given."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["strategy"].queryset = strategy_list(user=user).order_by("name")

    def clean(self):
        data = super().clean()
        upload = data.get("graph_file")
        if upload is not None:
            # One byte over the engine's limit is enough for it to say "too large"; never read more.
            raw = upload.read(MAX_BYTES + 1)
            try:
                data["graph"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.", code="graph.not_json") from None
        if not (data.get("graph") or "").strip():
            raise forms.ValidationError("Paste the graph's JSON or choose a .json file.", code="graph.missing")
        return data

    def save(self, *, actor) -> StrategyVersion | None:
        """Save the graph through ``strategy_version_save``; a refused graph leaves every problem on the form."""
        try:
            return services.strategy_version_save(
                actor=actor, strategy=self.cleaned_data["strategy"], graph=self.cleaned_data["graph"], via=VIA
            )
        except StrategyGraphRefused as refused:
            self.add_error(None, refused.message)
            for problem in refused.problems:
                where = ", ".join(f"{key} {problem[key]}" for key in ("node", "port") if problem.get(key))
                self.add_error("graph", f"{problem['code']}: {problem['message']}" + (f" ({where})" if where else ""))
        except ApplicationError as exc:
            self.add_error(None, f"{exc.message} ({exc.code})")
        return None


@admin.register(StrategyVersion)
class StrategyVersionAdmin(admin.ModelAdmin):
    """Versions are read here; added by the JSON form (``strategy_version_save``), approved by the action."""

    list_display = ["__str__", "strategy", "number", "warmup", "author", "created_at", "approved", "approved_by"]
    list_filter = [("strategy", admin.RelatedOnlyFieldListFilter), ("approved_at", admin.EmptyFieldListFilter)]
    list_select_related = ["strategy", "author", "approved_by"]
    search_fields = ["strategy__name", "graph_hash"]
    fields = [*VERSION_FIELDS, "graph_json"]
    readonly_fields = fields
    actions = ["approve_versions"]

    def get_queryset(self, request):
        return strategy_version_list(user=request.user)

    @admin.display(boolean=True, description="approved")
    def approved(self, version: StrategyVersion) -> bool:
        return version.is_approved

    @admin.display(description="graph")
    def graph_json(self, version: StrategyVersion) -> str:
        return format_html("<pre>{}</pre>", json.dumps(version.graph, indent=2, sort_keys=True))

    def has_change_permission(self, request, obj=None) -> bool:
        # A version is immutable: its page is read-only and nothing saves it but the services.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        # Shown to those the service may let through; it still checks author and state per version.
        return request.user.has_perm(APPROVE_PERM)

    @admin.action(description="Approve the selected versions for broker sessions", permissions=["approve"])
    def approve_versions(self, request: HttpRequest, queryset):
        approved = each_through_service(
            self,
            request,
            queryset,
            lambda version: services.strategy_version_approve(actor=request.user, version=version, via=VIA),
        )
        if approved:
            self.message_user(request, f"{approved} version(s) approved for broker sessions.", messages.SUCCESS)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        """Show "Save a new version from JSON" and save through ``strategy_version_save`` (never a model save)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {"strategy": request.GET.get("strategy")}
        posted = request.method == "POST"
        form = StrategyVersionImportForm(
            request.POST if posted else None, request.FILES if posted else None, user=request.user, initial=initial
        )
        if posted and form.is_valid():
            version = form.save(actor=request.user)
            if version is not None:
                self.message_user(request, f"Saved {version} (warm-up {version.warmup} bars).", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:strategies_strategyversion_change", args=[version.pk]))
        return form_add_page(
            self, request, form, title="Save a new version from JSON", form_url=form_url, extra_context=extra_context
        )

"""Bars are read-only here (built from ticks or the broker's history); watchlists are the users' own."""

from django.contrib import admin

from marketdata.models import Bar, WatchlistEntry


@admin.register(Bar)
class BarAdmin(admin.ModelAdmin):
    list_display = ("instrument", "resolution", "start", "open", "high", "low", "close", "volume", "source")
    list_filter = ("resolution", "source")
    search_fields = ("instrument__symbol",)
    date_hierarchy = "start"
    list_select_related = ("instrument",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WatchlistEntry)
class WatchlistEntryAdmin(admin.ModelAdmin):
    list_display = ("user", "instrument", "position", "added_at")
    list_select_related = ("user", "instrument")
    search_fields = ("user__username", "instrument__symbol")

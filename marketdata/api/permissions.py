"""Who may read market data and keep a watchlist: any desk member who can view orders."""

from __future__ import annotations

from accounts.api.permissions import IsDeskMember


class CanViewMarketData(IsDeskMember):
    """A desk role that may view orders (every role does today); a watchlist is one's own."""

    message = "Market data needs a desk role that may view orders."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.has_perm("orders.view_order")

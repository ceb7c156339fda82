"""The order search and sort of the blotter and the order list (``?q=``, ``?sort=``): one rule, read by
the database for a page and by the live pages for a row that arrives on the socket.

A search is up to ``MAX_TERMS`` words; an order matches when every word matches one of: its
symbol (prefix), its account's code (prefix), its client order id (prefix, 4 hex digits or more),
its strategy's name (anywhere) or its reject reason (anywhere), ignoring case.

Cheap by construction: the symbol, account and strategy words are read on their small tables
and become sets of ids (hashed subplans: ``instrument_id`` / ``account_id`` /
``trading_session_id`` in them), the id prefix is a range of the unique index on
``client_order_id``, and the orders are read newest first along the ``created_at`` index until
the page is full. A word that matches almost nothing reads every order of the user's accounts
(10,000 in about 5 ms, ``bench/bench_blotter.py``); a trigram index on the reject reason would
take that off a book of millions (not done).
"""

from __future__ import annotations

import re
import uuid

from django.db.models import Q, QuerySet

MAX_TERMS = 5
MAX_TERM_LENGTH = 64
# Fewer hex digits than this would match one order in 16 or 256: a symbol, not an id, was meant.
MIN_ID_PREFIX = 4
_HEX_PREFIX = re.compile(r"^[0-9a-f-]+$")

# ?sort= names -> the order's fields (newest first breaks ties, as the default order does).
SORTS = {
    "time": "created_at",
    "symbol": "instrument__symbol",
    "side": "side",
    "qty": "quantity",
    "status": "status",
    "filled": "filled_quantity",
    "account": "account__code",
}
DEFAULT_SORT = "-time"


def search_terms(text: str | None) -> list[str]:
    """The words of a search, upper-cased, each at most ``MAX_TERM_LENGTH`` long, at most ``MAX_TERMS``."""
    return [word[:MAX_TERM_LENGTH].upper() for word in (text or "").split()][:MAX_TERMS]


def _id_range(term: str) -> tuple[uuid.UUID, uuid.UUID | None] | None:
    """The client order ids that begin with ``term`` as a range [low, high), or None if it is no id prefix."""
    digits = term.lower().replace("-", "")
    if not _HEX_PREFIX.match(term.lower()) or not MIN_ID_PREFIX <= len(digits) <= 32:
        return None
    low = int(digits.ljust(32, "0"), 16)
    step = 16 ** (32 - len(digits))
    high = low + step
    return uuid.UUID(int=low), (uuid.UUID(int=high) if high < 16**32 else None)


def _term_q(term: str) -> Q:
    from accounts.models import BrokerAccount
    from orders.models import Instrument
    from strategies.models import TradingSession

    found = (
        Q(instrument_id__in=Instrument.objects.filter(symbol__istartswith=term).values("pk"))
        | Q(account_id__in=BrokerAccount.objects.filter(code__istartswith=term).values("pk"))
        | Q(trading_session_id__in=TradingSession.objects.filter(strategy__name__icontains=term).values("pk"))
        | Q(reject_reason__icontains=term)
    )
    ids = _id_range(term)
    if ids is not None:
        low, high = ids
        found |= Q(client_order_id__gte=low, client_order_id__lt=high) if high else Q(client_order_id__gte=low)
    return found


def order_search(queryset: QuerySet, text: str | None) -> QuerySet:
    """Narrow ``queryset`` (of orders) to those matching every word of ``text``; unchanged when it has none."""
    for term in search_terms(text):
        queryset = queryset.filter(_term_q(term))
    return queryset


def row_matches(
    text: str | None, *, symbol: str, account: str, client_order_id: str, strategy: str, reject_reason: str
) -> bool:
    """Whether an order with these values matches ``text`` (the rule of ``order_search``, for one row)."""
    for term in search_terms(text):
        digits = term.lower().replace("-", "")
        if not (
            symbol.upper().startswith(term)
            or account.upper().startswith(term)
            or term in strategy.upper()
            or term in reject_reason.upper()
            or (_id_range(term) is not None and client_order_id.lower().replace("-", "").startswith(digits))
        ):
            return False
    return True


def sort_key(value: str | None) -> str:
    """The sort ``value`` names (``symbol``, ``-qty``), or ``DEFAULT_SORT`` for anything else."""
    value = value or ""
    return value if value.lstrip("-") in SORTS else DEFAULT_SORT


def order_sort(queryset: QuerySet, value: str | None) -> QuerySet:
    """Order ``queryset`` (of orders) by the sort ``value`` names, newest first among equals."""
    key = sort_key(value)
    field = SORTS[key.lstrip("-")]
    descending = key.startswith("-")
    if field == "created_at":
        return queryset.order_by(*(("-created_at", "-id") if descending else ("created_at", "id")))
    return queryset.order_by(f"-{field}" if descending else field, "-created_at", "-id")

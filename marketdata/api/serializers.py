"""The datafeed's answers as TradingView's UDF protocol shapes them, and the watchlist's rows.

The datafeed views build their answers as plain dicts (history is the hot path: no serializer
walks its arrays); these serializers describe them in the OpenAPI schema.
"""

from __future__ import annotations

from rest_framework import serializers

from marketdata.models import WatchlistEntry


class DatafeedError(serializers.Serializer):
    """Any refused datafeed request (HTTP 400), as UDF answers one, with the desk's stable code."""

    s = serializers.ChoiceField(choices=["error"])
    errmsg = serializers.CharField(help_text="A sentence for people.")
    code = serializers.CharField(
        help_text=(
            "Stable code: marketdata.unknown_symbol, marketdata.bad_resolution, marketdata.bad_range, "
            "marketdata.range_too_long, marketdata.bad_countback, marketdata.missing_parameter, "
            "marketdata.bad_parameter, marketdata.too_many_symbols."
        )
    )


class _Named(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField(allow_blank=True)


class _Exchange(_Named):
    desc = serializers.CharField(allow_blank=True)


class DatafeedConfig(serializers.Serializer):
    supported_resolutions = serializers.ListField(child=serializers.CharField())
    supports_group_request = serializers.BooleanField()
    supports_marks = serializers.BooleanField()
    supports_search = serializers.BooleanField()
    supports_timescale_marks = serializers.BooleanField()
    supports_time = serializers.BooleanField()
    exchanges = _Exchange(many=True)
    symbols_types = _Named(many=True)


class DatafeedSymbolInfo(serializers.Serializer):
    name = serializers.CharField()
    ticker = serializers.CharField()
    full_name = serializers.CharField()
    description = serializers.CharField()
    type = serializers.CharField()
    session = serializers.CharField(help_text="Regular trading hours, exchange time: 0930-1600.")
    timezone = serializers.CharField()
    exchange = serializers.CharField(allow_blank=True)
    listed_exchange = serializers.CharField(allow_blank=True)
    currency_code = serializers.CharField()
    minmov = serializers.IntegerField()
    pricescale = serializers.IntegerField()
    has_intraday = serializers.BooleanField()
    has_daily = serializers.BooleanField()
    intraday_multipliers = serializers.ListField(child=serializers.CharField())
    supported_resolutions = serializers.ListField(child=serializers.CharField())
    volume_precision = serializers.IntegerField()
    data_status = serializers.CharField()


class DatafeedSearchResult(serializers.Serializer):
    symbol = serializers.CharField()
    full_name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    exchange = serializers.CharField(allow_blank=True)
    ticker = serializers.CharField()
    type = serializers.CharField()


class DatafeedHistory(serializers.Serializer):
    """Bars as parallel arrays, oldest first (``s`` "ok"), or ``s`` "no_data" with the start of the
    newest earlier bar in ``nextTime`` when there is one."""

    s = serializers.ChoiceField(choices=["ok", "no_data"])
    t = serializers.ListField(child=serializers.IntegerField(), required=False, help_text="Bar starts, epoch s")
    o = serializers.ListField(child=serializers.FloatField(), required=False)
    h = serializers.ListField(child=serializers.FloatField(), required=False)
    l = serializers.ListField(child=serializers.FloatField(), required=False)  # noqa: E741 - UDF's name
    c = serializers.ListField(child=serializers.FloatField(), required=False)
    v = serializers.ListField(child=serializers.FloatField(), required=False)
    nextTime = serializers.IntegerField(required=False)


class DatafeedMark(serializers.Serializer):
    """One of the desk's fills in your accounts, as a UDF mark."""

    id = serializers.IntegerField()
    time = serializers.IntegerField(help_text="Execution time, epoch seconds")
    color = serializers.ChoiceField(choices=["green", "red"])
    text = serializers.CharField()
    label = serializers.ChoiceField(choices=["B", "S"])
    labelFontColor = serializers.CharField()
    minSize = serializers.IntegerField()
    side = serializers.ChoiceField(choices=["BUY", "SELL"])
    quantity = serializers.CharField(help_text="Decimal string")
    price = serializers.CharField(help_text="Decimal string")
    order_id = serializers.UUIDField(allow_null=True, help_text="The order's client_order_id")
    account = serializers.CharField()


class _QuoteValues(serializers.Serializer):
    lp = serializers.FloatField(allow_null=True, required=False)
    bid = serializers.FloatField(allow_null=True, required=False)
    ask = serializers.FloatField(allow_null=True, required=False)
    volume = serializers.FloatField(required=False)
    ch = serializers.FloatField(allow_null=True, required=False)
    chp = serializers.FloatField(allow_null=True, required=False)
    short_name = serializers.CharField(required=False)
    exchange = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False)


class _Quote(serializers.Serializer):
    s = serializers.ChoiceField(choices=["ok", "error"])
    n = serializers.CharField()
    v = _QuoteValues(help_text="Empty for a symbol the desk does not know (s: error).")


class DatafeedQuotes(serializers.Serializer):
    s = serializers.ChoiceField(choices=["ok"])
    d = _Quote(many=True)


class WatchlistEntryOutput(serializers.ModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol")
    description = serializers.CharField(source="instrument.description")
    exchange = serializers.SerializerMethodField()

    class Meta:
        model = WatchlistEntry
        fields = ["symbol", "description", "exchange", "position", "added_at"]

    def get_exchange(self, entry) -> str:
        return entry.instrument.primary_exchange or entry.instrument.exchange


class WatchlistAddInput(serializers.Serializer):
    symbol = serializers.CharField(max_length=32)


class WatchlistReorderInput(serializers.Serializer):
    symbols = serializers.ListField(child=serializers.CharField(max_length=32), max_length=500)

"""Query parameters of the datafeed, one serializer per endpoint, and their errors' stable codes.

UDF names two parameters ``from`` and ``to``; ``from`` is a Python keyword, so ``RangeParams``
declares it as ``from_`` and renames it when its fields are built. A parameter that fails is a
``MarketDataRefused`` (or ``UnknownSymbol``) with the code of what was wrong.
"""

from __future__ import annotations

from rest_framework import serializers

from marketdata import resolutions
from marketdata.exceptions import (
    CountbackInvalid,
    ParameterInvalid,
    ParameterMissing,
    RangeInvalid,
    RangeTooLong,
    ResolutionInvalid,
    TooManySymbols,
)
from marketdata.lookups import UnknownSymbol
from marketdata.selectors import MAX_COUNTBACK, MAX_QUOTE_SYMBOLS, MAX_SPAN, MAX_TIMESTAMP, chart_symbol
from tradeconsole.exceptions import ApplicationError

RESOLUTION_HELP = "One of 1, 5, 15, 60 (minutes) or 1D (D is accepted too)."
_BAD_RESOLUTION = ResolutionInvalid.code


class ResolutionField(serializers.CharField):
    """A UDF resolution; the validated value is a ``resolutions.Resolution``."""

    def __init__(self, **kwargs):
        super().__init__(max_length=8, help_text=RESOLUTION_HELP, **kwargs)

    def run_validation(self, data=serializers.empty):
        text = super().run_validation(data)
        if text is None:
            return text
        try:
            return resolutions.parse(text)
        except resolutions.BadResolution as refused:
            raise serializers.ValidationError(str(refused), code=_BAD_RESOLUTION) from None


def _timestamp(help_text: str, **kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=MAX_TIMESTAMP, help_text=help_text, **kwargs)


class SymbolParams(serializers.Serializer):
    symbol = serializers.CharField(max_length=64, help_text="The desk's symbol (AAPL), or EXCHANGE:SYMBOL.")


class RangeParams(SymbolParams):
    """A symbol and a time range [from, to) in epoch seconds."""

    from_ = _timestamp("The earliest bar start wanted (epoch seconds, UTC, included).")
    to = _timestamp("The bar starts wanted end before this (epoch seconds, UTC, excluded).")

    def get_fields(self):
        fields = super().get_fields()
        return {("from" if name == "from_" else name): field for name, field in fields.items()}

    def validate(self, attrs):
        start, end = attrs.get("from"), attrs["to"]
        if start is not None and start >= end:
            raise serializers.ValidationError(f"from ({start}) is not before to ({end}).", code=RangeInvalid.code)
        return attrs


class HistoryParams(RangeParams):
    resolution = ResolutionField()
    countback = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_COUNTBACK,
        help_text="At least this many bars ending before `to` (more if [from, to) holds more); `from` optional.",
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"].required = False
        return fields

    def validate(self, attrs):
        attrs = super().validate(attrs)
        start, end, resolution = attrs.get("from"), attrs["to"], attrs["resolution"]
        if start is None and "countback" not in attrs:
            raise serializers.ValidationError("from is required unless countback is given.", code="required")
        longest = MAX_SPAN[resolution.code]
        if start is not None and end - start > longest.total_seconds():
            raise serializers.ValidationError(
                f"At resolution {resolution.code} one request covers at most {longest.days} days.",
                code=RangeTooLong.code,
            )
        return attrs


class MarksParams(RangeParams):
    resolution = ResolutionField(required=False)


class SearchParams(serializers.Serializer):
    query = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    type = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    exchange = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    limit = serializers.IntegerField(min_value=1, max_value=100, required=False, default=30)


class QuotesParams(serializers.Serializer):
    symbols = serializers.CharField(
        max_length=2000, help_text=f"Comma-separated symbols, at most {MAX_QUOTE_SYMBOLS}: AAPL,MSFT."
    )

    def validate_symbols(self, value: str) -> list[str]:
        names = [chart_symbol(part) for part in value.split(",") if part.strip()]
        if not names:
            raise serializers.ValidationError("Name at least one symbol.", code="required")
        if len(names) > MAX_QUOTE_SYMBOLS:
            raise serializers.ValidationError(
                f"At most {MAX_QUOTE_SYMBOLS} symbols per request.", code=TooManySymbols.code
            )
        return names


# The refusal of a parameter that is not what its field takes (other than missing).
_FIELD_REFUSALS: dict[str, type[ApplicationError]] = {
    "symbol": UnknownSymbol,
    "from": RangeInvalid,
    "to": RangeInvalid,
    "countback": CountbackInvalid,
}
_BY_CODE: dict[str, type[ApplicationError]] = {
    refusal.code: refusal for refusal in (RangeInvalid, RangeTooLong, CountbackInvalid, TooManySymbols)
}


def datafeed_params(serializer_class: type[serializers.Serializer], request) -> dict:
    """The validated query parameters of ``request`` for ``serializer_class``.

    :raises ParameterMissing: a required parameter is absent or blank.
    :raises MarketDataRefused, UnknownSymbol: a parameter is wrong, with the code of what is wrong
        (``marketdata.bad_resolution``, ``bad_range``, ``range_too_long``, ``bad_countback``…).
    """
    fields = serializer_class().fields
    data = {name: request.query_params[name] for name in fields if name in request.query_params}
    params = serializer_class(data=data)
    if params.is_valid():
        return params.validated_data
    field, errors = next(iter(params.errors.items()))
    error = errors[0]
    name = None if field == "non_field_errors" else field
    text = f"{name}: {error}" if name else str(error)
    if error.code in ("required", "blank", "null"):
        raise ParameterMissing(text, field=name)
    if error.code == _BAD_RESOLUTION:
        raise ResolutionInvalid(str(error), field="resolution")
    refusal = _BY_CODE.get(error.code) or _FIELD_REFUSALS.get(name or "", ParameterInvalid)
    raise refusal(text, field=name)

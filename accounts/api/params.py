"""Query parameters of list endpoints, validated by a serializer so a bad filter is a 400, not a 500."""

from __future__ import annotations

from rest_framework import serializers


def query_params(serializer_class: type[serializers.Serializer], request) -> dict:
    """Return the validated query parameters of ``request`` for ``serializer_class``.

    Fields that are lists (``ListField``, ``MultipleChoiceField``) take every value of a
    repeated parameter (``?status=NEW&status=FILLED``); unknown parameters are ignored.

    :raises rest_framework.exceptions.ValidationError: a parameter is malformed.
    """
    fields = serializer_class().fields
    data = {}
    for name, field in fields.items():
        if name not in request.query_params:
            continue
        if isinstance(field, serializers.ListField | serializers.MultipleChoiceField):
            data[name] = request.query_params.getlist(name)
        else:
            data[name] = request.query_params[name]
    params = serializer_class(data=data)
    params.is_valid(raise_exception=True)
    return params.validated_data

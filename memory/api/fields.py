"""Serializer fields and request parsing shared by the API modules."""

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def validated_query(request, serializer_class) -> dict:
    """The request's query parameters through `serializer_class`; a 422 naming
    ["query", field] when they are invalid."""
    serializer = serializer_class(data=request.query_params.dict())
    if not serializer.is_valid():
        error = serializers.ValidationError(serializer.errors)
        error.loc = ("query",)
        raise error
    return serializer.validated_data

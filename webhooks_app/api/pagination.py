"""Pagination of the API's lists."""

import re
from datetime import UTC

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination


class StrictPageSizeMixin:
    """``page_size`` is a whole number from 1 to max_page_size, or a 400 naming it.

    DRF ignores a page size it cannot read ("abc", "0", "true") and cuts one over the
    maximum, so a typo silently gives another page than asked for; the schema says
    the range.
    """

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        # ASCII digits only: int() also reads "²" as no number and " 5" as 5.
        if not re.fullmatch(r"[0-9]{1,6}", value) or not 1 <= int(value) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(value)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {**parameter["schema"], "minimum": 1, "maximum": self.max_page_size}
        return parameters


class WebhookPagination(StrictPageSizeMixin, PageNumberPagination):
    """Webhooks are few: numbered pages with a total count."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_number(self, request, paginator):
        """A page number is digits, as the schema says: DRF also reads "" as 1 and "last"."""
        value = request.query_params.get(self.page_query_param)
        if value is None:
            return 1
        if not re.fullmatch(r"[0-9]{1,9}", value):
            raise NotFound(self.invalid_page_message)
        return int(value)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {**parameter["schema"], "minimum": 1}
        return parameters


class DeliveryCursorPagination(StrictPageSizeMixin, CursorPagination):
    """Deliveries are many: a cursor over (-created_at, -id), so no COUNT(*) and no OFFSET scan.

    Each page is one index range scan on (webhook, [status | event_type,] -created_at).
    """

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        """DRF's cursor, with its position checked: a moment, in UTC, or a 404 "Invalid cursor".

        DRF decodes the base64 and the offset but passes the position ("p=") to the
        queryset as it came, so a crafted cursor (base64 of "p=x") would reach the
        database as a created_at; an offset PostgreSQL cannot take ("+19:01") is moved
        to UTC here, and a moment that does not exist in UTC (year 1 minus an offset)
        is refused.
        """
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        try:
            moment = parse_datetime(cursor.position)
            if moment is not None:
                moment = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
        except (ValueError, OverflowError):
            moment = None
        if moment is None:
            raise NotFound(self.invalid_cursor_message)
        return Cursor(offset=cursor.offset, reverse=cursor.reverse, position=moment.isoformat())

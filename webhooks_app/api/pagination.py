"""Pagination of the API's lists."""

from datetime import UTC

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination


class WebhookPagination(PageNumberPagination):
    """Webhooks are few: numbered pages with a total count."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class DeliveryCursorPagination(CursorPagination):
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

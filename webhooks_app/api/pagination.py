"""Pagination of the API's lists."""

from rest_framework.pagination import CursorPagination, PageNumberPagination


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

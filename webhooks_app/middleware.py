"""Puts who made a request into the context of the events it causes."""

import uuid

from .events import event_context


class EventContextMiddleware:
    """Adds actor, request_id and source ("web") to events emitted during a request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        values = {
            "source": "web",
            "request_id": request.headers.get("X-Request-ID") or uuid.uuid4().hex,
        }
        if user is not None and user.is_authenticated:
            values["actor"] = user.get_username()
        with event_context(**values):
            return self.get_response(request)

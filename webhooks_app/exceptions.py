"""One exception hierarchy for the app.

Every error carries the input ``field`` it belongs to (None: the request as a
whole), so that the console form, the API and the admin put the message next to
that field without guessing it from the text. ``error_dict`` is the one
translation of any of them, and of Django's ValidationError, into
``{field or None: [message, ...]}``.
"""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


class WebhookError(Exception):
    """Base class of every error raised by webhooks_app."""

    #: The input field the message is about; None when it is about the whole request.
    field: str | None = None

    def __init__(self, message: str = "", *args, field: str | None = None, **kwargs):
        super().__init__(message, *args, **kwargs)
        if field is not None:
            self.field = field


class ImproperlyConfiguredWebhooks(WebhookError):
    """The WEBHOOKS setting is wrong; the message names the key to fix."""


class WebhookValidationError(WebhookError, ValidationError):
    """Input a rule refuses, raised by a validator or a service.

    It is a Django ValidationError too, so a validator attached to a model field
    works in ``full_clean`` (the console form and the admin) and in DRF
    serializers (which run model field validators) unchanged.
    """

    def __str__(self):
        # ValidationError's str() is the repr of a list of messages.
        return " ".join(self.messages)


class UnknownEventType(WebhookError, ValueError):
    """emit() was called with an event type that is not declared."""

    field = "event_type"


class ReservedEventType(WebhookError, ValueError):
    """emit() was called with an event type only the app itself sends (``webhook.test``)."""

    field = "event_type"


class InvalidEventData(WebhookError, ValueError):
    """Event data cannot be serialized, or the payload is too large."""

    field = "data"


class DestinationNotAllowed(WebhookError):
    """The URL resolves to an address deliveries must not reach (SSRF guard)."""


class IllegalTransition(WebhookError):
    """A delivery status change that the state machine refuses."""


class DeliveryInProgress(WebhookError):
    """An action that needs a finished delivery was asked of a pending one (the API answers 409)."""


class WebhookDisabled(WebhookError):
    """Sending was asked of a disabled webhook, which would cancel it at once (the API answers 409)."""


def error_dict(exc: Exception) -> dict[str | None, list[ValidationError]]:
    """``{field or None: [ValidationError, ...]}`` of a WebhookError or a Django ValidationError.

    Each item keeps its ``code`` and ``params`` (an ``index`` param names the item
    of a list field the message is about), and ``.messages`` gives its text.
    """
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return {
                (None if name == NON_FIELD_ERRORS else name): list(errors)
                for name, errors in exc.error_dict.items()
            }
        return {getattr(exc, "field", None): list(exc.error_list)}
    return {getattr(exc, "field", None): [ValidationError(str(exc))]}

"""One exception hierarchy for the app."""


class WebhookError(Exception):
    """Base class of every error raised by webhooks_app."""


class ImproperlyConfiguredWebhooks(WebhookError):
    """The WEBHOOKS setting is wrong; the message names the key to fix."""


class UnknownEventType(WebhookError, ValueError):
    """emit() was called with an event type that is not declared."""


class InvalidEventData(WebhookError, ValueError):
    """Event data cannot be serialized, or the payload is too large."""


class DestinationNotAllowed(WebhookError):
    """The URL resolves to an address deliveries must not reach (SSRF guard)."""


class IllegalTransition(WebhookError):
    """A delivery status change that the state machine refuses."""

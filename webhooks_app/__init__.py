"""Outgoing webhooks for Django: console, signed delivery through django-q2, REST API."""

__version__ = "0.1.0"


def emit(event_type, data=None, context=None):
    """Emit one event of a declared type; returns the saved Event.

    Deliveries are created in the current transaction and enqueued after commit.
    ``webhook.test`` is refused (ReservedEventType): only a webhook's test action
    sends it, to that webhook alone.
    """
    from .services import event_emit

    return event_emit(event_type=event_type, data=data, context=context)


__all__ = ["__version__", "emit"]

"""Signals the app sends, for a host project's own hooks."""

from django.dispatch import Signal

# Sent after a webhook was disabled by the app itself (410 Gone or a long run
# of failures). Arguments: webhook, reason.
webhook_disabled = Signal()

# Sent when a delivery ends as failed (retries exhausted). Arguments: delivery.
delivery_failed = Signal()

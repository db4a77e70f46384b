"""The demo's per-recipient destination: WEBHOOKS["RECIPIENT_URL"] reads the event's contact.

The URL always comes from the contact's row, never from the event data: whoever may
emit an event (``POST /api/events/`` needs only ``add_event``) writes the data, and
would choose the destination. A deleted contact's row is gone when its
``contact.deleted`` event is emitted (``post_delete``), so the URL it had is
remembered from ``pre_delete`` for the duration of that delete, in this context only.
"""

import contextvars

from django.db.models.signals import post_delete, pre_delete

from .models import Contact

# {contact id: webhook_url} of the contacts being deleted in this context (thread or task).
_deleting: contextvars.ContextVar[dict | None] = contextvars.ContextVar("contacts_deleting", default=None)


def recipient_url(event) -> str | None:
    """The webhook URL of the contact a ``contact.*`` event is about, or None (a skipped delivery).

    The contact is found by ``data["id"]``: its row, or, while it is being deleted, the
    URL its row had. An id that names no contact has no URL, whatever else the data says.
    """
    if not event.event_type.startswith("contact."):
        return None
    data = event.data if isinstance(event.data, dict) else {}
    pk = data.get("id")
    if isinstance(pk, str) and pk.isdecimal() and pk.isascii():
        pk = int(pk)
    if not isinstance(pk, int) or isinstance(pk, bool):
        return None
    url = Contact.objects.filter(pk=pk).values_list("webhook_url", flat=True).first()
    if url is None:
        url = (_deleting.get() or {}).get(pk)
    return url or None


def remember_while_deleted(sender, instance, **kwargs):
    """pre_delete: keep the URL of a contact being deleted for its contact.deleted event."""
    if instance.pk is not None:
        _deleting.set({**(_deleting.get() or {}), instance.pk: instance.webhook_url})


def forget_once_deleted(sender, instance, **kwargs):
    """post_delete, after webhooks_app's receiver emitted contact.deleted: forget the URL."""
    deleting = _deleting.get()
    if deleting and instance.pk in deleting:
        _deleting.set({k: v for k, v in deleting.items() if k != instance.pk})


def connect() -> None:
    """Called by ContactsConfig.ready(), after webhooks_app's receivers are connected."""
    pre_delete.connect(remember_while_deleted, sender=Contact, dispatch_uid="contacts.remember_url")
    post_delete.connect(forget_once_deleted, sender=Contact, dispatch_uid="contacts.forget_url")

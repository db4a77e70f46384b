"""The demo's per-recipient destination: WEBHOOKS["RECIPIENT_URL"] reads the event's contact."""

from .models import Contact


def recipient_url(event) -> str | None:
    """The webhook URL of the contact a ``contact.*`` event is about, or None (a skipped delivery).

    The contact is found by ``data["id"]``; a deleted contact is gone from the table
    when its event is emitted, so its URL is read from the event data instead.
    """
    if not event.event_type.startswith("contact."):
        return None
    data = event.data if isinstance(event.data, dict) else {}
    pk = data.get("id")
    if isinstance(pk, str) and pk.isdigit():
        pk = int(pk)
    if not isinstance(pk, int) or isinstance(pk, bool):
        return None
    url = Contact.objects.filter(pk=pk).values_list("webhook_url", flat=True).first()
    if url is None:
        url = data.get("webhook_url")
    return url or None

"""Issue 21, states from the data: what a delivery and a webhook are doing, the same in the list,
the webhook page, the log, the delivery page and the API, against real receivers that answer 500,
410, and a closed port."""

import re
import socket
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation

from tests.receiver import Reply
from tests.test_console_views import client_for, make_user
from webhooks_app import emit, health, services
from webhooks_app.models import Delivery, Webhook
from webhooks_app.templatetags.webhooks_console import relative_time

pytest_plugins = ["tests.test_api_support"]

# The second retry 40 s after the second try, as the issue saw it ("attempt 3 of 6, next in 40 s").
SCHEDULE = {**settings.WEBHOOKS, "RETRY_SCHEDULE": [5, 40, 300, 900, 1800], "RETRY_JITTER": 0}


def text(html: str) -> str:
    """The page's visible text, tags dropped and white space collapsed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def try_now(delivery_id: int) -> Delivery:
    """One real try of a delivery now (as a worker would, through the engine)."""
    Delivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())
    services.delivery_attempt(delivery_id=delivery_id)
    return Delivery.objects.get(pk=delivery_id)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 that refuses connections: a port bound, noted, then closed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture(autouse=True)
def language_restored():
    """A request activates its language in this thread: the next test starts as this one did."""
    with translation.override(translation.get_language()):
        yield


@pytest.fixture
def console(db):
    return client_for(make_user("staff"))


def row_of(html: str, attr: str, pk) -> str:
    start = html.index(f'{attr}="{pk}"')
    end = html.find("</tr>", start)
    return html[start:end]


# Relative times ---------------------------------------------------------------------


def test_relative_times_to_the_second_below_a_minute():
    now = timezone.now()
    assert relative_time(now + timedelta(seconds=40), now=now) == "in 40 s"
    assert relative_time(now + timedelta(seconds=39.6), now=now) == "in 40 s"
    assert relative_time(now + timedelta(minutes=4, seconds=10), now=now) == "in 4 min"
    assert relative_time(now - timedelta(seconds=2), now=now) == "just now"
    assert relative_time(now - timedelta(seconds=30), now=now) == "30 s ago"
    assert relative_time(now - timedelta(minutes=59, seconds=50), now=now) == "1 h ago"
    assert relative_time(now + timedelta(hours=3), now=now) == "in 3 h"
    assert relative_time(now - timedelta(days=2), now=now) == "2 d ago"
    with translation.override("sv"):
        assert relative_time(now + timedelta(seconds=40), now=now) == "om 40 s"
        assert relative_time(now - timedelta(minutes=4), now=now) == "för 4 min sedan"
        assert relative_time(now - timedelta(seconds=1), now=now) == "alldeles nyss"


# A receiver that answers 500 ---------------------------------------------------------


@override_settings(WEBHOOKS=SCHEDULE)
def test_three_failures_out_of_three_read_failing_and_retrying(console, receiver, make_webhook, admin_api):
    receiver.default = Reply(status=500, body=b"down")
    webhook = make_webhook(receiver.url, name="Broken CRM")
    for n in range(3):
        emit("contact.created", data={"id": n})
    deliveries = list(Delivery.objects.order_by("created_at", "id"))
    for delivery in deliveries:
        try_now(delivery.pk)
        try_now(delivery.pk)
    receiver.wait_for(6)

    state = health.delivery_state(Delivery.objects.get(pk=deliveries[-1].pk))
    assert (state.code, state.attempt, state.attempts_max) == ("retrying", 3, 6)

    listing = console.get(reverse("webhooks_app:webhook-list")).content.decode()
    row = text(row_of(listing, "data-webhook-row", webhook.pk))
    assert "Failing" in row and "3 consecutive failures" in row
    assert "Retrying" in row and "attempt 3 of 6" in row
    assert re.search(r"next in (39|40) s", row), row
    assert "Pending" not in row
    assert "None delivered yet · 3 retrying" in row
    assert ">—<" not in row_of(listing, "data-webhook-row", webhook.pk)  # not a bare "—" as the rate
    assert 'data-health="failing"' in row_of(listing, "data-webhook-row", webhook.pk)

    log = console.get(reverse("webhooks_app:webhook-deliveries", args=[webhook.pk])).content.decode()
    for delivery in deliveries:
        cells = text(row_of(log, "data-delivery-row", delivery.pk))
        assert "Retrying" in cells and "attempt 3 of 6" in cells
        assert re.search(r"next in (39|40) s", cells), cells
        assert "0 minutes" not in cells
    assert "Failing" in text(log)

    page = text(
        console.get(reverse("webhooks_app:delivery-detail", args=[deliveries[0].pk])).content.decode()
    )
    assert "Retrying" in page and "attempt 3 of 6" in page
    assert re.search(r"the next try is due in (39|40) s", page), page
    assert "0 minutes" not in page

    edit = text(console.get(reverse("webhooks_app:webhook-update", args=[webhook.pk])).content.decode())
    assert "Failing" in edit and "3 consecutive failures" in edit

    body = admin_api.get(f"/api/webhooks/{webhook.pk}/").json()
    assert body["health"]["state"] == "failing"
    assert body["health"]["consecutive_failures"] == 3
    assert body["health"]["since"] is not None
    listed = admin_api.get("/api/webhooks/").json()["results"][0]
    assert listed["health"] == body["health"]
    delivery = admin_api.get(f"/api/deliveries/{deliveries[0].pk}/").json()
    assert delivery["state"]["state"] == "retrying" and delivery["state"]["attempt"] == 3

    # The receiver works again: the next success makes the webhook healthy.
    receiver.default = Reply(status=200)
    try_now(deliveries[-1].pk)
    assert health.webhook_health(Webhook.objects.get(pk=webhook.pk)).code == "healthy"
    listing = text(console.get(reverse("webhooks_app:webhook-list")).content.decode())
    assert "Healthy" in listing and "Succeeded" in listing


def test_a_delivery_never_tried_is_pending(console, make_webhook):
    webhook = make_webhook("https://crm.example.com/in")
    emit("contact.created", data={"id": 1})
    delivery = Delivery.objects.get()
    assert health.delivery_state(delivery).code == "pending"
    cells = text(
        row_of(
            console.get(reverse("webhooks_app:webhook-deliveries", args=[webhook.pk])).content.decode(),
            "data-delivery-row",
            delivery.pk,
        )
    )
    assert "Pending" in cells and "Retrying" not in cells
    assert health.webhook_health(webhook).code == "healthy"


# A closed port ---------------------------------------------------------------------------


def test_a_refused_connection_says_so_instead_of_a_response_time(console, make_webhook):
    webhook = make_webhook(closed_port_url(), name="Nobody home")
    emit("contact.created", data={"id": 1})
    delivery = try_now(Delivery.objects.get().pk)
    assert delivery.last_response_status is None and delivery.last_error == "Connection refused."
    page = text(console.get(reverse("webhooks_app:delivery-detail", args=[delivery.pk])).content.decode())
    assert "Last response No response: Connection refused." in page
    assert not re.search(r"Last response — in \d+ ms", page)
    log = console.get(reverse("webhooks_app:webhook-deliveries", args=[webhook.pk])).content.decode()
    cells = text(row_of(log, "data-delivery-row", delivery.pk))
    assert "No response" in cells and "Retrying" in cells


# A receiver that answers 410 Gone -----------------------------------------------------------


def test_gone_disables_with_the_reason_and_a_cancelled_delivery_does_not_hide_the_failure(
    console, receiver, make_webhook
):
    receiver.default = Reply(status=410, body=b"gone")
    webhook = make_webhook(receiver.url, name="Retired")
    emit("contact.created", data={"id": 1})
    failed = try_now(Delivery.objects.get().pk)
    assert failed.status == Delivery.Status.FAILED
    webhook.refresh_from_db()
    assert webhook.enabled is False and "410 Gone" in webhook.disabled_reason

    # A delivery created while the webhook was being disabled is cancelled at its first
    # claim, without a try: it says nothing about the receiver.
    later = Delivery.objects.create(
        webhook=webhook, event=failed.event, event_type=failed.event_type, next_attempt_at=timezone.now()
    )
    services.delivery_attempt(delivery_id=later.pk)
    assert Delivery.objects.get(pk=later.pk).status == Delivery.Status.CANCELLED

    found = health.webhook_health(webhook)
    assert found.code == "disabled" and "410 Gone" in found.reason
    assert found.last_delivery.pk == failed.pk

    listing = console.get(reverse("webhooks_app:webhook-list")).content.decode()
    row = text(row_of(listing, "data-webhook-row", webhook.pk))
    assert "Failed" in row and "Cancelled" not in row
    assert "Disabled" in row and "410 Gone" in row

    edit = console.get(reverse("webhooks_app:webhook-update", args=[webhook.pk])).content.decode()
    assert "410 Gone" in text(edit)
    # The banner offers Enable, a button that asks nothing more.
    match = re.search(r'<form method="post" action="([^"]+)"[^>]*data-enable-form>.*?</form>', edit, re.S)
    assert match and match.group(1) == reverse("webhooks_app:webhook-toggle", args=[webhook.pk])
    assert 'name="enabled" value="1"' in match.group(0)
    response = console.post(
        match.group(1), {"enabled": "1", "next": reverse("webhooks_app:webhook-update", args=[webhook.pk])}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("webhooks_app:webhook-update", args=[webhook.pk])
    webhook.refresh_from_db()
    assert webhook.enabled is True and webhook.disabled_reason == ""


# The engine's texts in the reader's language --------------------------------------------------


def test_engine_texts_are_shown_in_the_readers_language(console, receiver, make_webhook, admin_api):
    refused = make_webhook(closed_port_url(), name="Nobody home")
    receiver.default = Reply(status=410, body=b"gone")
    gone = make_webhook(receiver.url, name="Retired")
    emit("contact.created", data={"id": 1})
    for delivery in Delivery.objects.all():
        try_now(delivery.pk)
    at_closed = Delivery.objects.get(webhook=refused)
    attempt = at_closed.attempts.get()
    # Stored in English, with the code and its parameters beside.
    assert (attempt.error_message, attempt.error_code) == ("Connection refused.", "connection_refused")
    assert at_closed.last_error_code == "connection_refused"
    gone.refresh_from_db()
    assert gone.disabled_code == "gone" and gone.disabled_reason.startswith(
        "The receiver answered 410 Gone on"
    )

    swedish = {"HTTP_ACCEPT_LANGUAGE": "sv"}
    page = text(
        console.get(reverse("webhooks_app:delivery-detail", args=[at_closed.pk]), **swedish).content.decode()
    )
    assert "Inget svar: Anslutningen nekades." in page and "Connection refused." not in page
    edit = text(
        console.get(reverse("webhooks_app:webhook-update", args=[gone.pk]), **swedish).content.decode()
    )
    assert f"Mottagaren svarade 410 Gone {gone.disabled_params['when']} UTC." in edit
    listing = text(console.get(reverse("webhooks_app:webhook-list"), **swedish).content.decode())
    assert "Mottagaren svarade 410 Gone" in listing
    # The API stays in English.
    body = admin_api.get(f"/api/deliveries/{at_closed.pk}/").json()
    assert (
        body["last_error"] == "Connection refused."
        and body["attempts"][0]["error_message"] == "Connection refused."
    )


def test_rows_written_before_codes_keep_their_text(console, make_webhook):
    from tests.test_console_views import add_delivery

    webhook = make_webhook("https://crm.example.com/in")
    delivery = add_delivery(webhook, status=Delivery.Status.FAILED)
    Delivery.objects.filter(pk=delivery.pk).update(last_response_status=None, last_error="An old text.")
    delivery.attempts.update(response_status=None, error_message="An old text.")
    page = text(
        console.get(
            reverse("webhooks_app:delivery-detail", args=[delivery.pk]), HTTP_ACCEPT_LANGUAGE="sv"
        ).content.decode()
    )
    assert "Inget svar: An old text." in page

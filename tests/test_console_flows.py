"""Issue 21, flows that end where the user is, and confirmations of what cannot be undone quickly.

Create lands on the webhook page with the secret shown once; a test event's result replaces
"queued" on the delivery page; a redelivery says what it redelivers and where it went; switching
all sending off and "Redeliver all failed" ask first; "Retry now" on a pending delivery.
"""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.test_console_health import text, try_now
from tests.test_console_views import add_delivery, client_for, form_data, make_user
from webhooks_app import services
from webhooks_app.models import Delivery, Event, Webhook

pytest_plugins = ["tests.test_api_support"]


@pytest.fixture
def staff(db):
    return make_user("staff")


@pytest.fixture
def console(staff):
    return client_for(staff)


def update_url(webhook):
    return reverse("webhooks_app:webhook-update", args=[webhook.pk])


# Create lands on the webhook page with a one-time card ------------------------------------


def test_create_lands_on_the_webhook_page_with_the_secret_shown_once(console):
    response = console.post(reverse("webhooks_app:webhook-create"), form_data(), follow=True)
    webhook = Webhook.objects.get()
    assert response.redirect_chain == [(update_url(webhook), 302)]
    html = response.content.decode()
    card = html[html.index("data-created-card") : html.index("</section>", html.index("data-created-card"))]
    assert "Webhook “CRM sync” created" in card
    assert f'<code id="wh-created-secret" data-created-secret>{webhook.secret}</code>' in card
    assert 'data-copy="#wh-created-secret"' in card
    assert reverse("webhooks_app:webhook-test", args=[webhook.pk]) in card and "Send test event" in card
    assert "no-store" in response["Cache-Control"]

    again = console.get(update_url(webhook))
    assert "data-created-card" not in again.content.decode()
    assert webhook.secret not in again.content.decode()


def test_a_chosen_secret_is_shown_by_its_last_characters_only(console):
    chosen = "my-own-signing-secret-7a1f"
    response = console.post(reverse("webhooks_app:webhook-create"), form_data(secret=chosen), follow=True)
    html = response.content.decode()
    assert "data-created-card" in html and chosen not in html
    assert "Requests are signed with the secret you chose (ending in 7a1f)." in text(html)


def test_a_new_encryption_key_is_on_the_card(console):
    response = console.post(
        reverse("webhooks_app:webhook-create"), form_data(payload_encryption="aes-256-gcm"), follow=True
    )
    webhook = Webhook.objects.get()
    assert webhook.encryption_key
    html = response.content.decode()
    assert f"data-created-encryption-key>{webhook.encryption_key}</code>" in html
    assert webhook.encryption_key not in console.get(update_url(webhook)).content.decode()


def test_who_may_only_create_gets_the_card_on_the_list(db):
    client = client_for(make_user("creator", perms=["view_webhook", "add_webhook"]))
    response = client.post(reverse("webhooks_app:webhook-create"), form_data(), follow=True)
    webhook = Webhook.objects.get()
    assert response.redirect_chain == [(reverse("webhooks_app:webhook-list"), 302)]
    assert webhook.secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]


# A test event's result replaces "queued" ------------------------------------------------------


def test_the_test_events_outcome_follows_the_delivery(console, receiver, make_webhook):
    webhook = make_webhook(receiver.url, name="Local")
    # Not a transactional test: nothing is sent when the test event commits, as with a
    # real cluster that has not picked it up yet.
    response = console.post(reverse("webhooks_app:webhook-test", args=[webhook.pk]))
    delivery = Delivery.objects.get(webhook=webhook)
    assert response["Location"] == delivery.get_absolute_url() + "?test=1"
    page = console.get(response["Location"]).content.decode()
    assert "Test event queued" in page and "data-live-delivery" in page

    try_now(delivery.pk)
    receiver.wait_for(1)
    page = console.get(response["Location"]).content.decode()
    assert "Test event delivered: the receiver answered HTTP 200" in page
    assert "Test event queued" not in page
    assert "data-live-delivery" not in page  # the page stops polling
    # Nothing was left in the session to show later.
    assert "Test event" not in console.get(reverse("webhooks_app:webhook-list")).content.decode()


# Redeliveries say what they redeliver, and record their URL -------------------------------------


def test_a_redelivery_says_of_which_delivery_and_records_its_url(console, admin_api, make_webhook):
    webhook = make_webhook("https://crm.example.com/in", name="CRM")
    original = add_delivery(webhook, status=Delivery.Status.FAILED)
    response = console.post(reverse("webhooks_app:delivery-redeliver", args=[original.pk]))
    new = Delivery.objects.exclude(pk=original.pk).get()
    assert response["Location"] == new.get_absolute_url()
    assert new.redelivery_of_id == original.pk and new.url == webhook.url

    page = console.get(new.get_absolute_url()).content.decode()
    assert f'Redelivery of <a href="{original.get_absolute_url()}">#{original.pk}</a>' in page
    assert f"data-delivery-url>{webhook.url}</code>" in page
    assert "none" not in text(page[page.index('data-live-part="summary"') :])[:200]
    log = console.get(reverse("webhooks_app:webhook-deliveries", args=[webhook.pk])).content.decode()
    assert f"redelivery of #{original.pk}" in log
    assert admin_api.get(f"/api/deliveries/{new.pk}/").json()["redelivery_of"] == original.pk


def test_redeliver_failed_records_what_each_redelivers(make_webhook):
    webhook = make_webhook("https://crm.example.com/in", name="CRM")
    failed = [add_delivery(webhook, status=Delivery.Status.FAILED) for _ in range(2)]
    count = services.deliveries_redeliver_failed(webhook=webhook, since=timezone.now() - timedelta(hours=1))
    assert count == 2
    redelivered = Delivery.objects.exclude(pk__in=[d.pk for d in failed])
    assert sorted(redelivered.values_list("redelivery_of_id", flat=True)) == sorted(d.pk for d in failed)
    assert set(redelivered.values_list("url", flat=True)) == {webhook.url}


def test_a_redelivery_to_a_recipient_goes_where_the_first_one_went(make_webhook, receiver):
    webhook = make_webhook("", name="Per contact", destination="recipient")
    event = Event.objects.create(event_type="contact.created", data={"id": 1})
    first = Delivery.objects.create(
        webhook=webhook,
        event=event,
        event_type=event.event_type,
        url=receiver.url,
        status=Delivery.Status.FAILED,
        completed_at=timezone.now(),
    )
    new = services.delivery_redeliver(delivery=first)
    assert new.url == receiver.url and new.redelivery_of_id == first.pk


# Confirm what cannot be undone quickly ------------------------------------------------------------


@pytest.fixture
def admin_console(db):
    from django.contrib.auth.models import User

    return client_for(User.objects.create_superuser("root", "root@example.com", "pw"))


def test_switching_all_sending_off_asks_first(admin_console, make_webhook):
    from webhooks_app.models import WebhookSettings

    webhook = make_webhook("https://crm.example.com/in")
    add_delivery(webhook, status=Delivery.Status.PENDING)
    listing = admin_console.get(reverse("webhooks_app:webhook-list")).content.decode()
    form = re.search(r"<form ([^>]*)data-sending-form>", listing).group(1)
    assert 'method="get"' in form and reverse("webhooks_app:sending-off") in form

    confirm = admin_console.get(reverse("webhooks_app:sending-off"), {"next": "/settings/webhooks/"})
    page = text(confirm.content.decode())
    assert "Switch off all webhook sending?" in page
    assert "Nothing is sent to the 1 enabled webhook" in page
    assert "1 delivery waiting to be sent now is held too." in page
    assert WebhookSettings.load().enabled is True  # asking changed nothing

    admin_console.post(
        reverse("webhooks_app:sending-update"), {"enabled": "0", "next": "/settings/webhooks/"}
    )
    assert WebhookSettings.load().enabled is False
    # Switching on again is one click: the switch posts.
    listing = admin_console.get(reverse("webhooks_app:webhook-list")).content.decode()
    form = re.search(r"<form ([^>]*)data-sending-form>", listing).group(1)
    assert 'method="post"' in form


def test_redeliver_all_failed_says_how_many_and_asks(console, make_webhook):
    webhook = make_webhook("https://crm.example.com/in", name="CRM")
    for _ in range(3):
        add_delivery(webhook, status=Delivery.Status.FAILED)
    since = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    url = reverse("webhooks_app:webhook-redeliver-failed", args=[webhook.pk])

    log = console.get(reverse("webhooks_app:webhook-deliveries", args=[webhook.pk])).content.decode()
    assert re.search(rf'<form method="get" action="{url}"', log)

    preview = console.get(url, {"since": since})
    assert preview.status_code == 200
    page = text(preview.content.decode())
    assert "3 deliveries failed since" in page and "Redeliver 3 deliveries" in page
    assert Delivery.objects.count() == 3  # nothing sent yet

    console.post(url, {"since": since})
    assert Delivery.objects.count() == 6


def test_redeliver_all_failed_is_refused_on_a_disabled_webhook_with_enable_offered(
    console, make_webhook, admin_api
):
    webhook = make_webhook("https://crm.example.com/in", name="CRM")
    add_delivery(webhook, status=Delivery.Status.FAILED)
    services.webhook_disable(webhook=webhook, reason="The receiver answered 410 Gone.")
    since = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    url = reverse("webhooks_app:webhook-redeliver-failed", args=[webhook.pk])

    preview = console.get(url, {"since": since}).content.decode()
    assert "1 delivery failed since" in text(preview)
    assert "data-redeliver-refused" in preview and "Redeliver 1 delivery" not in preview
    enable = re.search(r'<form method="post" action="([^"]+)"[^>]*data-enable-form>.*?</form>', preview, re.S)
    assert enable and enable.group(1) == reverse("webhooks_app:webhook-toggle", args=[webhook.pk])

    refused = console.post(url, {"since": since}, follow=True)
    assert "“CRM” is disabled, so what is sent to it is cancelled at once. Enable it first." in text(
        refused.content.decode()
    )
    assert Delivery.objects.count() == 1
    api = admin_api.post(
        f"/api/webhooks/{webhook.pk}/redeliver-failed/",
        {"since": (timezone.now() - timedelta(hours=1)).isoformat()},
        format="json",
    )
    assert api.status_code == 409 and "disabled" in api.json()["detail"]
    single = admin_api.post(f"/api/deliveries/{Delivery.objects.get().pk}/redeliver/")
    assert single.status_code == 409
    assert Delivery.objects.count() == 1

    # Enable (one click), and the same page now offers the redelivery.
    console.post(enable.group(1), {"enabled": "1"})
    assert "Redeliver 1 delivery" in console.get(url, {"since": since}).content.decode()


def test_retry_now_makes_a_pending_delivery_due_at_once(console, receiver, make_webhook):
    webhook = make_webhook(receiver.url, name="Local")
    event = Event.objects.create(event_type="contact.created", data={"id": 1})
    later = timezone.now() + timedelta(minutes=30)
    delivery = Delivery.objects.create(
        webhook=webhook,
        event=event,
        event_type=event.event_type,
        attempt_count=2,
        last_response_status=500,
        last_error="HTTP 500 Internal Server Error",
        next_attempt_at=later,
    )
    page = console.get(delivery.get_absolute_url()).content.decode()
    retry = reverse("webhooks_app:delivery-retry", args=[delivery.pk])
    assert f'action="{retry}"' in page and "Retry now" in page

    response = console.post(retry, follow=True)
    assert f"Retrying delivery #{delivery.pk} now." in text(response.content.decode())
    delivery.refresh_from_db()
    assert delivery.next_attempt_at <= timezone.now() and delivery.attempt_count == 2
    services.delivery_attempt(delivery_id=delivery.pk)  # due now: a worker takes it
    receiver.wait_for(1)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED

    # Finished: no Retry now, and a stale form is refused with a message.
    assert "Retry now" not in console.get(delivery.get_absolute_url()).content.decode()
    refused = console.post(retry, follow=True)
    assert "This delivery has finished; redeliver it" in text(refused.content.decode())


# The error summary and the skip link ------------------------------------------------------------


def test_the_error_summary_links_each_invalid_field(console):
    response = console.post(
        reverse("webhooks_app:webhook-create"), form_data(url="ftp://files.example.com/in", timeout="99")
    )
    html = response.content.decode()
    summary = html[html.index("data-error-summary") : html.index("</div>", html.index("data-error-summary"))]
    assert 'role="alert"' in html[html.rindex("<div", 0, html.index("data-error-summary")) :][:200]
    assert (
        '<a href="#id_url" data-error-link>URL: The URL must start with http:// or https://.</a>' in summary
    )
    assert '<a href="#id_timeout" data-error-link>' in summary
    assert "nothing was saved" in summary
    assert 'id="id_url"' in html and 'id="id_timeout"' in html


def test_every_console_page_starts_with_a_skip_link(console):
    html = console.get(reverse("webhooks_app:webhook-list")).content.decode()
    body = html[html.index("<body") :]
    assert re.search(
        r'<body[^>]*>\s*<a class="[^"]*skip-link" href="#content">Skip to main content</a>', body
    )
    assert 'id="content"' in html

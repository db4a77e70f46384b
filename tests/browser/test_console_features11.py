"""Issue 11 in a real browser: destination choice, payload encryption's key shown once,
the site-wide switch, and the Insight chart with the right numbers."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from webhooks_app import services
from webhooks_app.models import Delivery, Event, Webhook, WebhookSettings

pytestmark = pytest.mark.browser


def row(page, name):
    return page.locator("tr[data-webhook-row]").filter(has_text=name)


def test_create_a_recipient_webhook_without_a_url(page, login):
    login(page, "/settings/webhooks/new/")
    page.get_by_label("Webhook Name").fill("Per contact")
    page.get_by_label("contact.created").check()
    expect(page.get_by_label("The webhook's URL")).to_be_checked()
    page.get_by_label("Recipient's URL").check()
    page.get_by_role("button", name="Create", exact=True).click()

    expect(page.locator("[data-created-card]")).to_contain_text("Webhook “Per contact” created")
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Webhook Settings").click()
    expect(row(page, "Per contact").locator("[data-destination-recipient]")).to_have_text("Recipient's URL")
    webhook = Webhook.objects.get()
    assert webhook.destination == "recipient" and webhook.url == ""

    # Back to the webhook's own URL: the URL is required again, with the model's message.
    row(page, "Per contact").get_by_role("link", name="Edit").click()
    page.get_by_label("The webhook's URL").check()
    page.get_by_role("button", name="Update").click()
    expect(page.locator(".wh-field.has-error")).to_contain_text("required")


def test_encryption_key_is_shown_once_revealed_and_rotated(page, login, receiver):
    login(page, "/settings/webhooks/new/")
    page.get_by_label("Webhook Name").fill("Sealed")
    page.get_by_label("All events").check()
    page.get_by_label("URL", exact=True).fill(receiver.url)
    page.get_by_text("Advanced settings").click()
    page.get_by_label("Payload encryption").select_option("aes-256-gcm")
    page.get_by_role("button", name="Create", exact=True).click()

    webhook = Webhook.objects.get()
    assert webhook.payload_encryption == "aes-256-gcm" and webhook.encryption_key
    card = page.locator("[data-created-card]")
    expect(card).to_contain_text("Payload encryption key (shown this once")
    expect(card.locator("[data-created-encryption-key]")).to_have_text(webhook.encryption_key)
    page.reload()
    expect(page.get_by_text(webhook.encryption_key)).to_have_count(0)  # once

    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Webhook Settings").click()
    row(page, "Sealed").get_by_role("link", name="Edit").click()
    card = page.locator("[data-encryption-card]")
    expect(card).to_contain_text("Payload encryption key")
    expect(card.get_by_text(webhook.encryption_key)).to_have_count(0)
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("[data-encryption-key]")).to_have_text(webhook.encryption_key)

    page.get_by_role("button", name="Rotate encryption key").click()
    expect(page.locator(".wh-flash-success")).to_contain_text("A new payload encryption key was generated")
    old = webhook.encryption_key
    webhook.refresh_from_db()
    assert webhook.encryption_key != old
    expect(page.locator("[data-encryption-key]")).to_have_text(webhook.encryption_key)


def test_the_site_wide_switch_and_its_banner(page, login, make_webhook):
    webhook = make_webhook("https://hooks.example.com/in", name="CRM sync")
    login(page)
    switch = page.get_by_role("switch", name="Send webhooks")
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.locator("[data-sending-off]")).to_have_count(0)

    # Switching off asks first; Cancel changes nothing.
    switch.click()
    expect(page.get_by_role("heading", name="Switch off all webhook sending?")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("switch", name="Send webhooks")).to_have_attribute("aria-checked", "true")
    assert WebhookSettings.load().enabled is True
    page.get_by_role("switch", name="Send webhooks").click()
    page.get_by_role("button", name="Switch off all sending").click()
    expect(page.locator(".wh-flash-warning")).to_contain_text("All webhook sending is off.")
    expect(page.get_by_role("switch", name="Send webhooks")).to_have_attribute("aria-checked", "false")
    assert WebhookSettings.load().enabled is False
    for path in ("", f"{webhook.pk}/", f"{webhook.pk}/deliveries/", "new/"):
        page.goto(page.url.split("/settings/")[0] + f"/settings/webhooks/{path}")
        expect(page.locator("[data-sending-off]")).to_contain_text("All webhook sending is switched off.")

    page.goto(page.url.split("/settings/")[0] + "/settings/webhooks/")
    page.get_by_role("switch", name="Send webhooks").click()
    expect(page.locator(".wh-flash-success")).to_contain_text("Webhooks are on")
    expect(page.locator("[data-sending-off]")).to_have_count(0)
    assert WebhookSettings.load().enabled is True


def add(webhook, status, *, age, ms):
    event = Event.objects.create(event_type="contact.updated", data={"id": 1})
    delivery = Delivery.objects.create(
        webhook=webhook,
        event=event,
        event_type="contact.updated",
        url=webhook.url,
        status=status,
        attempt_count=0 if status == "pending" else 1,
        last_response_status={"succeeded": 200, "failed": 500}.get(status),
        last_duration_ms=None if status == "pending" else ms,
    )
    Delivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - age)


def test_the_chart_shows_the_known_deliveries(page, login, live_server, screenshot):
    webhook = services.webhook_create(name="CRM sync", events=["*"], url="https://crm.example.com/hooks/acme")
    # Now: 4 succeeded (10, 20, 50, 100 ms), 1 failed (200 ms), 1 pending; 5 hours ago 2 failed.
    for ms in (10, 20, 50, 100):
        add(webhook, "succeeded", age=timedelta(seconds=1), ms=ms)
    add(webhook, "failed", age=timedelta(seconds=1), ms=200)
    add(webhook, "pending", age=timedelta(seconds=1), ms=None)
    add(webhook, "failed", age=timedelta(hours=5), ms=50)
    add(webhook, "failed", age=timedelta(hours=5), ms=50)

    login(page, f"/settings/webhooks/{webhook.pk}/")
    chart = page.locator("[data-insight]")
    expect(chart.locator("[data-success-rate]")).to_have_text("57.1%")  # 4 of 7 finished
    expect(chart.locator('[data-count="succeeded"]')).to_have_text("4")
    expect(chart.locator('[data-count="failed"]')).to_have_text("3")
    expect(chart.locator('[data-count="pending"]')).to_have_text("1")
    expect(chart.locator('[data-latency="p50"]')).to_have_text("50 ms")
    expect(chart.locator('[data-latency="p95"]')).to_have_text("200 ms")
    expect(chart.locator("svg[data-chart] rect")).to_have_count(4)  # two stacked bars: 3 + 1
    expect(chart.locator("figcaption")).to_contain_text(
        "In the last 24 hours: 4 succeeded, 3 failed, 1 pending"
    )
    chart.get_by_text("Show as a table").click()
    expect(chart.locator("tbody tr")).to_have_count(24)
    expect(chart.locator("tbody tr").last).to_contain_text("4")

    chart.get_by_role("link", name="Last 7 days").click()
    expect(page.locator("[data-insight]")).to_have_attribute("data-period", "7d")
    expect(page.locator("[data-insight] tbody tr")).to_have_count(28)

    page.goto(live_server.url + "/settings/webhooks/")
    expect(row(page, "CRM sync").locator("svg[data-sparkline] rect")).to_have_count(4)
    expect(row(page, "CRM sync")).to_contain_text("4 of 7 delivered")


def test_chart_readable_without_javascript(new_page, login, live_server):
    webhook = services.webhook_create(name="Quiet", events=["*"], url="https://quiet.example.com/in")
    add(webhook, "succeeded", age=timedelta(minutes=1), ms=12)
    page = new_page(java_script_enabled=False)
    login(page, f"/settings/webhooks/{webhook.pk}/")
    expect(page.locator("[data-insight] figcaption")).to_contain_text("1 succeeded, 0 failed, 0 pending")
    expect(page.locator('[data-insight] [data-latency="p50"]')).to_have_text("12 ms")


def seed_insight_screenshot():
    """A week of a busy webhook's deliveries, for the chart screenshots of docs/delivery.md."""
    rng = random.Random(11)
    crm = services.webhook_create(name="CRM sync", events=["*"], url="https://crm.example.com/hooks/acme")
    lists = services.webhook_create(
        name="Mailing list", events=["*"], url="https://lists.example.org/api/webhooks/incoming"
    )
    services.webhook_create(name="Per contact", events=["contact.*"], url="", destination="recipient")
    now = timezone.now()
    rows = []
    events = Event.objects.bulk_create(
        [Event(event_type="contact.updated", data={"id": i}) for i in range(1200)]
    )
    for i, event in enumerate(events):
        hours = rng.random() ** 1.6 * 160
        outage = 30 < hours < 34
        status = "failed" if outage or rng.random() < 0.02 else "succeeded"
        if hours < 0.2 and rng.random() < 0.3:
            status = "pending"
        webhook = crm if i % 3 else lists
        rows.append(
            (
                Delivery(
                    webhook=webhook,
                    event=event,
                    event_type="contact.updated",
                    url=webhook.url,
                    status=status,
                    attempt_count=6 if status == "failed" else 1,
                    last_duration_ms=None if status == "pending" else int(40 + rng.expovariate(1 / 80)),
                ),
                now - timedelta(hours=hours),
            )
        )
    Delivery.objects.bulk_create([d for d, _ in rows])
    for delivery, created in rows:
        Delivery.objects.filter(pk=delivery.pk).update(created_at=created)
    return crm


def test_insight_screenshots(page, login, live_server, screenshot):
    crm = seed_insight_screenshot()
    login(page)
    expect(row(page, "CRM sync").locator("svg[data-sparkline]")).to_be_visible()
    screenshot(page, "console-list-insight.png")
    page.goto(f"{live_server.url}/settings/webhooks/{crm.pk}/")
    expect(page.locator("[data-insight]")).to_be_visible()
    screenshot(page, "console-insight-24h.png")
    page.get_by_role("link", name="Last 7 days").click()
    expect(page.locator("[data-insight]")).to_have_attribute("data-period", "7d")
    screenshot(page, "console-insight-7d.png")

"""The console in a real browser: the whole flow an admin follows, as in the docs."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from webhooks_app import services
from webhooks_app.models import Attempt, Delivery, Event, Webhook

pytestmark = pytest.mark.browser


def field(page, label):
    """The whole block of a form field (label, control, errors, help) by its label."""
    return page.locator(".wh-field").filter(has=page.get_by_label(label, exact=True))


def row(page, name):
    return page.locator("tr[data-webhook-row]").filter(has_text=name)


def test_create_toggle_edit_test_redeliver_delete(page, login, receiver, screenshot):
    login(page)

    # Settings -> Webhook Settings -> Create Webhook
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Webhook Settings").click()
    expect(page.get_by_role("heading", name="No webhooks yet")).to_be_visible()
    page.get_by_role("link", name="Create Webhook").first.click()
    expect(page.get_by_role("heading", name="Create Webhook")).to_be_visible()

    page.get_by_label("Webhook Name").fill("CRM sync")
    page.get_by_label("contact.created").check()
    page.get_by_label("contact.accepts_email.changed").check()
    expect(page.get_by_label("Notification Type")).to_have_value("REST")
    page.get_by_label("URL", exact=True).fill(receiver.url)
    page.get_by_label("API Key", exact=True).fill("crm-api-key-1234")
    page.get_by_role("button", name="Create", exact=True).click()

    # Create lands on the webhook page, the secret shown once with a Copy button.
    card = page.locator("[data-created-card]")
    expect(card).to_contain_text("Webhook “CRM sync” created")
    expect(card.locator("[data-created-secret]")).to_have_text(Webhook.objects.get().secret)
    expect(card.get_by_role("button", name="Send test event")).to_be_visible()
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Webhook Settings").click()
    crm = row(page, "CRM sync")
    expect(crm).to_contain_text(receiver.url)
    expect(crm).to_contain_text("contact.accepts_email.changed")
    expect(crm).to_contain_text("REST")
    expect(crm).to_contain_text("No deliveries yet")
    webhook = Webhook.objects.get()
    assert webhook.events == ["contact.accepts_email.changed", "contact.created"]
    assert webhook.api_key == "crm-api-key-1234"

    # Toggle off and on, in place.
    switch = page.get_by_role("switch", name="Enabled: CRM sync")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(page.locator(".wh-flash-success")).to_contain_text("Webhook “CRM sync” disabled.")
    assert Webhook.objects.get().enabled is False
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.locator(".wh-flash-success")).to_contain_text("Webhook “CRM sync” enabled.")
    assert Webhook.objects.get().enabled is True

    # Edit -> Update; the API key is not shown back.
    crm.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("API Key", exact=True)).to_have_value("")
    expect(page.get_by_text("A key ending in 1234 is stored.")).to_be_visible()
    page.get_by_label("Webhook Name").fill("CRM sync v2")
    page.get_by_label("contact.deleted").check()
    page.get_by_role("button", name="Update").click()
    expect(page.locator(".wh-flash-success")).to_contain_text("Webhook “CRM sync v2” updated.")
    expect(row(page, "CRM sync v2")).to_contain_text("+1 more")
    webhook.refresh_from_db()
    assert webhook.name == "CRM sync v2" and webhook.api_key == "crm-api-key-1234"

    # Send test event -> the receiver gets it; the outcome and the Deliveries page show it.
    row(page, "CRM sync v2").get_by_role("link", name="Deliveries").click()
    expect(page.get_by_role("heading", name="No deliveries yet")).to_be_visible()
    page.get_by_role("button", name="Send test event").click()
    expect(page.locator(".wh-flash-success")).to_contain_text(
        "Test event delivered: the receiver answered HTTP 200"
    )
    first = receiver.wait_for(1)[0]
    assert first.headers["X-Webhook-Event"] == "webhook.test"
    assert first.verify(webhook.secret)["data"]["webhook"]["name"] == "CRM sync v2"
    expect(page.get_by_role("region", name="Attempt 1")).to_contain_text("HTTP 200")

    page.get_by_role("link", name="All deliveries").click()
    delivery_row = page.locator("tr[data-delivery-row]")
    expect(delivery_row).to_have_count(1)
    expect(delivery_row).to_contain_text("webhook.test")
    expect(delivery_row).to_contain_text("Succeeded")
    expect(delivery_row).to_contain_text("200")

    # Redeliver: a new delivery of the same event, same webhook-id.
    delivery_row.get_by_role("link", name="View").click()
    page.get_by_role("button", name="Redeliver").click()
    expect(page.locator(".wh-flash-success")).to_contain_text("Redelivery of event")
    second = receiver.wait_for(2)[1]
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    page.get_by_role("link", name="All deliveries").click()
    expect(page.locator("tr[data-delivery-row]")).to_have_count(2)

    # Delete -> confirm -> gone.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="CRM sync v2").click()
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_text("This removes the webhook and its delivery log: 2 deliveries")).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".wh-flash-success")).to_contain_text("and its delivery log were deleted")
    expect(page.get_by_role("heading", name="No webhooks yet")).to_be_visible()
    assert not Webhook.objects.exists() and not Delivery.objects.exists()


def test_bad_url_shows_the_message_next_to_the_field(page, login):
    login(page, "/settings/webhooks/new/")
    page.get_by_label("Webhook Name").fill("Files")
    page.get_by_label("All events").check()
    page.get_by_label("URL", exact=True).fill("ftp://files.example.com/in")
    page.get_by_role("button", name="Create", exact=True).click()

    url_field = field(page, "URL")
    expect(url_field.locator(".wh-errors")).to_contain_text("The URL must start with http:// or https://.")
    expect(field(page, "Webhook Name").locator(".wh-errors")).to_have_count(0)
    expect(page.get_by_role("alert")).to_contain_text("nothing was saved")
    expect(page.get_by_label("Webhook Name")).to_have_value("Files")
    expect(page.get_by_label("All events")).to_be_checked()
    assert not Webhook.objects.exists()


def test_toggle_works_without_javascript(new_page, login, live_server):
    webhook = services.webhook_create(name="No script", events=["*"], url="https://example.com/in")
    page = login(new_page(java_script_enabled=False))
    page.get_by_role("switch", name="Enabled: No script").click()
    page.wait_for_load_state()
    expect(page.locator(".wh-flash-success")).to_contain_text("Webhook “No script” disabled.")
    expect(page.get_by_role("switch", name="Enabled: No script")).to_have_attribute("aria-checked", "false")
    webhook.refresh_from_db()
    assert webhook.enabled is False and webhook.disabled_reason == "Disabled by a user."


def test_reveal_and_rotate_secret(page, login):
    webhook = services.webhook_create(name="Signed", events=["*"], url="https://example.com/in")
    login(page, f"/settings/webhooks/{webhook.pk}/")
    expect(page.get_by_text(webhook.secret)).to_have_count(0)
    page.get_by_role("button", name="Reveal").click()
    expect(page.locator("[data-secret]")).to_have_text(webhook.secret)

    page.get_by_role("link", name="Rotate secret").click()
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.locator(".wh-flash-success")).to_contain_text("A new signing secret was generated.")
    old = webhook.secret
    webhook.refresh_from_db()
    assert webhook.secret != old and webhook.previous_secret == old


def seed_screenshot_data():
    """Three webhooks with a day of deliveries, for screenshots that look like real use."""
    crm = services.webhook_create(
        name="CRM sync",
        description="Pushes contact changes to the CRM.",
        events=["contact.created", "contact.updated", "contact.deleted", "contact.accepts_email.changed"],
        url="https://crm.example.com/hooks/acme",
        api_key="crm-key-5678",
    )
    services.webhook_create(
        name="Mailing list", events=["*"], url="https://lists.example.org/api/webhooks/incoming"
    )
    erp = services.webhook_create(
        name="Legacy ERP", events=["contact.deleted"], url="https://erp.example.net/in"
    )
    services.webhook_set_enabled(webhook=erp, enabled=False)
    plan = [
        ("contact.updated", "succeeded", 200, 84),
        ("contact.created", "succeeded", 201, 112),
        ("contact.accepts_email.changed", "pending", 503, 3012),
        ("contact.updated", "succeeded", 200, 95),
        ("contact.deleted", "failed", 500, 230),
        ("contact.created", "succeeded", 200, 77),
        ("webhook.test", "succeeded", 200, 64),
        ("contact.updated", "succeeded", 204, 58),
    ]
    now = timezone.now()
    for minutes, (event_type, status, code, ms) in enumerate(plan):
        event = Event.objects.create(
            event_type=event_type, data={"id": 40 + minutes}, context={"actor": "admin"}
        )
        attempts = {"failed": 6, "pending": 2}.get(status, 1)
        delivery = Delivery.objects.create(
            webhook=crm,
            event=event,
            event_type=event_type,
            status=status,
            attempt_count=attempts,
            last_response_status=code,
            last_duration_ms=ms,
            completed_at=None if status == "pending" else now,
            next_attempt_at=now + timedelta(minutes=4) if status == "pending" else None,
        )
        Delivery.objects.filter(pk=delivery.pk).update(created_at=now - timedelta(minutes=7 * minutes + 1))
        Attempt.objects.create(
            delivery=delivery, number=1, request_url=crm.url, response_status=code, duration_ms=ms
        )
    return crm


def test_screenshots(page, login, screenshot, live_server):
    crm = seed_screenshot_data()
    login(page)
    expect(row(page, "CRM sync")).to_contain_text("86%")  # 6 of the 7 finished deliveries
    expect(row(page, "Legacy ERP")).to_contain_text("Disabled by a user.")
    screenshot(page, "console-list.png")

    page.get_by_role("link", name="Create Webhook").first.click()
    page.get_by_label("Webhook Name").fill("Support desk")
    page.get_by_label("contact.created").check()
    page.get_by_label("contact.updated").check()
    page.get_by_label("URL", exact=True).fill("https://support.example.com/webhooks/crm")
    page.get_by_label("API Key", exact=True).fill("support-key")
    screenshot(page, "console-form.png", whole_page=True)

    page.goto(f"{live_server.url}/settings/webhooks/{crm.pk}/deliveries/")
    expect(page.locator("tr[data-delivery-row]")).to_have_count(8)
    expect(page.locator("tr[data-delivery-row]").first).to_contain_text("contact.updated")
    screenshot(page, "console-deliveries.png", whole_page=True)
    assert re.search(r"\bFailed\b", page.locator("tbody").inner_text())

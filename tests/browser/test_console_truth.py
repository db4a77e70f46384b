"""Issue 21 in Chromium: the console tells the truth at a glance.

States from the data (a failing endpoint reads Failing and Retrying, with a relative time in
seconds that counts down), flows that end where the user is, confirmations, copy buttons, the
log across all webhooks and the token page; against real local receivers.
"""

import re

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from playwright.sync_api import expect

from tests.receiver import Reply
from webhooks_app import emit, services
from webhooks_app.models import Delivery

pytestmark = pytest.mark.browser

SCHEDULE = {**settings.WEBHOOKS, "RETRY_SCHEDULE": [5, 40, 300, 900, 1800], "RETRY_JITTER": 0}


def try_now(delivery_id: int) -> None:
    Delivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())
    services.delivery_attempt(delivery_id=delivery_id)


def row(page, name):
    return page.locator("tr[data-webhook-row]").filter(has_text=name)


@override_settings(WEBHOOKS=SCHEDULE)
def test_a_failing_endpoint_reads_failing_and_retrying_in_seconds(page, login, receiver, make_webhook):
    receiver.default = Reply(status=500, body=b"down")
    webhook = make_webhook(receiver.url, name="Broken CRM")
    for n in range(3):
        emit("contact.created", data={"id": n})
    # The first try may already have run when the emit committed (the test cluster is sync).
    for delivery in Delivery.objects.all():
        while Delivery.objects.get(pk=delivery.pk).attempt_count < 2:
            try_now(delivery.pk)

    login(page)
    broken = row(page, "Broken CRM")
    expect(broken.locator("[data-health]")).to_contain_text("Failing")
    expect(broken.locator("[data-health]")).to_contain_text("3 consecutive failures")
    state = broken.locator("[data-delivery-state]")
    expect(state).to_contain_text("Retrying")
    expect(state).to_contain_text("attempt 3 of 6")
    countdown = state.locator("time[data-relative]")
    expect(countdown).to_have_text(re.compile(r"^in \d\d? s$"))
    first = int(re.search(r"\d+", countdown.inner_text()).group())
    # The browser counts down by itself, to the second.
    expect(countdown).not_to_have_text(f"in {first} s", timeout=3000)
    assert int(re.search(r"\d+", countdown.inner_text()).group()) < first
    expect(broken).not_to_contain_text("Pending")

    page.goto(page.url + f"{webhook.pk}/deliveries/")
    expect(page.locator("[data-delivery-state=retrying]")).to_have_count(3)
    expect(page.locator("[data-health]").first).to_contain_text("Failing")


def test_a_test_events_answer_shows_as_soon_as_the_receiver_gives_it(page, login, receiver, make_webhook):
    import time

    from webhooks_app.models import Event

    webhook = make_webhook(receiver.url, name="Local")
    # A test event not yet picked up by a worker (as with a real cluster a moment after the click).
    event = Event.objects.create(event_type="webhook.test", data={"message": "This is a test event."})
    delivery = Delivery.objects.create(
        webhook=webhook, event=event, event_type=event.event_type, next_attempt_at=timezone.now()
    )
    login(page, f"/settings/webhooks/deliveries/{delivery.pk}/?test=1")
    outcome = page.locator("[data-test-outcome]")
    expect(outcome).to_contain_text("Test event queued")
    # Well into the page's life, so that the poll's first quick rounds are over.
    page.wait_for_timeout(1500)
    try_now(delivery.pk)
    answered = time.monotonic()
    expect(outcome).to_contain_text("Test event delivered: the receiver answered HTTP 200", timeout=4000)
    assert time.monotonic() - answered < 4
    expect(page.get_by_text("Test event queued")).to_have_count(0)
    expect(page.locator("[data-live-delivery]")).to_have_count(0)


def test_redeliver_all_failed_says_the_count_and_asks(page, login, make_webhook):
    from tests.test_console_views import add_delivery

    webhook = make_webhook("https://crm.example.com/in", name="CRM")
    for _ in range(2):
        add_delivery(webhook, status=Delivery.Status.FAILED)
    login(page, f"/settings/webhooks/{webhook.pk}/deliveries/")
    page.get_by_role("button", name="Redeliver all failed").click()
    confirm = page.locator("[data-confirm-redeliver]")
    expect(confirm).to_contain_text("2 deliveries failed since")
    assert Delivery.objects.count() == 2
    page.get_by_role("button", name="Redeliver 2 deliveries").click()
    expect(page.locator(".wh-flash-success")).to_contain_text("Redelivering 2 failed deliveries")
    assert Delivery.objects.count() == 4

    # Disabled: refused, with Enable on the same page.
    services.webhook_disable(webhook=webhook, reason="The receiver answered 410 Gone.")
    add_delivery(webhook, status=Delivery.Status.FAILED)
    page.get_by_role("button", name="Redeliver all failed").click()
    expect(page.locator("[data-redeliver-refused]")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Redeliver \\d"))).to_have_count(0)
    page.locator("[data-enable-form]").get_by_role("button", name="Enable").click()
    expect(page.get_by_role("button", name="Redeliver 1 delivery")).to_be_visible()


def test_copy_buttons_put_the_right_text_on_the_clipboard(new_page, login, receiver, make_webhook):
    webhook = make_webhook(receiver.url, name="Local")
    emit("contact.created", data={"id": 1})
    delivery = Delivery.objects.get()
    while Delivery.objects.get(pk=delivery.pk).attempt_count < 1:
        try_now(delivery.pk)
    receiver.wait_for(1)
    delivery.refresh_from_db()
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    login(page, f"/settings/webhooks/deliveries/{delivery.pk}/")

    def clipboard():
        return page.evaluate("navigator.clipboard.readText()")

    page.get_by_role("button", name="Copy the event id").click()
    expect(page.get_by_role("button", name="Copy the event id")).to_have_text("Copied")
    assert clipboard() == delivery.event_id
    page.get_by_role("button", name="Copy the URL").click()
    expect(page.get_by_role("button", name="Copy the URL")).to_have_text("Copied")
    assert clipboard() == webhook.url
    page.get_by_role("button", name="Copy the payload").click()
    expect(page.get_by_role("button", name="Copy the payload")).to_have_text("Copied")
    assert f'"id": "{delivery.event_id}"' in clipboard()
    page.get_by_role("button", name="Copy attempt 1 as curl").click()
    expect(page.get_by_role("button", name="Copy attempt 1 as curl")).to_have_text("Copied")
    curl = clipboard()
    assert curl.startswith("curl -X POST " + webhook.url)
    assert "-H 'webhook-signature: v1," in curl and f"-H 'webhook-id: {delivery.event_id}'" in curl


def test_the_log_across_webhooks_finds_an_event_by_the_beginning_of_its_id(page, login, make_webhook):
    from tests.test_console_views import add_delivery

    crm = make_webhook("https://crm.example.com/in", name="CRM")
    erp = make_webhook("https://erp.example.com/in", name="ERP")
    wanted = add_delivery(erp, status=Delivery.Status.FAILED)
    for _ in range(3):
        add_delivery(crm, status=Delivery.Status.SUCCEEDED)
    login(page)
    page.get_by_role("navigation", name="Webhook Settings").get_by_role("link", name="Deliveries").click()
    expect(page.locator("tr[data-delivery-row]")).to_have_count(4)
    search = page.get_by_placeholder("Event id or its beginning (evt_…)")
    search.fill(wanted.event_id[:9])
    search.press("Enter")
    rows = page.locator("tr[data-delivery-row]")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(wanted.event_id)
    expect(rows).to_contain_text("ERP")
    expect(rows.locator("[data-delivery-state]")).to_contain_text("Failed")
    page.get_by_role("link", name="Last hour").click()
    expect(rows).to_have_count(1)
    assert "period=1h" in page.url and "event_id=" in page.url


def test_a_staff_user_creates_copies_and_revokes_their_api_token(new_page, login, admin_user, live_server):
    from rest_framework.authtoken.models import Token

    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    login(page)
    page.get_by_role("navigation", name="Webhook Settings").get_by_role("link", name="API token").click()
    expect(page.locator("[data-token-state]")).to_have_text("You have no API token.")
    page.get_by_role("button", name="Create a token").click()
    key = Token.objects.get(user=admin_user).key
    expect(page.locator("[data-token-key]")).to_have_text(key)
    page.get_by_role("button", name="Copy the token").click()
    expect(page.get_by_role("button", name="Copy the token")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == key
    page.goto(live_server.url + "/settings/webhooks/token/")
    expect(page.get_by_text(key)).to_have_count(0)
    expect(page.locator("[data-token-state]")).to_contain_text(f"ending in {key[-4:]}")
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator(".wh-flash-success")).to_contain_text("revoked")
    assert not Token.objects.exists()


def test_the_api_docs_link_sends_a_fresh_browser_to_the_login_page(page, live_server, admin_user):
    from tests.browser.conftest import PASSWORD

    page.goto(live_server.url + "/api/docs/")
    expect(page.locator("#id_username")).to_be_visible()
    page.locator("#id_username").fill(admin_user.username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password").press("Enter")
    page.wait_for_url("**/api/docs/")


def test_the_error_summary_lists_links_and_takes_the_focus(page, login):
    login(page, "/settings/webhooks/new/")
    page.get_by_label("Webhook Name").fill("Files")
    page.get_by_label("URL", exact=True).fill("ftp://files.example.com/in")
    page.locator("details.wh-advanced > summary").click()
    page.get_by_label("Timeout").fill("99")
    page.locator("details.wh-advanced > summary").click()  # closed again before the submit
    page.get_by_role("button", name="Create", exact=True).click()

    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    links = summary.locator("a[data-error-link]")
    expect(links).to_have_count(3)  # events, URL, timeout
    summary.get_by_role("link", name=re.compile("^URL: ")).click()
    expect(page.locator("#id_url")).to_be_focused()
    summary.get_by_role("link", name=re.compile("^Webhook Events: ")).click()
    expect(page.locator("#id_events input[type=checkbox]").first).to_be_focused()
    summary.get_by_role("link", name=re.compile("^Timeout")).click()
    expect(page.locator("#id_timeout")).to_be_focused()


def test_a_skip_link_leads_to_the_content(page, login):
    login(page)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box["width"] >= 24 and box["height"] >= 24 and box["y"] >= 0  # visible once focused
    page.keyboard.press("Enter")
    expect(page.locator("main#content")).to_be_focused()


def test_screenshots_of_the_new_pages(page, login, live_server, screenshot):
    from tests.browser.test_console_flow import seed_screenshot_data

    crm = seed_screenshot_data()
    login(page, "/settings/webhooks/deliveries/")
    expect(page.locator("tr[data-delivery-row]")).to_have_count(8)
    screenshot(page, "console-log.png", whole_page=True)
    failed = Delivery.objects.filter(webhook=crm, status="failed").first()
    page.goto(f"{live_server.url}/settings/webhooks/deliveries/{failed.pk}/")
    expect(page.get_by_role("button", name="Copy the event id")).to_be_visible()
    screenshot(page, "console-delivery.png", whole_page=True)

    page.goto(f"{live_server.url}/settings/webhooks/new/")
    page.get_by_label("Webhook Name").fill("Support desk")
    page.get_by_label("contact.created").check()
    page.get_by_label("URL", exact=True).fill("https://support.example.com/webhooks/crm")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("[data-created-card]")).to_be_visible()
    screenshot(page, "console-created.png")

"""Issue 10 in Chromium: the picker's resource groups, the header rows, the filter editor and
"Test filters", a chosen secret, a delivery updated in place, and an axe-core audit of every
console page (no serious or critical violation)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from webhooks_app import services
from webhooks_app.models import Attempt, Delivery, Event, Webhook

pytestmark = pytest.mark.browser


def advanced(page):
    page.locator("details.wh-advanced > summary").click()


def test_resource_group_box_covers_its_events(page, login, live_server):
    login(page, "/settings/webhooks/new/")
    group_all = page.get_by_label("All contact events")
    single = page.get_by_label("contact.created")
    group = page.locator("[data-event-group]").filter(has=group_all)
    expect(group).not_to_have_class("is-group-all")
    group_all.check()
    expect(group).to_have_class("wh-event-group is-group-all")
    assert float(single.evaluate("e => getComputedStyle(e).opacity")) < 0.6
    page.get_by_label("Webhook Name").fill("Contacts")
    page.get_by_label("URL", exact=True).fill("https://example.com/hook")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("[data-created-card]")).to_contain_text("created")
    assert Webhook.objects.get().events == ["contact.*"]


def test_headers_editor_filter_editor_and_chosen_secret(page, login, live_server):
    login(page, "/settings/webhooks/new/")
    page.get_by_label("Webhook Name").fill("Tenant hook")
    page.get_by_label("contact.created").check()
    page.get_by_label("URL", exact=True).fill("https://example.com/hook")
    advanced(page)

    # Header rows: two blank rows to start, one more added, one removed.
    page.get_by_label("Header name 1").fill("X-Tenant")
    page.get_by_label("Header value 1").fill("acme")
    page.get_by_label("Header name 2").fill("X-Drop")
    page.get_by_role("button", name="Add header").click()
    page.get_by_label("Header name 3").fill("X-Region")
    page.get_by_label("Header value 3").fill("eu")
    page.locator("[data-header-row]").nth(1).get_by_role("button", name="Remove").click()
    expect(page.locator("[data-header-row]")).to_have_count(2)

    # Filter rows write the JSON a power user may still edit.
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field", exact=True).fill("address.country")
    page.get_by_label("Condition", exact=True).select_option("$in")
    page.get_by_label("Value", exact=True).fill("SE, NO")
    textarea = page.locator("#id_filters")
    expect(textarea).to_have_value(json.dumps({"address.country": {"$in": ["SE", "NO"]}}, indent=2))

    page.get_by_label("Signing secret").fill("a-secret-of-my-own-1234")
    page.get_by_label("Topic prefix").fill("acme.")
    page.get_by_label("Secret hash header").fill("X-Secret-Hash")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("[data-created-card]")).to_contain_text("created")
    hook = Webhook.objects.get()
    assert hook.headers == {"X-Tenant": "acme", "X-Region": "eu"}
    assert hook.filters == {"address.country": {"$in": ["SE", "NO"]}}
    assert hook.secret == "a-secret-of-my-own-1234"
    assert (hook.topic_prefix, hook.secret_hash_header) == ("acme.", "X-Secret-Hash")

    # Editing: the stored rows come back as rows, values masked, and the JSON as rows.
    page.goto(f"{live_server.url}/settings/webhooks/{hook.pk}/")
    advanced(page)
    expect(page.get_by_label("Header name 1")).to_have_value("X-Region")
    expect(page.get_by_label("Header value 1")).to_have_value("")
    assert "\u2022" in page.get_by_label("Header value 1").get_attribute("placeholder")
    expect(page.get_by_label("Field", exact=True)).to_have_value("address.country")
    expect(page.get_by_label("Value", exact=True)).to_have_value("SE, NO")


def test_test_filters_reports_which_events_would_have_been_sent(page, login, live_server):
    hook = services.webhook_create(name="Log", url="https://example.com/h", events=["*"])
    for country in ("SE", "DK"):
        event = Event.objects.create(event_type="contact.created", data={"address": {"country": country}})
        Delivery.objects.create(webhook=hook, event=event, event_type=event.event_type)
    login(page, "/settings/webhooks/new/")
    page.get_by_label("contact.created").check()
    advanced(page)
    page.locator("#id_filters").fill('{"address.country": "SE"}')
    page.locator("#id_filters").dispatch_event("change")
    expect(page.get_by_label("Field", exact=True)).to_have_value("address.country")
    page.get_by_role("button", name="Test filters").click()
    result = page.locator("[data-filter-result]")
    expect(result).to_contain_text("1 would have been sent and 1 filtered out")
    expect(result.locator(".is-sent")).to_have_count(1)


def test_the_editors_work_without_javascript(new_page, login, live_server):
    page = new_page(java_script_enabled=False)
    login(page, "/settings/webhooks/new/")
    page.get_by_label("Webhook Name").fill("No script")
    page.get_by_label("contact.created").check()
    page.get_by_label("URL", exact=True).fill("https://example.com/hook")
    advanced(page)
    expect(page.get_by_role("button", name="Add header")).to_be_hidden()
    page.get_by_label("Header name 1").fill("X-Tenant")
    page.get_by_label("Header value 1").fill("acme")
    page.locator("#id_filters").fill('{"accepts_email": true}')
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("[data-created-card]")).to_contain_text("created")
    hook = Webhook.objects.get()
    assert hook.headers == {"X-Tenant": "acme"} and hook.filters == {"accepts_email": True}


def test_a_delivery_in_progress_updates_in_place(page, login, live_server):
    hook = services.webhook_create(name="Slow", url="https://example.com/h", events=["*"])
    event = Event.objects.create(event_type="contact.created", data={"id": 1})
    delivery = Delivery.objects.create(
        webhook=hook,
        event=event,
        event_type=event.event_type,
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=30))
    login(page, f"/settings/webhooks/deliveries/{delivery.pk}/")
    expect(page.locator("[data-live-delivery]")).to_be_visible()
    page.evaluate("window.__notReloaded = true")
    Attempt.objects.create(
        delivery=delivery, number=1, request_url=hook.url, response_status=200, duration_ms=5
    )
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SUCCEEDED,
        attempt_count=1,
        last_response_status=200,
        completed_at=timezone.now(),
    )
    expect(page.locator("[data-live-status]")).to_contain_text("succeeded", timeout=15_000)
    expect(page.locator("[data-live-delivery]")).to_have_count(0)
    expect(page.get_by_role("heading", name="Attempt 1")).to_be_visible()
    assert page.evaluate("window.__notReloaded") is True


# axe-core -------------------------------------------------------------------------


def axe_problems(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:5]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_every_console_page_passes_axe_core(page, login, live_server, make_webhook):
    hook = services.webhook_create(
        name="Audited",
        url="https://example.com/h",
        events=["contact.*"],
        headers={"X-Tenant": "acme"},
        filters={"accepts_email": True},
    )
    services.webhook_secret_rotate(webhook=hook)  # the rotation notice is on the page
    event = Event.objects.create(event_type="contact.created", data={"id": 1})
    done = Delivery.objects.create(
        webhook=hook,
        event=event,
        event_type=event.event_type,
        status=Delivery.Status.FAILED,
        attempt_count=1,
        last_response_status=500,
        completed_at=timezone.now(),
    )
    Attempt.objects.create(
        delivery=done,
        number=1,
        request_url=hook.url,
        request_headers={"Content-Type": "application/json"},
        request_body="{}",
        response_status=500,
        response_body="boom",
        duration_ms=5,
    )
    pending = Delivery.objects.create(
        webhook=hook,
        event=event,
        event_type=event.event_type,
        next_attempt_at=timezone.now() + timedelta(seconds=20),
    )
    base = "/settings/webhooks/"
    pages = [
        base,
        f"{base}?q=nothing-matches",
        f"{base}new/",
        f"{base}{hook.pk}/",
        f"{base}{hook.pk}/delete/",
        f"{base}{hook.pk}/secret/rotate/",
        f"{base}{hook.pk}/deliveries/",
        f"{base}{hook.pk}/deliveries/?status=failed&event_id=nothing",
        f"{base}deliveries/{done.pk}/",
        f"{base}deliveries/{pending.pk}/",
    ]
    login(page, base)
    problems = {}
    for path in pages:
        page.goto(live_server.url + path)
        if path == f"{base}{hook.pk}/":
            page.locator("details.wh-advanced > summary").click()
        found = axe_problems(page)
        if found:
            problems[path] = found
    # The form with its errors shown.
    page.goto(live_server.url + f"{base}new/")
    page.get_by_role("button", name="Create", exact=True).click()
    found = axe_problems(page)
    if found:
        problems["new/ with errors"] = found
    assert problems == {}, json.dumps(problems, indent=2)

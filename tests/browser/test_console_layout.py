"""Issue 21: the console's layouts hold at 1440, 1024 and 390 px, in English and in Swedish.

Measured with bounding boxes, not screenshots: no card wider than its content box or the page,
every action (button, icon button, switch) visible, inside what clips it, at least 24 x 24 px
(WCAG 2.2 target size) and overlapping no other action; on a phone a delivery's attempts are
collapsed except the last. axe-core stays clean at 390 px.
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.browser.test_console_features10 import axe_problems
from tests.browser.test_console_flow import seed_screenshot_data
from webhooks_app import services
from webhooks_app.models import Attempt, Delivery, Event

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": 1440, "laptop": 1024, "phone": 390}
LANGUAGES = {"en": "en-US", "sv": "sv-SE"}

# Runs in the page: every problem of the layout, as text.
MEASURE = """
() => {
  const vw = document.documentElement.clientWidth;
  const problems = [];
  const name = (el) => {
    const label = el.getAttribute("aria-label") || el.textContent.trim().replace(/\\s+/g, " ").slice(0, 40);
    return `${el.tagName.toLowerCase()}.${[...el.classList].join(".")} "${label}"`;
  };
  const shown = (el) => {
    if (el.closest("[hidden], .wh-sr, details:not([open]) > :not(summary)")) return false;
    const style = getComputedStyle(el);
    return style.display !== "none" && style.visibility !== "hidden" && el.getClientRects().length > 0;
  };
  if (document.documentElement.scrollWidth > vw + 1) {
    problems.push(`the page is ${document.documentElement.scrollWidth} px wide in a ${vw} px window`);
  }
  const main = document.querySelector("main") || document.body;
  for (const card of main.querySelectorAll(".wh-card, .wh-banner, .wh-flash, .wh-tabs, .wh-toolbar")) {
    if (!shown(card)) continue;
    if (card.scrollWidth > card.clientWidth + 1) {
      problems.push(`${name(card)}: content ${card.scrollWidth} px wide in ${card.clientWidth} px`);
    }
    const box = card.getBoundingClientRect();
    if (box.left < -1 || box.right > vw + 1) problems.push(`${name(card)} reaches ${box.left}..${box.right}`);
  }
  const actions = [...main.querySelectorAll(
    ".wh-btn, .wh-icon-btn, button, [role=switch], summary, a.wh-nav-item, a.wh-tab"
  )].filter(shown);
  const boxes = [];
  for (const el of actions) {
    const box = el.getBoundingClientRect();
    if (box.width < 24 || box.height < 24) {
      problems.push(`${name(el)} is ${box.width.toFixed(1)} x ${box.height.toFixed(1)} px`);
    }
    if (box.left < -1 || box.right > vw + 1) problems.push(`${name(el)} is off-screen (${box.left}..${box.right})`);
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (style.overflowX !== "visible" || style.overflowY !== "visible") {
        const clip = up.getBoundingClientRect();
        if (box.left < clip.left - 1 || box.right > clip.right + 1) {
          problems.push(`${name(el)} is cut off by ${name(up)}`);
        }
        break;
      }
    }
    boxes.push([el, box]);
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, p] = boxes[i], [b, q] = boxes[j];
      if (a.contains(b) || b.contains(a)) continue;
      const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (w > 1 && h > 1) problems.push(`${name(a)} overlaps ${name(b)}`);
    }
  }
  return problems;
}
"""


@pytest.fixture
def layout_data(transactional_db):
    """The screenshots' webhooks and log, a long name and URL, a failing and a disabled webhook,
    and a delivery with six attempts."""
    crm = seed_screenshot_data()
    services.webhook_create(
        name="Customer relationship synchronisation for the Nordic subsidiaries",
        events=["contact.created", "contact.updated", "contact.accepts_email.changed"],
        url="https://integrations.very-long-subdomain.example-enterprise.com/webhooks/v2/incoming/contacts",
    )
    event = Event.objects.create(event_type="contact.updated", data={"id": 7, "email": "a@example.com"})
    delivery = Delivery.objects.create(
        webhook=crm,
        event=event,
        event_type=event.event_type,
        status=Delivery.Status.FAILED,
        attempt_count=6,
        last_response_status=500,
        last_error="HTTP 500 Internal Server Error",
        last_duration_ms=230,
        completed_at=timezone.now(),
    )
    for number in range(1, 7):
        Attempt.objects.create(
            delivery=delivery,
            number=number,
            request_url=crm.url,
            request_headers={
                "Content-Type": "application/json",
                "User-Agent": "webhooks_app/1.0",
                "webhook-id": event.id,
                "webhook-timestamp": "1790000000",
                "webhook-signature": "[redacted]",
                "X-Webhook-Event": "contact.updated",
                "X-Webhook-Attempt": str(number),
            },
            request_body=json.dumps({"id": event.id, "event_type": "contact.updated", "data": event.data}),
            response_status=500,
            response_headers={"Content-Type": "text/html", "Server": "nginx"},
            response_body="<html><body><h1>500 Internal Server Error</h1>" + "x" * 400 + "</body></html>",
            duration_ms=230,
        )
    pending = Delivery.objects.create(
        webhook=crm,
        event=event,
        event_type=event.event_type,
        attempt_count=2,
        last_response_status=503,
        last_error="HTTP 503 Service Unavailable",
        next_attempt_at=timezone.now() + timedelta(seconds=50),
    )
    return {"crm": crm, "delivery": delivery, "pending": pending}


def pages(data) -> list[str]:
    crm, delivery, pending = data["crm"], data["delivery"], data["pending"]
    since = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    base = "/settings/webhooks/"
    return [
        base,
        f"{base}new/",
        f"{base}{crm.pk}/",
        f"{base}{crm.pk}/deliveries/",
        f"{base}deliveries/{delivery.pk}/",
        f"{base}deliveries/{pending.pk}/",
        f"{base}{crm.pk}/deliveries/redeliver-failed/?since={since}",
        f"{base}sending/off/",
        f"{base}deliveries/",
        f"{base}deliveries/?status=failed&period=7d",
        f"{base}token/",
        f"{base}{crm.pk}/delete/",
    ]


def log_in(page, live_server, username="admin"):
    page.goto(live_server.url + "/settings/webhooks/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password").press("Enter")
    page.wait_for_url("**/settings/webhooks/")


@pytest.mark.parametrize("language", list(LANGUAGES))
@pytest.mark.parametrize("width", list(WIDTHS))
def test_layouts_hold(new_page, live_server, admin_user, layout_data, width, language):
    page = new_page(viewport={"width": WIDTHS[width], "height": 900}, locale=LANGUAGES[language])
    log_in(page, live_server)
    problems = {}
    for path in pages(layout_data):
        page.goto(live_server.url + path)
        found = page.evaluate(MEASURE)
        if found:
            problems[path] = found
    assert problems == {}, json.dumps(problems, indent=2, ensure_ascii=False)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_on_a_phone_attempts_are_collapsed_but_the_last(
    new_page, live_server, admin_user, layout_data, language
):
    page = new_page(viewport={"width": 390, "height": 844}, locale=LANGUAGES[language])
    log_in(page, live_server)
    page.goto(live_server.url + f"/settings/webhooks/deliveries/{layout_data['delivery'].pk}/")
    attempts = page.locator("details[data-attempt]")
    expect(attempts).to_have_count(6)
    opened = [attempts.nth(i).get_attribute("open") is not None for i in range(6)]
    assert opened == [False] * 5 + [True]
    height = page.evaluate("document.documentElement.scrollHeight")
    for i in range(5):
        box = attempts.nth(i).bounding_box()
        assert box["height"] < 64, f"collapsed attempt {i + 1} is {box['height']} px tall"
    expanded = page.evaluate(
        "() => { document.querySelectorAll('details[data-attempt]').forEach(d => d.open = true);"
        " return document.documentElement.scrollHeight; }"
    )
    # Every attempt expanded, as before, the page was about 4,100 px tall on a phone.
    assert height < expanded * 0.6, f"{height} px collapsed, {expanded} px expanded"
    page.evaluate(
        "() => document.querySelectorAll('details[data-attempt]').forEach((d, i, all) => d.open = i === all.length - 1)"
    )
    # A collapsed attempt opens on a tap on its summary.
    attempts.nth(0).locator("summary.wh-attempt-head").click()
    expect(attempts.nth(0)).to_have_attribute("open", "")

    big = new_page(viewport={"width": 1440, "height": 900}, locale=LANGUAGES[language])
    log_in(big, live_server)
    big.goto(live_server.url + f"/settings/webhooks/deliveries/{layout_data['delivery'].pk}/")
    assert all(
        big.locator("details[data-attempt]").nth(i).get_attribute("open") is not None for i in range(6)
    )


def test_every_page_passes_axe_core_on_a_phone(new_page, live_server, admin_user, layout_data):
    page = new_page(viewport={"width": 390, "height": 844})
    log_in(page, live_server)
    problems = {}
    for path in pages(layout_data):
        page.goto(live_server.url + path)
        found = axe_problems(page)
        if found:
            problems[path] = found
    assert problems == {}, json.dumps(problems, indent=2)

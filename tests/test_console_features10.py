"""Issue 10 in the console (Django test client): the picker's resource groups and system
events, header rows, a chosen secret, topic prefix, the secret hash header, the rotation
notice and "Expire previous secret now", "Test filters", and the delivery log's time range
and event id. The browser side (scripts, axe-core) is in tests/browser/test_console_features10.py.
"""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.test_console_views import add_delivery, client_for, form_data, make_user
from webhooks_app import services
from webhooks_app.models import Event, Webhook

pytestmark = pytest.mark.django_db

BULLETS = "\u2022" * 8


@pytest.fixture(autouse=True)
def declared(settings):
    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "EVENTS": {
            **settings.WEBHOOKS["EVENTS"],
            "FEEDBACK_SUBMIT": {"description": "Feedback was submitted.", "label": "Feedback submitted"},
            "journey.published": "A journey was published.",
            "app.installed": {"description": "App installed.", "deliverable": False},
        },
    }


@pytest.fixture
def console(db):
    return client_for(make_user("staff"))


def test_the_picker_has_a_box_per_resource_group_and_no_system_events(console):
    html = console.get(reverse("webhooks_app:webhook-create")).content.decode()
    assert 'value="contact.*"' in html and 'value="journey.*"' in html and "All contact events" in html
    assert 'value="app.installed"' not in html and 'value="app.*"' not in html
    assert "Feedback submitted <code>FEEDBACK_SUBMIT</code>" in html


def test_create_with_wildcard_headers_prefix_hash_header_and_chosen_secret(console):
    data = form_data(
        events=["contact.*", "contact.created", "FEEDBACK_SUBMIT"],
        topic_prefix="acme.",
        secret_hash_header="X-Secret-Hash",
        secret="a-secret-of-my-own-1234",
        headers_name=["X-Tenant", "", "Authorization"],
        headers_value=["acme", "", "Bearer 0123456789"],
    )
    response = console.post(reverse("webhooks_app:webhook-create"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    hook = Webhook.objects.get()
    assert hook.events == ["FEEDBACK_SUBMIT", "contact.*"]
    assert hook.headers == {"X-Tenant": "acme", "Authorization": "Bearer 0123456789"}
    assert hook.secret == "a-secret-of-my-own-1234"
    assert (hook.topic_prefix, hook.secret_hash_header) == ("acme.", "X-Secret-Hash")


def test_the_edit_page_masks_header_values_and_an_empty_value_keeps_them(console, make_webhook):
    hook = make_webhook("https://x.example.com/", headers={"X-Tenant": "acme-tenant-9876"})
    url = reverse("webhooks_app:webhook-update", args=[hook.pk])
    html = console.get(url).content.decode()
    assert "acme-tenant" not in html and BULLETS + "9876" in html
    assert 'name="headers_name" id="id_headers_name_1" value="X-Tenant"' in html
    data = form_data(events=["*"], url=hook.url, headers_name=["X-Tenant", "X-New"], headers_value=["", "v"])
    assert console.post(url, data).status_code == 302
    assert Webhook.objects.get(pk=hook.pk).headers == {"X-Tenant": "acme-tenant-9876", "X-New": "v"}
    # An emptied name removes the header.
    data = form_data(events=["*"], url=hook.url, headers_name=["", "X-New"], headers_value=["", ""])
    assert console.post(url, data).status_code == 302
    assert Webhook.objects.get(pk=hook.pk).headers == {"X-New": "v"}
    # A form posted without the rows (a script) keeps them.
    assert console.post(url, form_data(events=["*"], url=hook.url)).status_code == 302
    assert Webhook.objects.get(pk=hook.pk).headers == {"X-New": "v"}


@pytest.mark.parametrize(
    ("names", "values", "message"),
    [
        (["Content-Type"], ["x"], "is set by webhooks_app itself"),
        (["X-A", "x-a"], ["1", "2"], "given twice"),
        (["X-A"], [""], "1-1000"),
        (["Bad Name"], ["1"], "header name"),
    ],
)
def test_bad_header_rows_are_form_errors(console, names, values, message):
    data = form_data(headers_name=names, headers_value=values)
    response = console.post(reverse("webhooks_app:webhook-create"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Webhook.objects.exists()


def test_a_short_chosen_secret_and_a_system_event_are_form_errors(console):
    data = form_data(events=["app.installed"], secret="too-short")
    html = console.post(reverse("webhooks_app:webhook-create"), data).content.decode()
    assert "16-500 characters" in html and "system event" in html
    assert "too-short" not in html  # a secret is never rendered back


def test_a_new_secret_on_edit_starts_an_overlap_with_a_notice_and_expire_now(console, make_webhook):
    hook = make_webhook("https://x.example.com/")
    url = reverse("webhooks_app:webhook-update", args=[hook.pk])
    assert "secret rotation is in progress" not in console.get(url).content.decode()
    data = form_data(events=["*"], url=hook.url, secret="a-secret-of-my-own-1234")
    assert console.post(url, data).status_code == 302
    hook.refresh_from_db()
    assert hook.secret == "a-secret-of-my-own-1234" and hook.previous_secret_active
    html = console.get(url).content.decode()
    assert "secret rotation is in progress" in html and "Expire previous secret now" in html
    expire = reverse("webhooks_app:webhook-expire-previous-secret", args=[hook.pk])
    assert console.post(expire).status_code == 302
    hook.refresh_from_db()
    assert not hook.previous_secret_active and hook.previous_secret == ""
    assert "secret rotation is in progress" not in console.get(url).content.decode()


def test_the_rotation_notice_is_for_staff_who_may_change(make_webhook):
    hook = make_webhook("https://x.example.com/")
    services.webhook_secret_rotate(webhook=hook)
    viewer = client_for(make_user("viewer", perms=["view_webhook"]))
    # The edit page needs the change permission: a viewer never sees it, nor the notice.
    assert viewer.get(reverse("webhooks_app:webhook-update", args=[hook.pk])).status_code == 403
    assert (
        viewer.post(reverse("webhooks_app:webhook-expire-previous-secret", args=[hook.pk])).status_code == 403
    )


def test_test_filters_says_which_of_the_last_events_would_have_been_sent(console, make_webhook):
    hook = make_webhook("https://x.example.com/")
    for country in ("SE", "NO", "DK"):
        add_delivery(hook, event_type="contact.created")
        Event.objects.filter(pk=Event.objects.order_by("-created_at").first().pk).update(
            data={"address": {"country": country}}
        )
    add_delivery(hook, event_type="journey.published")
    url = reverse("webhooks_app:webhook-filters-test")
    filters = json.dumps({"address.country": {"$in": ["SE", "NO"]}})
    body = console.post(url, {"filters": filters, "events": ["contact.*"]}).json()
    assert [e["sent"] for e in body["events"]].count(True) == 2 and len(body["events"]) == 3
    assert "2 would have been sent and 1 filtered out" in body["summary"]
    body = console.post(url, {"filters": "{}", "events": ["*"]}).json()
    assert len(body["events"]) == 4 and all(e["sent"] for e in body["events"])
    response = console.post(url, {"filters": '{"a": {"$regex": "x"}}', "events": ["*"]})
    assert response.status_code == 400 and "$regex" in response.json()["error"]
    assert console.post(url, {"filters": "{", "events": ["*"]}).status_code == 400


def test_the_delivery_log_filters_by_time_range_and_event_id(console, make_webhook):
    hook = make_webhook("https://x.example.com/")
    old = add_delivery(hook, created_at=timezone.now() - timedelta(days=3))
    new = add_delivery(hook)
    url = reverse("webhooks_app:webhook-deliveries", args=[hook.pk])
    html = console.get(url, {"event_id": old.event_id}).content.decode()
    assert f'data-delivery-row="{old.pk}"' in html and f'data-delivery-row="{new.pk}"' not in html
    since = timezone.localtime(timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    html = console.get(url, {"created_after": since}).content.decode()
    assert f'data-delivery-row="{new.pk}"' in html and f'data-delivery-row="{old.pk}"' not in html
    html = console.get(url, {"created_before": since}).content.decode()
    assert f'data-delivery-row="{old.pk}"' in html and f'data-delivery-row="{new.pk}"' not in html
    assert 'type="datetime-local"' in html
    response = console.get(url, {"created_after": "yesterday"})
    assert response.status_code == 400


def test_the_api_finds_a_delivery_by_event_id(make_webhook, admin_api):
    hook = make_webhook("https://x.example.com/")
    old, new = add_delivery(hook), add_delivery(hook)
    rows = admin_api.get(f"/api/webhooks/{hook.pk}/deliveries/", {"event_id": old.event_id}).json()["results"]
    assert [r["id"] for r in rows] == [old.pk] and new.pk != old.pk


pytest_plugins = ["tests.test_api_support"]

"""The console through Django's test client: every page, permission case and action."""

import json
import re
from datetime import timedelta
from html import escape

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from webhooks_app import services
from webhooks_app.models import Attempt, Delivery, Event, Webhook

PERMISSIONS = [
    "view_webhook",
    "add_webhook",
    "change_webhook",
    "delete_webhook",
    "view_delivery",
    "add_delivery",
]


def make_user(username, *, staff=True, perms=PERMISSIONS):
    user = User.objects.create_user(username, password="pw", is_staff=staff)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="webhooks_app", codename__in=perms)
    )
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff(db):
    return make_user("staff")


@pytest.fixture
def console(staff):
    return client_for(staff)


def add_delivery(webhook, *, status=Delivery.Status.FAILED, event_type="contact.updated", created_at=None):
    """A finished delivery with one attempt, written directly (no HTTP)."""
    event = Event.objects.create(event_type=event_type, data={"id": 7, "email": "a@example.com"})
    delivery = Delivery.objects.create(
        webhook=webhook,
        event=event,
        event_type=event_type,
        status=status,
        attempt_count=1,
        last_response_status=500 if status == Delivery.Status.FAILED else 200,
        last_duration_ms=12,
        completed_at=None if status == Delivery.Status.PENDING else timezone.now(),
    )
    if created_at:
        Delivery.objects.filter(pk=delivery.pk).update(created_at=created_at)
    Attempt.objects.create(
        delivery=delivery,
        number=1,
        request_url=webhook.url,
        request_headers={"Content-Type": "application/json", "webhook-signature": "[redacted]"},
        request_body=json.dumps({"id": event.id}),
        response_status=delivery.last_response_status,
        response_headers={"Content-Type": "application/json"},
        response_body='{"error": "boom"}',
        duration_ms=12,
    )
    return delivery


def form_data(**overrides):
    data = {
        "name": "CRM sync",
        "events": ["contact.created", "contact.updated"],
        "notification_type": "REST",
        "url": "https://crm.example.com/hooks",
        "api_key": "",
        "description": "",
        "api_key_header": "X-API-Key",
        "timeout": "",
        "payload_format": "json",
        "filters": "{}",
        "enabled": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def field_errors(response, name) -> str:
    """The HTML of one field's block (label, control, errors), to assert errors sit next to it."""
    html = response.content.decode()
    match = re.search(
        rf'<(?:div|fieldset) class="wh-field[^"]*"[^>]*>(?:(?!class="wh-field).)*?id="id_{name}', html, re.S
    )
    assert match, f"no field {name} in the page"
    end = html.find('class="wh-field', match.end())
    return html[match.start() : end if end != -1 else len(html)]


# Permissions -------------------------------------------------------------------------

# (URL name, needs a webhook or a delivery, method, permissions, status when allowed). The
# permissions of each action are those of the API (webhooks_app.permissions): changing or
# deleting a webhook needs seeing it too (issue 18), sending a test or touching the secret
# needs view + change of the webhook, the delivery log view of both, redelivering view + add
# of a delivery.
PAGES = [
    ("webhook-list", None, "get", ("view_webhook",), 200),
    ("webhook-create", None, "get", ("add_webhook",), 200),
    ("webhook-create", None, "post", ("add_webhook",), 302),
    ("webhook-update", "webhook", "get", ("view_webhook", "change_webhook"), 200),
    ("webhook-update", "webhook", "post", ("view_webhook", "change_webhook"), 302),
    ("webhook-delete", "webhook", "get", ("view_webhook", "delete_webhook"), 200),
    ("webhook-delete", "webhook", "post", ("view_webhook", "delete_webhook"), 302),
    ("webhook-toggle", "webhook", "post", ("view_webhook", "change_webhook"), 302),
    ("webhook-test", "webhook", "post", ("view_webhook", "change_webhook"), 302),
    ("webhook-reveal-secret", "webhook", "post", ("view_webhook", "change_webhook"), 200),
    ("webhook-rotate-secret", "webhook", "get", ("view_webhook", "change_webhook"), 200),
    ("webhook-rotate-secret", "webhook", "post", ("view_webhook", "change_webhook"), 302),
    ("webhook-deliveries", "webhook", "get", ("view_webhook", "view_delivery"), 200),
    ("webhook-redeliver-failed", "webhook", "post", ("view_webhook", "add_delivery"), 302),
    ("delivery-detail", "delivery", "get", ("view_delivery",), 200),
    ("delivery-redeliver", "delivery", "post", ("view_delivery", "add_delivery"), 302),
]
PAGE_IDS = [f"{method}-{name}" for name, _, method, _, _ in PAGES]


@pytest.fixture
def target(db):
    webhook = services.webhook_create(
        name="Target", events=["*"], url="https://receiver.example.com/hook", api_key="key-123456789"
    )
    delivery = add_delivery(webhook)
    return {"webhook": webhook, "delivery": delivery}


def call(client, name, kind, method, target):
    args = [target[kind].pk] if kind else []
    url = reverse(f"webhooks_app:{name}", args=args)
    data = {}
    if method == "post" and name == "webhook-create":
        data = form_data(url="https://other.example.com/hook")
    if method == "post" and name == "webhook-update":
        # Its own URL: a new one would need its API key entered again (issue 18).
        data = form_data(url=target["webhook"].url)
    if name == "webhook-redeliver-failed":
        data = {"since": (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")}
    return getattr(client, method)(url, data)


@pytest.mark.parametrize(("name", "kind", "method", "perm", "ok"), PAGES, ids=PAGE_IDS)
def test_anonymous_is_sent_to_login(client, target, name, kind, method, perm, ok):
    response = call(client, name, kind, method, target)
    assert response.status_code == 302
    page = reverse(f"webhooks_app:{name}", args=[target[kind].pk] if kind else [])
    # After login a GET page comes back; a POST-only action goes to the list instead.
    back = page if method == "get" else reverse("webhooks_app:webhook-list")
    assert response["Location"] == f"/accounts/login/?next={back}"
    assert Webhook.objects.filter(pk=target["webhook"].pk, enabled=True).exists()


@pytest.mark.parametrize(("name", "kind", "method", "perm", "ok"), PAGES, ids=PAGE_IDS)
def test_non_staff_with_every_permission_is_forbidden(target, name, kind, method, perm, ok):
    client = client_for(make_user("clerk", staff=False))
    assert call(client, name, kind, method, target).status_code == 403


@pytest.mark.parametrize(("name", "kind", "method", "perms", "ok"), PAGES, ids=PAGE_IDS)
def test_staff_without_the_permission_is_forbidden(target, name, kind, method, perms, ok):
    for missing in perms:
        client = client_for(make_user(f"helper-{missing}", perms=[p for p in PERMISSIONS if p != missing]))
        response = call(client, name, kind, method, target)
        assert response.status_code == 403, missing
        html = response.content.decode()
        assert "You cannot open this page" in html
        assert "You need the permission" in html and f"webhooks_app.{missing}" in html
        webhook = Webhook.objects.get(pk=target["webhook"].pk)
        assert (webhook.name, webhook.enabled, webhook.secret) == ("Target", True, target["webhook"].secret)
        assert Delivery.objects.count() == 1


@pytest.mark.parametrize(("name", "kind", "method", "perms", "ok"), PAGES, ids=PAGE_IDS)
def test_staff_with_only_the_permission_is_allowed(target, name, kind, method, perms, ok):
    client = client_for(make_user("owner", perms=list(perms)))
    assert call(client, name, kind, method, target).status_code == ok


def test_superuser_sees_every_action(target):
    client = client_for(User.objects.create_superuser("root", password="pw"))
    html = client.get(reverse("webhooks_app:webhook-list")).content.decode()
    assert "Create Webhook" in html
    assert 'role="switch"' in html
    assert reverse("webhooks_app:webhook-deliveries", args=[target["webhook"].pk]) in html


def test_view_only_staff_sees_no_change_controls(target):
    client = client_for(make_user("reader", perms=["view_webhook"]))
    html = client.get(reverse("webhooks_app:webhook-list")).content.decode()
    assert "Target" in html
    assert "Create Webhook" not in html
    assert 'role="switch"' not in html
    assert reverse("webhooks_app:webhook-update", args=[target["webhook"].pk]) not in html
    assert reverse("webhooks_app:webhook-deliveries", args=[target["webhook"].pk]) not in html


@pytest.mark.parametrize(
    ("name", "kind"),
    [("webhook-toggle", "webhook"), ("webhook-test", "webhook"), ("delivery-redeliver", "delivery")],
)
def test_actions_refuse_get(console, target, name, kind):
    response = console.get(reverse(f"webhooks_app:{name}", args=[target[kind].pk]))
    assert response.status_code == 405
    assert Webhook.objects.get().enabled
    assert Delivery.objects.count() == 1


def test_reveal_secret_refuses_get(console, target):
    response = console.get(reverse("webhooks_app:webhook-reveal-secret", args=[target["webhook"].pk]))
    assert response.status_code == 405
    assert target["webhook"].secret not in response.content.decode()


def test_post_without_csrf_token_is_refused(staff, target):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    response = client.post(
        reverse("webhooks_app:webhook-toggle", args=[target["webhook"].pk]), {"enabled": "0"}
    )
    assert response.status_code == 403
    assert Webhook.objects.get().enabled


def test_missing_objects_are_404(console, db):
    assert console.get(reverse("webhooks_app:webhook-update", args=[999])).status_code == 404
    assert console.get(reverse("webhooks_app:webhook-deliveries", args=[999])).status_code == 404
    assert console.get(reverse("webhooks_app:delivery-detail", args=[999])).status_code == 404
    assert console.post(reverse("webhooks_app:delivery-redeliver", args=[999])).status_code == 404


def test_login_page_redirects_back_to_the_console(client, staff):
    page = client.get("/accounts/login/?next=/settings/webhooks/")
    assert page.status_code == 200
    assert b"Log in" in page.content
    response = client.post(
        "/accounts/login/", {"username": "staff", "password": "pw", "next": "/settings/webhooks/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/settings/webhooks/"
    assert client.get("/settings/webhooks/").status_code == 200


# List ------------------------------------------------------------------------------


def test_empty_list_explains_what_a_webhook_is(console):
    html = console.get(reverse("webhooks_app:webhook-list")).content.decode()
    assert "No webhooks yet" in html
    assert "A webhook is a real-time message to another application" in html
    assert reverse("webhooks_app:webhook-create") in html


def test_layout_has_settings_menu_and_webhook_settings_tab(console):
    html = console.get(reverse("webhooks_app:webhook-list")).content.decode()
    assert re.search(r'<nav class="site-nav" aria-label="Main">.*?<span>Settings</span>', html, re.S)
    assert re.search(r'<nav class="wh-tabs" aria-label="Settings">.*?Webhook Settings', html, re.S)
    assert "webhooks_app/console.css" in html
    assert "webhooks_app/console.js" in html


def test_list_shows_each_webhook_with_its_state(console, make_webhook):
    hook = make_webhook(
        "https://crm.example.com/hooks",
        name="CRM sync",
        events=["contact.created", "contact.deleted", "contact.updated"],
        api_key="secret-api-key-value",
    )
    make_webhook("https://all.example.com/in", name="Everything")
    quiet = make_webhook("https://off.example.com/in", name="Quiet")
    services.webhook_set_enabled(webhook=quiet, enabled=False)
    for _ in range(3):
        add_delivery(hook, status=Delivery.Status.SUCCEEDED)
    add_delivery(hook, status=Delivery.Status.FAILED)

    html = console.get(reverse("webhooks_app:webhook-list")).content.decode()
    assert "CRM sync" in html and "https://crm.example.com/hooks" in html
    assert "contact.created" in html and "contact.deleted" in html and "+1 more" in html
    assert "All events" in html
    assert "REST" in html
    assert "75%" in html and "3 of 4 delivered" in html
    assert "Failed" in html  # the newest delivery's result
    assert "Disabled by a user." in html
    assert html.count('aria-checked="true"') == 2 and html.count('aria-checked="false"') == 1
    assert "secret-api-key-value" not in html
    assert hook.secret not in html


def test_search_by_name_or_url(console, make_webhook):
    make_webhook("https://crm.example.com/hooks", name="CRM sync")
    make_webhook("https://erp.example.net/in", name="Legacy")
    by_name = console.get(reverse("webhooks_app:webhook-list"), {"q": "crm"}).content.decode()
    assert "CRM sync" in by_name and "Legacy" not in by_name
    by_url = console.get(reverse("webhooks_app:webhook-list"), {"q": "erp.example"}).content.decode()
    assert "Legacy" in by_url and "CRM sync" not in by_url
    nothing = console.get(reverse("webhooks_app:webhook-list"), {"q": "zzz"}).content.decode()
    assert "No webhook matches" in nothing


def test_list_is_paginated(console, make_webhook):
    for i in range(27):
        make_webhook(f"https://h{i}.example.com/", name=f"Hook {i:02d}")
    first = console.get(reverse("webhooks_app:webhook-list")).content.decode()
    assert "Hook 00" in first and "Hook 26" not in first
    assert "1–25 of 27" in first
    second = console.get(reverse("webhooks_app:webhook-list"), {"page": 2}).content.decode()
    assert "Hook 26" in second and "Hook 00" not in second


# Create ------------------------------------------------------------------------------


def test_create_form_lists_event_types_grouped_with_descriptions(console):
    html = console.get(reverse("webhooks_app:webhook-create")).content.decode()
    assert re.search(r'<textarea name="filters"[^>]*>\s*\{\}</textarea>', html)
    for label in ("Webhook Name", "Webhook Events", "Notification Type", "URL", "API Key"):
        assert label in html
    assert re.search(
        r'wh-event-group-title">contact<.*?contact\.created.*?A contact was created\.', html, re.S
    )
    assert re.search(r'wh-event-group-title">webhook<.*?webhook\.test', html, re.S)
    assert 'value="*"' in html and "All events" in html
    assert ">Create</button>" in html and ">Cancel</a>" in html
    assert "Advanced settings" in html and "API key header name" in html and "Payload format" in html


def test_create_saves_the_webhook_and_says_so(console, staff):
    response = console.post(
        reverse("webhooks_app:webhook-create"),
        form_data(api_key="my-api-key-42", timeout="7", filters='{"accepts_email": true}'),
        follow=True,
    )
    webhook = Webhook.objects.get()
    assert response.redirect_chain == [(reverse("webhooks_app:webhook-update", args=[webhook.pk]), 302)]
    assert webhook.name == "CRM sync"
    assert webhook.events == ["contact.created", "contact.updated"]
    assert webhook.url == "https://crm.example.com/hooks"
    assert webhook.api_key == "my-api-key-42"
    assert webhook.timeout == 7
    assert webhook.filters == {"accepts_email": True}
    assert webhook.enabled and webhook.created_by == staff
    assert webhook.secret.startswith("whsec_")
    assert "Webhook “CRM sync” created" in response.content.decode()


def test_all_events_is_stored_as_star(console):
    console.post(reverse("webhooks_app:webhook-create"), form_data(events=["*", "contact.created"]))
    assert Webhook.objects.get().events == ["*"]


def test_create_disabled(console):
    data = form_data()
    del data["enabled"]
    console.post(reverse("webhooks_app:webhook-create"), data)
    assert Webhook.objects.get().enabled is False


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"url": "ftp://files.example.com/in"}, "url", "The URL must start with http:// or https://."),
        ({"url": "http://10.1.2.3/hook"}, "url", "is a private, loopback or reserved address"),
        ({"url": "https://user:pw@example.com/"}, "url", "Put credentials in the API Key field"),
        ({"url": ""}, "url", "This field is required."),
        ({"name": ""}, "name", "Give the webhook a name."),
        ({"events": []}, "events", "Choose at least one event, or All events."),
        ({"events": ["nope.never"]}, "events", '"nope.never" is not a declared event type.'),
        ({"filters": "[1, 2]"}, "filters", "Filters are a JSON object"),
        ({"filters": '{"n": {"$gtee": 5}}'}, "filters", 'Filter "n": unknown operator "$gtee"'),
        ({"filters": '{"n": {"nested": 1}}'}, "filters", '"nested" is not an operator'),
        ({"filters": "{not json"}, "filters", "Enter a valid JSON."),
        ({"timeout": "0"}, "timeout", "greater than or equal to 1"),
        ({"timeout": "61"}, "timeout", "less than or equal to 60"),
        ({"api_key_header": "Bad Header"}, "api_key_header", "A header name is 1-64"),
        ({"api_key_header": "Content-Type"}, "api_key_header", "is set by webhooks_app itself"),
        ({"api_key": "line\nbreak"}, "api_key", "Line breaks are not allowed here."),
    ],
)
def test_create_errors_show_next_to_the_field_and_nothing_is_saved(console, overrides, field, message):
    response = console.post(reverse("webhooks_app:webhook-create"), form_data(**overrides))
    assert response.status_code == 200
    assert escape(message) in field_errors(response, field)
    assert "nothing was saved" in response.content.decode()
    assert Webhook.objects.count() == 0


def test_errors_in_advanced_fields_open_the_advanced_section(console):
    response = console.post(reverse("webhooks_app:webhook-create"), form_data(timeout="0"))
    assert '<details class="wh-advanced" open>' in response.content.decode()
    ok = console.get(reverse("webhooks_app:webhook-create"))
    assert '<details class="wh-advanced">' in ok.content.decode()


def test_rejected_form_keeps_what_was_typed_except_the_api_key(console):
    response = console.post(
        reverse("webhooks_app:webhook-create"),
        form_data(name="", url="https://kept.example.com/x", api_key="typed-key-value"),
    )
    html = response.content.decode()
    assert 'value="https://kept.example.com/x"' in html
    assert "typed-key-value" not in html
    assert re.search(r'value="contact\.created"\s+checked', html)


# Update ------------------------------------------------------------------------------


@pytest.fixture
def hook(make_webhook):
    return make_webhook(
        "https://crm.example.com/hooks", name="CRM sync", events=["contact.created"], api_key="old-key-1234"
    )


def update_url(webhook):
    return reverse("webhooks_app:webhook-update", args=[webhook.pk])


def test_edit_page_masks_the_api_key_and_the_secret(console, hook):
    html = console.get(update_url(hook)).content.decode()
    assert "old-key-1234" not in html
    assert "A key ending in 1234 is stored." in html
    assert hook.secret not in html
    assert "whsec_" + hook.secret_hint in html
    assert ">Update</button>" in html and ">Reveal</button>" in html and "Rotate secret" in html
    assert "Send test event" in html and "Remove the stored API key" in html


def test_update_changes_fields_and_keeps_the_api_key_when_blank(console, hook, staff):
    response = console.post(
        update_url(hook), form_data(name="CRM v2", events=["contact.deleted"], api_key=""), follow=True
    )
    assert "Webhook “CRM v2” updated." in response.content.decode()
    hook.refresh_from_db()
    assert (hook.name, hook.events, hook.api_key) == ("CRM v2", ["contact.deleted"], "old-key-1234")
    assert hook.updated_by == staff


def test_update_replaces_the_api_key(console, hook):
    console.post(update_url(hook), form_data(api_key="new-key-9999"))
    hook.refresh_from_db()
    assert hook.api_key == "new-key-9999"


def test_update_clears_the_api_key(console, hook):
    console.post(update_url(hook), form_data(clear_api_key="on"))
    hook.refresh_from_db()
    assert hook.api_key == ""


def test_new_key_and_clear_together_is_an_error(console, hook):
    response = console.post(update_url(hook), form_data(api_key="x-key", clear_api_key="on"))
    assert "Either type a new key or remove the stored one." in field_errors(response, "clear_api_key")
    hook.refresh_from_db()
    assert hook.api_key == "old-key-1234"


def test_rejected_update_saves_nothing_and_keeps_the_real_name_in_the_header(console, hook):
    response = console.post(update_url(hook), form_data(name="Renamed", url="javascript:alert(1)"))
    assert response.status_code == 200
    assert "The URL must start with http:// or https://." in field_errors(response, "url")
    html = response.content.decode()
    assert '<h2 class="wh-h2">CRM sync</h2>' in html
    hook.refresh_from_db()
    assert (hook.name, hook.url) == ("CRM sync", "https://crm.example.com/hooks")


def test_undeclared_event_types_stay_visible_on_edit(console, make_webhook):
    legacy = make_webhook("https://x.example.com/", events=["contact.created"])
    Webhook.objects.filter(pk=legacy.pk).update(events=["contact.created", "invoice.paid"])
    html = console.get(update_url(legacy)).content.decode()
    assert "No longer declared" in html
    assert re.search(r'value="invoice\.paid"\s+checked', html)


def test_disabled_reason_is_shown_on_the_edit_page(console, hook):
    services.webhook_disable(webhook=hook, reason="The receiver answered 410 Gone.")
    html = console.get(update_url(hook)).content.decode()
    assert "This webhook is disabled" in html and "The receiver answered 410 Gone." in html


def test_enabling_in_the_form_clears_the_disabled_reason(console, hook):
    services.webhook_disable(webhook=hook, reason="Too many failures.")
    console.post(update_url(hook), form_data(enabled="on"))
    hook.refresh_from_db()
    assert hook.enabled and hook.disabled_reason == ""


# Secret ----------------------------------------------------------------------------------


def test_reveal_shows_the_secret_once_and_is_never_cached(console, hook):
    response = console.post(reverse("webhooks_app:webhook-reveal-secret", args=[hook.pk]))
    assert response.status_code == 200
    assert hook.secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert hook.secret not in console.get(update_url(hook)).content.decode()


def test_rotate_asks_then_replaces_the_secret(console, hook):
    url = reverse("webhooks_app:webhook-rotate-secret", args=[hook.pk])
    page = console.get(url).content.decode()
    assert "Rotate the signing secret of “CRM sync”?" in page and "24 hours" in page
    old = hook.secret
    hook.refresh_from_db()
    assert hook.secret == old
    response = console.post(url, follow=True)
    hook.refresh_from_db()
    assert hook.secret != old and hook.previous_secret == old
    html = response.content.decode()
    assert "A new signing secret was generated." in html
    assert "The previous secret also signs until" in html


# Toggle ----------------------------------------------------------------------------------


def toggle(client, webhook, enabled, **extra):
    return client.post(
        reverse("webhooks_app:webhook-toggle", args=[webhook.pk]), {"enabled": enabled}, **extra
    )


def test_toggle_off_and_on(console, hook):
    response = toggle(console, hook, "0")
    assert response.status_code == 302 and response["Location"] == reverse("webhooks_app:webhook-list")
    hook.refresh_from_db()
    assert not hook.enabled and hook.disabled_reason == "Disabled by a user."
    page = console.get(response["Location"]).content.decode()
    assert "Webhook “CRM sync” disabled." in page
    toggle(console, hook, "1")
    hook.refresh_from_db()
    assert hook.enabled and hook.disabled_reason == ""


def test_toggle_is_idempotent(console, hook):
    toggle(console, hook, "0")
    toggle(console, hook, "0")
    hook.refresh_from_db()
    assert not hook.enabled


def test_toggle_without_a_value_flips(console, hook):
    console.post(reverse("webhooks_app:webhook-toggle", args=[hook.pk]))
    hook.refresh_from_db()
    assert not hook.enabled


def test_toggle_answers_json_to_the_script(console, hook):
    response = toggle(console, hook, "0", HTTP_ACCEPT="application/json")
    assert response.json() == {"id": hook.pk, "enabled": False, "message": "Webhook “CRM sync” disabled."}
    # The script shows the message itself: nothing is left for the next page.
    assert (
        "Webhook “CRM sync” disabled."
        not in console.get(reverse("webhooks_app:webhook-list")).content.decode()
    )


def test_toggle_returns_to_a_safe_next_only(console, hook):
    url = reverse("webhooks_app:webhook-list") + "?q=crm"
    response = console.post(
        reverse("webhooks_app:webhook-toggle", args=[hook.pk]), {"enabled": "0", "next": url}
    )
    assert response["Location"] == url
    response = console.post(
        reverse("webhooks_app:webhook-toggle", args=[hook.pk]),
        {"enabled": "1", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("webhooks_app:webhook-list")


# Delete ----------------------------------------------------------------------------------


def test_delete_asks_then_removes_the_webhook_and_its_log(console, hook, make_webhook):
    other = make_webhook("https://other.example.com/", name="Other")
    add_delivery(hook)
    add_delivery(hook)
    kept = add_delivery(other)
    url = reverse("webhooks_app:webhook-delete", args=[hook.pk])
    page = console.get(url).content.decode()
    assert "Delete webhook “CRM sync”?" in page
    assert "removes the webhook and its delivery log: 2 deliveries" in page
    assert ">Delete</button>" in page and ">Cancel</a>" in page
    assert Webhook.objects.filter(pk=hook.pk).exists()

    response = console.post(url, follow=True)
    assert "Webhook “CRM sync” and its delivery log were deleted." in response.content.decode()
    assert not Webhook.objects.filter(pk=hook.pk).exists()
    assert list(Delivery.objects.values_list("pk", flat=True)) == [kept.pk]
    html = response.content.decode()
    assert f'data-webhook-row="{hook.pk}"' not in html and f'data-webhook-row="{other.pk}"' in html


# Test event ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_send_test_event_reaches_the_receiver_and_shows_the_outcome(receiver, make_webhook):
    client = client_for(make_user("tester"))
    webhook = make_webhook(receiver.url, name="Local", events=["contact.created"], api_key="k-123456")
    response = client.post(reverse("webhooks_app:webhook-test", args=[webhook.pk]), follow=True)

    request = receiver.wait_for(1)[0]
    assert request.headers["X-Webhook-Event"] == "webhook.test"
    assert request.headers["X-API-Key"] == "k-123456"
    payload = request.verify(webhook.secret)
    assert payload["data"]["webhook"] == {"id": webhook.pk, "name": "Local"}
    assert payload["current_context"]["actor"] == "tester"

    delivery = Delivery.objects.get(webhook=webhook)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert response.redirect_chain[-1][0] == delivery.get_absolute_url() + "?test=1"
    html = response.content.decode()
    assert "Test event delivered: the receiver answered HTTP 200" in html
    assert payload["id"] in html


@pytest.mark.django_db(transaction=True)
def test_send_test_event_to_a_failing_receiver_says_it_will_retry(receiver, make_webhook):
    from tests.receiver import Reply

    receiver.default = Reply(status=500, body=b"down")
    client = client_for(make_user("tester"))
    webhook = make_webhook(receiver.url, name="Broken")
    response = client.post(reverse("webhooks_app:webhook-test", args=[webhook.pk]), follow=True)
    receiver.wait_for(1)
    html = response.content.decode()
    assert "The first try of the test event failed (HTTP 500); it will be retried." in html
    assert "Waiting for the receiver" in html


@pytest.mark.django_db(transaction=True)
def test_send_test_event_without_delivery_permission_returns_to_the_webhook(receiver, make_webhook):
    client = client_for(make_user("editor", perms=["view_webhook", "change_webhook"]))
    webhook = make_webhook(receiver.url, name="Local")
    response = client.post(reverse("webhooks_app:webhook-test", args=[webhook.pk]))
    assert response["Location"] == update_url(webhook)
    receiver.wait_for(1)


def test_test_outcome_messages():
    from django.contrib import messages

    from webhooks_app.views import test_outcome

    failed = Delivery(status=Delivery.Status.FAILED, last_error="Connection refused")
    assert test_outcome(failed) == (messages.ERROR, "Test event failed: Connection refused.")
    queued = Delivery(status=Delivery.Status.PENDING)
    assert test_outcome(queued)[0] == messages.INFO
    ok = Delivery(status=Delivery.Status.SUCCEEDED, last_response_status=204, last_duration_ms=5)
    assert test_outcome(ok)[1] == "Test event delivered: the receiver answered HTTP 204 in 5 ms."


# Deliveries ------------------------------------------------------------------------------


def deliveries_url(webhook):
    return reverse("webhooks_app:webhook-deliveries", args=[webhook.pk])


def test_deliveries_newest_first_with_columns(console, hook):
    old = add_delivery(hook, status=Delivery.Status.SUCCEEDED, created_at=timezone.now() - timedelta(hours=2))
    new = add_delivery(hook, status=Delivery.Status.FAILED, event_type="contact.deleted")
    html = console.get(deliveries_url(hook)).content.decode()
    assert html.index(f'data-delivery-row="{new.pk}"') < html.index(f'data-delivery-row="{old.pk}"')
    for column in ("Event type", "Status", "Attempts", "Response", "Duration", "Time"):
        assert f">{column}</th>" in html
    assert "wh-status-failed" in html and "wh-status-succeeded" in html
    assert "12 ms" in html and ">500<" in html and ">200<" in html
    assert "Redeliver all failed" in html and "Send test event" in html


def test_deliveries_filters(console, hook):
    failed = add_delivery(hook, status=Delivery.Status.FAILED, event_type="contact.created")
    ok = add_delivery(hook, status=Delivery.Status.SUCCEEDED, event_type="contact.created")
    other = add_delivery(hook, status=Delivery.Status.FAILED, event_type="contact.deleted")

    def rows(**params):
        html = console.get(deliveries_url(hook), params).content.decode()
        return {int(pk) for pk in re.findall(r'data-delivery-row="(\d+)"', html)}

    assert rows() == {failed.pk, ok.pk, other.pk}
    assert rows(status="failed") == {failed.pk, other.pk}
    assert rows(event_type="contact.created") == {failed.pk, ok.pk}
    assert rows(status="failed", event_type="contact.created") == {failed.pk}
    assert rows(status="bogus") == {failed.pk, ok.pk, other.pk}
    empty = console.get(deliveries_url(hook), {"status": "cancelled"}).content.decode()
    assert "No deliveries match these filters" in empty


def test_deliveries_only_of_this_webhook(console, hook, make_webhook):
    other = make_webhook("https://other.example.com/", name="Other")
    add_delivery(other)
    html = console.get(deliveries_url(hook)).content.decode()
    assert "No deliveries yet" in html


def test_deliveries_are_paginated_and_keep_filters(console, hook):
    for _ in range(27):
        add_delivery(hook, status=Delivery.Status.FAILED)
    first = console.get(deliveries_url(hook), {"status": "failed"}).content.decode()
    assert len(re.findall(r'data-delivery-row="', first)) == 25
    # Newer/older by keyset (no page numbers, no count): the link keeps the filter.
    older = re.search(r'href="\?status=failed&amp;older=([0-9-]+)" rel="next"', first)
    assert older, "no Older link keeping the filter"
    second = console.get(deliveries_url(hook), {"status": "failed", "older": older.group(1)}).content.decode()
    assert len(re.findall(r'data-delivery-row="', second)) == 2
    assert 'rel="prev">Newer</a>' in second


def test_delivery_detail_shows_payload_and_attempts(console, hook):
    delivery = add_delivery(hook)
    html = console.get(delivery.get_absolute_url()).content.decode()
    assert delivery.event_id in html
    assert "&quot;event_type&quot;: &quot;contact.updated&quot;" in html  # pretty JSON payload
    assert "&quot;email&quot;: &quot;a@example.com&quot;" in html
    assert "Attempt 1" in html and "HTTP 500" in html
    assert "webhook-signature" in html and "[redacted]" in html
    assert "&quot;error&quot;: &quot;boom&quot;" in html
    assert ">Redeliver</span>" in html
    assert '<meta http-equiv="refresh"' not in html


def test_pending_delivery_refreshes_and_cannot_be_redelivered(console, hook):
    delivery = add_delivery(hook, status=Delivery.Status.PENDING)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=5))
    html = console.get(delivery.get_absolute_url()).content.decode()
    # Updated in place by the console's script into an aria-live region, never a reload (issue 10).
    assert "http-equiv" not in html
    assert "data-live-delivery" in html and 'aria-live="polite" data-live-status' in html
    assert ">Redeliver</span>" not in html
    response = console.post(reverse("webhooks_app:delivery-redeliver", args=[delivery.pk]), follow=True)
    assert "still being attempted" in response.content.decode()
    assert Delivery.objects.count() == 1


def test_xml_payload_is_shown_as_xml(console, make_webhook):
    webhook = make_webhook("https://x.example.com/", payload_format="xml")
    delivery = add_delivery(webhook)
    html = console.get(delivery.get_absolute_url()).content.decode()
    assert "&lt;event_type&gt;contact.updated&lt;/event_type&gt;" in html


@pytest.mark.django_db(transaction=True)
def test_redeliver_sends_the_same_event_again(receiver, make_webhook):
    client = client_for(make_user("operator"))
    webhook = make_webhook(receiver.url, name="Local")
    failed = add_delivery(webhook)
    response = client.post(reverse("webhooks_app:delivery-redeliver", args=[failed.pk]), follow=True)

    request = receiver.wait_for(1)[0]
    assert request.headers["webhook-id"] == failed.event_id
    new = Delivery.objects.exclude(pk=failed.pk).get()
    assert new.event_id == failed.event_id and new.status == Delivery.Status.SUCCEEDED
    assert response.redirect_chain[-1][0] == new.get_absolute_url()
    html = response.content.decode()
    assert f"Redelivery of event {failed.event_id} started as delivery #{new.pk}" in html
    assert f'href="{failed.get_absolute_url()}"' in html  # linked as another delivery of this event


def test_redeliver_failed_since(console, hook):
    add_delivery(hook, created_at=timezone.now() - timedelta(days=3))
    add_delivery(hook, created_at=timezone.now() - timedelta(hours=2))
    add_delivery(hook, created_at=timezone.now() - timedelta(hours=1))
    add_delivery(hook, status=Delivery.Status.SUCCEEDED)
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = console.post(
        reverse("webhooks_app:webhook-redeliver-failed", args=[hook.pk]), {"since": since}, follow=True
    )
    assert response.redirect_chain[-1][0] == deliveries_url(hook)
    assert "Redelivering 2 failed deliveries since" in response.content.decode()
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 2

    again = console.post(
        reverse("webhooks_app:webhook-redeliver-failed", args=[hook.pk]),
        {"since": timezone.now().strftime("%Y-%m-%dT%H:%M")},
        follow=True,
    )
    assert "nothing to redeliver" in again.content.decode()


@pytest.mark.parametrize(
    ("since", "message"), [("not a date", "Enter a valid date/time."), ("2999-01-01T00:00", "in the past")]
)
def test_redeliver_failed_rejects_a_bad_moment(console, hook, since, message):
    add_delivery(hook)
    response = console.post(
        reverse("webhooks_app:webhook-redeliver-failed", args=[hook.pk]), {"since": since}, follow=True
    )
    assert message in response.content.decode()
    assert Delivery.objects.count() == 1


# Layout ----------------------------------------------------------------------------------


def test_the_apps_own_base_template_works_without_the_demo_layout(console, settings):
    """A host without its own base gets the app's standalone layout."""
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": []}]
    html = console.get(reverse("webhooks_app:webhook-list")).content.decode()
    assert 'class="wh-sidebar"' in html and "<span>Settings</span>" in html
    assert "Webhook Settings" in html and "Acme CRM" not in html


def test_base_template_setting_names_the_layout(console, settings):
    with override_settings(WEBHOOKS={**settings.WEBHOOKS, "BASE_TEMPLATE": "base.html"}):
        html = console.get(reverse("webhooks_app:webhook-list")).content.decode()
    assert "Acme CRM" in html and "Webhook Settings" in html


# Filters -------------------------------------------------------------------------------


def test_an_operator_filter_saved_in_the_console_matches(console):
    """{"n": {"$gte": 5}} used to save and silently never match."""
    from webhooks_app import emit

    response = console.post(
        reverse("webhooks_app:webhook-create"),
        form_data(events=["contact.created"], filters='{"n": {"$gte": 5}}'),
    )
    assert response.status_code == 302
    webhook = Webhook.objects.get()
    assert webhook.filters == {"n": {"$gte": 5}}

    matched = emit("contact.created", data={"n": 5})
    missed = emit("contact.created", data={"n": 4})
    assert Delivery.objects.filter(event_id=matched.pk, webhook=webhook).exists()
    assert not Delivery.objects.filter(event_id=missed.pk).exists()


# Query parameters: the API's cleaning, a 400 page, never a 500 -----------------------------


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("\x00", "Search: Null characters are not allowed."),
        ("crm\x00", "Search: Null characters are not allowed."),
        ("x" * 201, "Search: Ensure this value has at most 200 characters (it has 201)."),
    ],
    ids=["nul", "nul-inside", "too-long"],
)
def test_a_search_the_database_cannot_take_answers_400_and_lists_everything(
    console, make_webhook, q, message
):
    make_webhook("https://crm.example.com/hooks", name="CRM sync")
    make_webhook("https://erp.example.net/in", name="Legacy")

    response = console.get(reverse("webhooks_app:webhook-list"), {"q": q})

    assert response.status_code == 400
    html = response.content.decode()
    assert escape(f"{message} The filter was ignored.") in html
    assert "CRM sync" in html and "Legacy" in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"event_type": "\x00"}, "Event type: Null characters are not allowed."),
        ({"event_type": "x" * 101}, "Event type: Ensure this value has at most 100 characters (it has 101)."),
        ({"status": "bogus"}, "Status: Select a valid choice. bogus is not one of the available choices."),
        ({"created_after": "last tuesday"}, "Created after: Enter a valid date/time."),
    ],
    ids=["nul", "too-long", "status", "date"],
)
def test_a_delivery_filter_the_database_cannot_take_answers_400_and_is_ignored(
    console, hook, params, message
):
    failed = add_delivery(hook, status=Delivery.Status.FAILED, event_type="contact.created")
    ok = add_delivery(hook, status=Delivery.Status.SUCCEEDED, event_type="contact.deleted")

    response = console.get(deliveries_url(hook), {**params, "page": "1"})

    assert response.status_code == 400
    html = response.content.decode()
    assert escape(f"{message} The filter was ignored.") in html
    rows = {int(pk) for pk in re.findall(r'data-delivery-row="(\d+)"', html)}
    assert rows == {failed.pk, ok.pk}


def test_a_refused_filter_is_ignored_the_valid_one_applies(console, hook):
    failed = add_delivery(hook, status=Delivery.Status.FAILED)
    add_delivery(hook, status=Delivery.Status.SUCCEEDED)

    response = console.get(deliveries_url(hook), {"status": "failed", "event_type": "\x00"})

    assert response.status_code == 400
    assert re.findall(r'data-delivery-row="(\d+)"', response.content.decode()) == [str(failed.pk)]


# Secrets on the list: not decrypted, and an undecryptable row is marked, not a 500 ---------


def test_the_list_decrypts_only_each_shown_rows_signing_secret(console, make_webhook, monkeypatch):
    from webhooks_app import crypto

    for i in range(3):
        webhook = make_webhook(f"https://h{i}.example.com/", name=f"Hook {i}", api_key=f"key-{i}-123456")
        services.webhook_secret_rotate(webhook=webhook)
    decrypted = []
    real = crypto.decrypt
    monkeypatch.setattr(crypto, "decrypt", lambda value: decrypted.append(value) or real(value))

    response = console.get(reverse("webhooks_app:webhook-list"))

    assert response.status_code == 200
    secrets = {real(token) for token in decrypted}
    assert secrets == set(Webhook.objects.values_list("secret", flat=True))  # one per row, no key


def test_a_row_whose_secret_cannot_be_decrypted_is_marked(console, make_webhook, settings):
    from cryptography.fernet import Fernet

    make_webhook("https://fine.example.com/", name="Fine")
    # Written with a key the site no longer has (ENCRYPTION_KEYS changed without keeping it).
    with override_settings(WEBHOOKS={**settings.WEBHOOKS, "ENCRYPTION_KEYS": [Fernet.generate_key()]}):
        broken = make_webhook("https://broken.example.com/", name="Broken", api_key="key-123456")

    response = console.get(reverse("webhooks_app:webhook-list"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Fine" in html and "Broken" in html
    assert html.count("The signing secret cannot be decrypted") == 1
    marker = html.index("The signing secret cannot be decrypted")
    assert html.rindex('data-webhook-row="', 0, marker) == html.index(f'data-webhook-row="{broken.pk}"')

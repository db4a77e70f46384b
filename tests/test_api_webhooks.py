"""REST API: webhooks CRUD, validation, secrets, test events and redelivery of failures."""

import json
from datetime import timedelta

import pytest
from django.urls import include, path
from django.utils import timezone

from tests.test_api_support import PUBLIC_URL, make_delivery
from webhooks_app.models import Delivery, Event, Webhook

pytest_plugins = ["tests.test_api_support"]
pytestmark = pytest.mark.django_db

LIST = "/api/webhooks/"


def detail(webhook_or_pk) -> str:
    return f"/api/webhooks/{getattr(webhook_or_pk, 'pk', webhook_or_pk)}/"


def valid_body(**overrides) -> dict:
    body = {
        "name": "CRM sync",
        "events": ["contact.created", "contact.updated"],
        "url": PUBLIC_URL,
        "api_key": "key-1234-abcd",
    }
    body.update(overrides)
    return body


# Create -------------------------------------------------------------------------


def test_create_returns_the_webhook_with_its_secret_once(admin_api, api_superuser):
    response = admin_api.post(LIST, valid_body(description="Sync contacts", timeout=5), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    webhook = Webhook.objects.get(pk=body["id"])
    assert response["Location"] == detail(webhook)
    assert body["secret"] == webhook.secret and body["secret"].startswith("whsec_")
    assert body["name"] == "CRM sync" and body["description"] == "Sync contacts"
    assert body["events"] == ["contact.created", "contact.updated"]
    assert body["notification_type"] == "REST" and body["payload_format"] == "json"
    assert body["enabled"] is True and body["timeout"] == 5 and body["filters"] == {}
    assert "api_key" not in body
    assert body["api_key_hint"] == "\u2022" * 8 + "abcd"
    assert body["created_by"] == body["updated_by"] == "root"
    assert body["last_delivery_status"] is None and body["success_rate_24h"] is None
    assert webhook.api_key == "key-1234-abcd" and webhook.created_by == api_superuser


def test_create_applies_defaults(admin_api):
    response = admin_api.post(LIST, {"name": "Minimal", "events": ["*"], "url": PUBLIC_URL}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["api_key_hint"] == "" and body["api_key_header"] == "X-API-Key"
    assert body["timeout"] is None and body["enabled"] is True


@pytest.mark.parametrize(
    ("events", "stored"),
    [
        (["contact.updated", "contact.created", "contact.updated"], ["contact.created", "contact.updated"]),
        (["contact.created", "*"], ["*"]),
        (["webhook.test"], ["webhook.test"]),
    ],
)
def test_create_normalizes_events(admin_api, events, stored):
    response = admin_api.post(LIST, valid_body(events=events), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["events"] == stored
    assert Webhook.objects.get().events == stored


# Reads --------------------------------------------------------------------------


def test_list_and_detail_never_show_secrets(admin_api, public_webhook):
    for url in (LIST, detail(public_webhook)):
        response = admin_api.get(url)
        assert response.status_code == 200
        text = response.content.decode()
        assert public_webhook.secret not in text
        assert "secret" not in (response.json()["results"][0] if url == LIST else response.json())


def test_list_is_paginated_and_searchable(admin_api, make_webhook):
    for i in range(3):
        make_webhook(PUBLIC_URL, name=f"Hook {i}")
    make_webhook("https://other.example.org/x", name="Billing")

    page = admin_api.get(LIST, {"page_size": 2}).json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    assert [w["name"] for w in page["results"]] == ["Billing", "Hook 0"]

    assert [w["name"] for w in admin_api.get(LIST, {"search": "bill"}).json()["results"]] == ["Billing"]
    assert admin_api.get(LIST, {"search": "other.example"}).json()["count"] == 1
    assert admin_api.get(LIST, {"search": "x" * 201}).status_code == 400
    assert admin_api.get(LIST, {"page": 99}).status_code == 404


def test_detail_shows_last_delivery_and_24h_success_rate(admin_api, public_webhook):
    for _ in range(3):
        make_delivery(public_webhook, status=Delivery.Status.SUCCEEDED, age=timedelta(hours=2))
    make_delivery(public_webhook, status=Delivery.Status.FAILED, age=timedelta(hours=1))
    make_delivery(public_webhook, status=Delivery.Status.FAILED, age=timedelta(days=3))  # too old
    latest = make_delivery(public_webhook, status=Delivery.Status.PENDING, attempts=0)

    body = admin_api.get(detail(public_webhook)).json()

    assert body["last_delivery_status"] == "pending"
    assert body["last_delivery_at"] == latest.created_at.isoformat().replace("+00:00", "Z")
    assert body["success_rate_24h"] == 0.75
    listed = admin_api.get(LIST).json()["results"][0]
    assert listed["success_rate_24h"] == 0.75 and listed["last_delivery_status"] == "pending"


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ("nul\x00", "Null characters are not allowed."),
        ("x" * 201, "Ensure this value has at most 200 characters (it has 201)."),
    ],
)
def test_a_search_the_database_cannot_take_is_a_400(admin_api, public_webhook, search, message):
    """The console's cleaning of the same parameter (webhooks_app.params), with the same message."""
    response = admin_api.get(LIST, {"search": search})

    assert response.status_code == 400
    assert response.json() == {"search": [message]}


def test_list_and_detail_decrypt_only_the_api_key_hint(admin_api, make_webhook, monkeypatch):
    from webhooks_app import crypto, services

    for i in range(3):
        webhook = make_webhook(PUBLIC_URL, name=f"Hook {i}", api_key=f"key-{i}-123456")
        services.webhook_secret_rotate(webhook=webhook)
    decrypted = []
    real = crypto.decrypt
    monkeypatch.setattr(crypto, "decrypt", lambda value: decrypted.append(value) or real(value))

    body = admin_api.get(LIST).json()
    assert [w["api_key_hint"][-4:] for w in body["results"]] == ["3456"] * 3
    assert {real(token) for token in decrypted} == {f"key-{i}-123456" for i in range(3)}

    decrypted.clear()
    admin_api.get(detail(body["results"][0]["id"]))
    assert [real(token) for token in decrypted] == ["key-0-123456"]


def test_a_webhook_whose_secrets_cannot_be_decrypted_still_lists(admin_api, make_webhook, settings):
    from cryptography.fernet import Fernet
    from django.test import override_settings

    make_webhook(PUBLIC_URL, name="Fine", api_key="fine-key-1234")
    with override_settings(WEBHOOKS={**settings.WEBHOOKS, "ENCRYPTION_KEYS": [Fernet.generate_key()]}):
        broken = make_webhook(PUBLIC_URL, name="Broken", api_key="lost-key-5678")

    response = admin_api.get(LIST)

    assert response.status_code == 200
    hints = {w["name"]: w["api_key_hint"] for w in response.json()["results"]}
    assert hints == {"Broken": "(cannot be decrypted)", "Fine": "\u2022" * 8 + "1234"}
    assert admin_api.get(detail(broken)).json()["api_key_hint"] == "(cannot be decrypted)"


def test_unknown_webhook_is_404(admin_api):
    assert admin_api.get(detail(999999)).status_code == 404
    assert admin_api.get("/api/webhooks/99999999999999999999999/").status_code == 404
    assert admin_api.get("/api/webhooks/abc/").status_code == 404


# Updates ------------------------------------------------------------------------


def test_put_replaces_and_keeps_the_api_key_when_omitted(admin_api, make_webhook, api_superuser):
    webhook = make_webhook(PUBLIC_URL, api_key="old-key-9999")

    # The same URL: a new one needs the key entered again (issue 18, tests/test_parity.py).
    response = admin_api.put(
        detail(webhook),
        {"name": "Renamed", "events": ["contact.deleted"], "url": PUBLIC_URL, "timeout": 30},
        format="json",
    )

    assert response.status_code == 200, response.json()
    webhook.refresh_from_db()
    assert (webhook.name, webhook.events, webhook.url, webhook.timeout) == (
        "Renamed",
        ["contact.deleted"],
        PUBLIC_URL,
        30,
    )
    assert webhook.api_key == "old-key-9999" and webhook.updated_by == api_superuser
    assert response.json()["api_key_hint"].endswith("9999")
    assert "secret" not in response.json()


def test_put_requires_the_required_fields(admin_api, public_webhook):
    response = admin_api.put(detail(public_webhook), {"name": "Only a name"}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"events", "url"}


def test_what_was_read_can_be_written_back(admin_api, public_webhook):
    read = admin_api.get(detail(public_webhook)).json()

    response = admin_api.put(detail(public_webhook), read, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["events"] == read["events"]


def test_undeclared_events_a_webhook_has_survive_a_round_trip(admin_api, make_webhook):
    webhook = make_webhook(PUBLIC_URL, events=["contact.created"])
    Webhook.objects.filter(pk=webhook.pk).update(events=["contact.created", "invoice.paid"])

    read = admin_api.get(detail(webhook)).json()
    assert admin_api.put(detail(webhook), read, format="json").status_code == 200
    assert admin_api.post(LIST, valid_body(events=["invoice.paid"]), format="json").status_code == 400


def test_patch_changes_only_what_is_sent(admin_api, make_webhook):
    webhook = make_webhook(PUBLIC_URL, api_key="secret-key-1", description="keep me")

    response = admin_api.patch(
        detail(webhook), {"timeout": 12, "filters": {"country": ["SE", "NO"]}}, format="json"
    )

    assert response.status_code == 200, response.json()
    webhook.refresh_from_db()
    assert webhook.timeout == 12 and webhook.filters == {"country": ["SE", "NO"]}
    assert webhook.description == "keep me" and webhook.api_key == "secret-key-1"


def test_patch_with_an_empty_api_key_removes_it(admin_api, make_webhook):
    webhook = make_webhook(PUBLIC_URL, api_key="secret-key-1")

    response = admin_api.patch(detail(webhook), {"api_key": ""}, format="json")

    assert response.status_code == 200
    assert response.json()["api_key_hint"] == ""
    webhook.refresh_from_db()
    assert webhook.api_key == ""


def test_disabling_and_enabling_through_the_api(admin_api, public_webhook):
    off = admin_api.patch(detail(public_webhook), {"enabled": False}, format="json").json()
    assert off["enabled"] is False and off["disabled_reason"] == "Disabled by a user."
    assert off["disabled_at"] is not None

    on = admin_api.patch(detail(public_webhook), {"enabled": True}, format="json").json()
    assert on["enabled"] is True and on["disabled_reason"] == "" and on["disabled_at"] is None


def test_delete_removes_the_webhook_and_its_deliveries(admin_api, public_webhook):
    make_delivery(public_webhook)

    assert admin_api.delete(detail(public_webhook)).status_code == 204
    assert not Webhook.objects.exists() and not Delivery.objects.exists()
    assert admin_api.delete(detail(public_webhook)).status_code == 404


# Validation ---------------------------------------------------------------------

INVALID = [
    ({"events": ["contact.exploded"]}, "events"),
    ({"events": []}, "events"),
    ({"events": "contact.created"}, "events"),
    ({"events": [["contact.created"]]}, "events"),
    ({"url": "ftp://hooks.example.com/in"}, "url"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "http://10.1.2.3/hook"}, "url"),
    ({"url": "https://user:pw@hooks.example.com/"}, "url"),
    ({"url": "https://hooks.example.com/" + "a" * 2000}, "url"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "n" * 101}, "name"),
    ({"name": 12}, "name"),  # a text is a JSON string, as the schema says (DRF would coerce)
    ({"name": ["a"]}, "name"),
    ({"name": "bad\x00name"}, "name"),
    ({"description": "d" * 1001}, "description"),
    ({"notification_type": "SOAP"}, "notification_type"),
    ({"payload_format": "yaml"}, "payload_format"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": 61}, "timeout"),
    ({"timeout": "soon"}, "timeout"),
    ({"timeout": 1.5}, "timeout"),
    ({"enabled": "maybe"}, "enabled"),
    ({"api_key": "line\nbreak"}, "api_key"),
    ({"api_key": "k" * 501}, "api_key"),
    ({"api_key": 123}, "api_key"),
    ({"enabled": 1}, "enabled"),
    ({"enabled": "true"}, "enabled"),
    ({"timeout": "5"}, "timeout"),
    ({"timeout": 5.0}, "timeout"),
    ({"api_key_header": "Content-Type"}, "api_key_header"),
    ({"api_key_header": "Bad Header"}, "api_key_header"),
    ({"filters": ["a"]}, "filters"),
    ({"filters": "x"}, "filters"),
    ({"filters": {"a": {"nested": 1}}}, "filters"),
    ({"filters": {"n": {"$gtee": 5}}}, "filters"),
    ({"filters": {"$or": []}}, "filters"),
    ({"filters": {"a": []}}, "filters"),
    ({"filters": {"": 1}}, "filters"),
    ({"filters": {"a": "nul\x00"}}, "filters"),
    ({"filters": {"a": "\ud800"}}, "filters"),
    ({"filters": {f"k{i}": i for i in range(51)}}, "filters"),
    ({"colour": "blue"}, "colour"),
    ({"secret": "whsec_mine"}, "secret"),
]


@pytest.mark.parametrize(("change", "field"), INVALID)
def test_invalid_webhooks_get_400_with_the_field_named(admin_api, change, field):
    # json.dumps escapes NUL and lone surrogates ("\\u0000"), as a client's JSON would.
    response = admin_api.generic(
        "POST", LIST, json.dumps(valid_body(**change)), content_type="application/json"
    )

    if field is None:
        assert response.status_code == 201, response.json()
        return
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    assert not Webhook.objects.exists()


def test_field_errors_are_all_reported_together(admin_api):
    response = admin_api.post(
        LIST, {"name": "", "events": ["nope"], "url": "ftp://x", "extra": 1}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"name", "events", "url", "extra"}
    assert body["extra"] == ["Unknown field."]
    assert "not a declared event type" in body["events"]["0"][0]


@pytest.mark.parametrize(
    ("content", "content_type", "code"),
    [
        ("{not json", "application/json", 400),
        ('["a", "list"]', "application/json", 400),
        ("null", "application/json", 400),
        ('{"name": NaN}', "application/json", 400),
        ("[" * 100_000 + "]" * 100_000, "application/json", 400),
        ("name=x&url=y", "application/x-www-form-urlencoded", 415),
        ("<a/>", "application/xml", 415),
    ],
)
def test_bodies_that_are_not_a_json_object_are_refused(admin_api, content, content_type, code):
    response = admin_api.generic("POST", LIST, content, content_type=content_type)

    assert response.status_code == code
    assert not Webhook.objects.exists()


def test_update_validation_reaches_the_model_rules(admin_api, public_webhook):
    response = admin_api.patch(detail(public_webhook), {"url": "http://192.168.1.10/"}, format="json")

    assert response.status_code == 400 and "url" in response.json()
    public_webhook.refresh_from_db()
    assert public_webhook.url == PUBLIC_URL


def test_full_clean_errors_become_field_errors(admin_api, public_webhook, monkeypatch):
    """Rules only the model knows (full_clean in the service) still give 400 per field."""
    from django.core.exceptions import ValidationError

    def refuse(self, *args, **kwargs):
        raise ValidationError({"name": ["Taken by the model."], "__all__": ["Whole object is off."]})

    monkeypatch.setattr(Webhook, "full_clean", refuse)
    response = admin_api.patch(detail(public_webhook), {"name": "New"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": ["Taken by the model."], "non_field_errors": ["Whole object is off."]}


# Secrets, tests and redelivery -----------------------------------------------------------


def test_secret_is_readable_and_rotatable(admin_api, public_webhook):
    old = public_webhook.secret

    read = admin_api.get(detail(public_webhook) + "secret/").json()
    assert read == {
        "id": public_webhook.pk,
        "secret": old,
        "previous_secret_expires_at": None,
        "encryption_key": "",
    }

    rotated = admin_api.post(detail(public_webhook) + "rotate-secret/")
    assert rotated.status_code == 200
    body = rotated.json()
    public_webhook.refresh_from_db()
    assert body["secret"] == public_webhook.secret != old
    assert public_webhook.previous_secret == old
    expires = public_webhook.previous_secret_expires_at
    assert body["previous_secret_expires_at"] == expires.isoformat().replace("+00:00", "Z")
    assert timedelta(hours=23) < expires - timezone.now() <= timedelta(hours=24)
    assert admin_api.get(detail(public_webhook) + "secret/").json()["secret"] == public_webhook.secret


def test_send_test_creates_a_webhook_test_delivery(admin_api, make_webhook):
    webhook = make_webhook(PUBLIC_URL, events=["contact.created"], enabled=False)

    response = admin_api.post(detail(webhook) + "test/")

    assert response.status_code == 201, response.json()
    body = response.json()
    delivery = Delivery.objects.get(pk=body["id"])
    assert body["webhook"] == webhook.pk and body["event_type"] == "webhook.test"
    assert body["status"] == "pending" and body["event_id"] == delivery.event_id
    event = Event.objects.get(pk=delivery.event_id)
    assert event.data["webhook"] == {"id": webhook.pk, "name": webhook.name}
    assert event.context["actor"] == "root" and event.context["source"] == "test"


def test_redeliver_failed_since_a_moment(admin_api, public_webhook):
    failed_recent = [
        make_delivery(public_webhook, status=Delivery.Status.FAILED, age=timedelta(hours=h)) for h in (1, 2)
    ]
    make_delivery(public_webhook, status=Delivery.Status.FAILED, age=timedelta(days=2))
    make_delivery(public_webhook, status=Delivery.Status.SUCCEEDED, age=timedelta(hours=1))
    since = (timezone.now() - timedelta(hours=6)).isoformat()

    response = admin_api.post(detail(public_webhook) + "redeliver-failed/", {"since": since}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json() == {"count": 2}
    new = Delivery.objects.filter(status=Delivery.Status.PENDING)
    assert sorted(new.values_list("event_id", flat=True)) == sorted(d.event_id for d in failed_recent)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"since": "yesterday"},
        {"since": (timezone.now() + timedelta(days=1)).isoformat()},
        {"since": "2024-01-01T00:00:00Z", "until": "2024-02-01T00:00:00Z"},
    ],
)
def test_redeliver_failed_validates_since(admin_api, public_webhook, body):
    response = admin_api.post(detail(public_webhook) + "redeliver-failed/", body, format="json")

    assert response.status_code == 400
    assert set(response.json()) <= {"since", "until"}


# Reusable app: another mount point and namespace ----------------------------------------

urlpatterns = [
    path("automation/", include(("webhooks_app.api.urls", "webhooks_api"), namespace="automation")),
]


@pytest.mark.urls(__name__)
def test_the_api_works_under_another_prefix_and_namespace(admin_api):
    created = admin_api.post("/automation/webhooks/", valid_body(), format="json")

    assert created.status_code == 201
    assert created["Location"] == f"/automation/webhooks/{created.json()['id']}/"
    assert "/automation/schema/" in admin_api.get("/automation/docs/").content.decode()
    paths = admin_api.get("/automation/schema/", {"format": "json"}).json()["paths"]
    assert "/automation/webhooks/{id}/rotate-secret/" in paths

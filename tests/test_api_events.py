"""REST API: the declared event types and emitting events."""

import json

import pytest

from tests.test_api_support import PUBLIC_URL
from webhooks_app.events import registry
from webhooks_app.models import Delivery, Event

pytest_plugins = ["tests.test_api_support"]
pytestmark = pytest.mark.django_db

EMIT = "/api/events/"


def test_event_types_lists_the_registry(admin_api):
    response = admin_api.get("/api/event-types/")

    assert response.status_code == 200
    body = response.json()
    assert [t["name"] for t in body] == registry.names()
    by_name = {t["name"]: t for t in body}
    assert by_name["contact.updated"] == {
        "name": "contact.updated",
        "description": "A contact was updated.",
        "resource": "contact",
        "label": "contact.updated",
        "deliverable": True,
    }
    assert by_name["webhook.test"]["resource"] == "webhook"


def test_event_types_follow_the_settings(admin_api, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "EVENTS": {"invoice.paid": "An invoice was paid."}}

    names = [t["name"] for t in admin_api.get("/api/event-types/").json()]

    assert "invoice.paid" in names
    created = admin_api.post(EMIT, {"event_type": "invoice.paid"}, format="json")
    assert created.status_code == 201, created.json()


def test_emit_records_the_event_and_a_delivery_per_subscribed_webhook(admin_api, make_webhook):
    subscribed = make_webhook(PUBLIC_URL, name="Contacts", events=["contact.created"])
    make_webhook(PUBLIC_URL, name="All", events=["*"], filters={"country": "SE"})
    make_webhook(PUBLIC_URL, name="Other type", events=["contact.deleted"])
    make_webhook(PUBLIC_URL, name="Off", events=["*"], enabled=False)

    response = admin_api.post(
        EMIT,
        {"event_type": "contact.created", "data": {"id": 42, "country": "NO"}, "context": {"tenant": "acme"}},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    event = Event.objects.get(pk=body["id"])
    assert body == {
        "id": event.id,
        "event_type": "contact.created",
        "event_time": event.created_at.isoformat().replace("+00:00", "Z"),
        "deliveries": 1,
    }
    assert event.id.startswith("evt_") and event.data == {"id": 42, "country": "NO"}
    assert event.context["tenant"] == "acme"
    assert event.context["actor"] == "root" and event.context["source"] == "api"
    assert list(Delivery.objects.values_list("webhook_id", "status")) == [(subscribed.pk, "pending")]


def test_emit_with_no_subscriber_stores_nothing(admin_api):
    response = admin_api.post(EMIT, {"event_type": "contact.deleted", "data": {"id": 1}}, format="json")

    assert response.status_code == 201
    assert response.json()["deliveries"] == 0 and response.json()["id"].startswith("evt_")
    assert not Event.objects.exists()


def test_emit_context_from_the_body_is_kept(admin_api, make_webhook):
    make_webhook(PUBLIC_URL, events=["*"])

    admin_api.post(
        EMIT, {"event_type": "contact.updated", "context": {"source": "crm-import"}}, format="json"
    )

    assert Event.objects.get().context["source"] == "crm-import"


INVALID = [
    ({"event_type": "contact.exploded"}, "event_type"),
    ({"event_type": ""}, "event_type"),
    ({"event_type": ["contact.created"]}, "event_type"),
    ({}, "event_type"),
    ({"event_type": "contact.created", "data": [1, 2]}, "data"),
    ({"event_type": "contact.created", "data": "text"}, "data"),
    ({"event_type": "contact.created", "data": {"a": "nul\x00"}}, "data"),
    ({"event_type": "contact.created", "data": {"nul\x00key": 1}}, "data"),
    ({"event_type": "contact.created", "data": {"a": "\udfff"}}, "data"),
    ({"event_type": "contact.created", "data": json.loads("[" * 40 + "]" * 40)}, "data"),
    ({"event_type": "contact.created", "context": "api"}, "context"),
    ({"event_type": "contact.created", "context": {"who": "\x00"}}, "context"),
    ({"event_type": "contact.created", "payload": {}}, "payload"),
]


@pytest.mark.parametrize(("body", "field"), INVALID)
def test_invalid_events_get_400_with_the_field_named(admin_api, make_webhook, body, field):
    make_webhook(PUBLIC_URL, events=["*"])

    response = admin_api.generic("POST", EMIT, json.dumps(body), content_type="application/json")

    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not Event.objects.exists()


def test_the_test_event_is_refused_with_the_field_named(admin_api, make_webhook):
    make_webhook(PUBLIC_URL, events=["*"])

    response = admin_api.post(EMIT, {"event_type": "webhook.test", "data": {"id": 1}}, format="json")

    assert response.status_code == 400, response.content
    [message] = response.json()["event_type"]
    assert message.startswith('"webhook.test" is sent only by a webhook\'s test action')
    assert "POST /api/webhooks/{id}/test/" in message
    assert not Event.objects.exists() and not Delivery.objects.exists()
    # The schema does not offer it either.
    schema = admin_api.get("/api/schema/", {"format": "json"}).json()
    enum = schema["components"]["schemas"]["EventTypeEnum"]["enum"]
    assert "webhook.test" not in enum and "contact.created" in enum


def test_deeply_nested_data_is_refused(admin_api):
    body = {"event_type": "contact.created", "data": {"a": json.loads("[" * 40 + "]" * 40)}}

    response = admin_api.post(EMIT, body, format="json")

    assert response.status_code == 400
    # The same strict-JSON check (payloads.to_jsonable) and message as emit().
    assert response.json()["data"] == [
        "The event data is nested too deeply: at most 32 levels of objects and lists."
    ]


def test_payload_over_the_size_limit_is_a_400_from_the_service(admin_api, make_webhook, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "MAX_PAYLOAD_BYTES": 1000}
    make_webhook(PUBLIC_URL, events=["*"])

    response = admin_api.post(
        EMIT, {"event_type": "contact.created", "data": {"blob": "x" * 2000}}, format="json"
    )

    assert response.status_code == 400
    assert "MAX_PAYLOAD_BYTES" in response.json()["data"][0]
    assert not Event.objects.exists()


def test_an_event_type_undeclared_between_validation_and_emit_is_a_400(admin_api, monkeypatch):
    """The serializer and the service read the registry separately; the service's refusal is a 400 too."""
    from webhooks_app.exceptions import UnknownEventType

    def refuse(**kwargs):
        raise UnknownEventType("Event type 'contact.created' is not declared.")

    monkeypatch.setattr("webhooks_app.services.event_emit", refuse)
    response = admin_api.post(EMIT, {"event_type": "contact.created"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"event_type": ["Event type 'contact.created' is not declared."]}

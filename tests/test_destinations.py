"""Per-recipient destinations (Engagespot's webhookUrl): each contact's events go to its own receiver."""

import contextlib

import pytest
from django.db import transaction
from django.test import TestCase

from config.contacts.models import Contact
from tests.receiver import Receiver
from webhooks_app import emit, services, signing
from webhooks_app.models import Attempt, Delivery, Webhook

pytest_plugins = ["tests.test_api_support"]
pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def committed():
    with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        yield


@pytest.fixture
def second_receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def recipient_webhook(make_webhook):
    return make_webhook("", name="Per contact", events=["contact.*"], destination="recipient")


def test_each_contacts_events_reach_its_own_receiver_signed(recipient_webhook, receiver, second_receiver):
    with committed():
        ada = Contact.objects.create(name="Ada", webhook_url=receiver.url)
    with committed():
        bob = Contact.objects.create(name="Bob", webhook_url=second_receiver.url)
    with committed():
        ada.accepts_email = True
        ada.save()

    to_ada = receiver.wait_for(3)  # created, updated, accepts_email.changed
    to_bob = second_receiver.wait_for(1)
    assert [r.verify(recipient_webhook.secret)["data"]["id"] for r in to_ada] == [ada.pk] * 3
    assert {r.json()["event_type"] for r in to_ada} == {
        "contact.created",
        "contact.updated",
        "contact.accepts_email.changed",
    }
    assert to_bob[0].verify(recipient_webhook.secret)["data"]["id"] == bob.pk
    # Each delivery records where it went; the attempt log says the same.
    for delivery in Delivery.objects.filter(webhook=recipient_webhook):
        expected = receiver.url if delivery.event.data["id"] == ada.pk else second_receiver.url
        assert delivery.url == expected and delivery.status == Delivery.Status.SUCCEEDED
        assert Attempt.objects.get(delivery=delivery).request_url == expected


def test_a_contact_without_a_url_gives_a_skipped_delivery_with_the_reason(recipient_webhook, receiver):
    with committed():
        Contact.objects.create(name="Nobody")
    delivery = Delivery.objects.get(webhook=recipient_webhook)
    assert delivery.status == Delivery.Status.SKIPPED
    assert delivery.url == "" and delivery.attempt_count == 0
    assert delivery.last_error == "The event has no recipient URL."
    assert not receiver.requests and not Attempt.objects.exists()


def test_a_deleted_contacts_event_goes_to_the_url_it_had(recipient_webhook, receiver):
    contact = Contact.objects.create(name="Ada", webhook_url=receiver.url)
    with committed():
        contact.delete()
    requests = receiver.wait_for(2)  # its creation's and its deletion's
    assert "contact.deleted" in [r.json()["event_type"] for r in requests]
    deleted = Delivery.objects.get(event_type="contact.deleted")
    assert deleted.url == receiver.url and deleted.status == Delivery.Status.SUCCEEDED


def test_a_url_webhook_next_to_it_is_unchanged(recipient_webhook, make_webhook, receiver, second_receiver):
    plain = make_webhook(second_receiver.url, name="CRM", events=["contact.created"])
    with committed():
        Contact.objects.create(name="Ada", webhook_url=receiver.url)
    assert receiver.wait_for(1)[0].json()["event_type"] == "contact.created"
    assert second_receiver.wait_for(1)[0].verify(plain.secret)["data"]["name"] == "Ada"


# The webhook's destination through the API and the model rule ----------------------------------


def test_api_creates_a_recipient_webhook_without_a_url(admin_api):
    body = {"name": "Per contact", "events": ["contact.*"], "destination": "recipient"}
    created = admin_api.post("/api/webhooks/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["destination"] == "recipient" and created.json()["url"] == ""
    missing = admin_api.post("/api/webhooks/", {**body, "destination": "url"}, format="json")
    assert missing.status_code == 400 and "url" in missing.json()
    bad = admin_api.post("/api/webhooks/", {**body, "destination": "elsewhere"}, format="json")
    assert bad.status_code == 400 and "destination" in bad.json()


def test_api_delivery_shows_its_url_and_the_skipped_status(admin_api, recipient_webhook):
    with committed():
        Contact.objects.create(name="Nobody")
    listed = admin_api.get(f"/api/webhooks/{recipient_webhook.pk}/deliveries/", {"status": "skipped"})
    [row] = listed.json()["results"]
    assert row["status"] == "skipped" and row["url"] == ""
    assert row["last_error"] == "The event has no recipient URL."
    detail = admin_api.get(f"/api/deliveries/{row['id']}/").json()
    assert detail["url"] == "" and detail["status"] == "skipped"


def test_the_service_keeps_the_rule_url_required_for_url_destination(make_webhook):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        services.webhook_create(name="x", events=["*"], url="", destination="url")
    assert "url" in exc.value.message_dict
    assert make_webhook("", destination="recipient").destination == Webhook.Destination.RECIPIENT


# The demo's contact endpoint ----------------------------------------------------------------------


def test_patch_a_contacts_webhook_url(admin_api, token_client_for, make_api_user):
    contact = Contact.objects.create(name="Ada")
    url = f"/api/contacts/{contact.pk}/webhook-url/"

    response = admin_api.patch(url, {"webhook_url": "https://ada.example.com/hook"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"id": contact.pk, "name": "Ada", "webhook_url": "https://ada.example.com/hook"}
    contact.refresh_from_db()
    assert contact.webhook_url == "https://ada.example.com/hook"
    assert admin_api.get(url).json()["webhook_url"] == "https://ada.example.com/hook"

    # The same validation as a webhook's URL.
    for bad in ("ftp://files.example.com/x", "http://10.0.0.5/hook", "not a url"):
        refused = admin_api.patch(url, {"webhook_url": bad}, format="json")
        assert refused.status_code == 400 and "webhook_url" in refused.json(), bad
    assert admin_api.patch(url, {"webhook_url": ""}, format="json").json()["webhook_url"] == ""
    assert admin_api.put(url, {"webhook_url": ""}, format="json").status_code == 405
    assert (
        admin_api.patch("/api/contacts/999999/webhook-url/", {"webhook_url": ""}, format="json").status_code
        == 404
    )

    reader = token_client_for(make_api_user("contacts.view_contact"))
    assert reader.get(url).status_code == 200
    assert reader.patch(url, {"webhook_url": ""}, format="json").status_code == 403


def test_a_test_event_of_a_recipient_webhook_says_it_was_skipped(admin_client, recipient_webhook):
    from django.urls import reverse

    response = admin_client.post(
        reverse("webhooks_app:webhook-test", args=[recipient_webhook.pk]), follow=True
    )
    assert "Test event skipped: The event has no recipient URL." in response.content.decode()
    assert Delivery.objects.get().status == Delivery.Status.SKIPPED


# What the recipient URL callable returns is checked like a webhook's URL ----------------------


def recipient_url_from_data(event):
    """A RECIPIENT_URL for tests that returns whatever the event data says (never do this in a
    host: whoever emits the event would choose the destination)."""
    return (event.data or {}).get("url")


def url_of_length(length: int, receiver) -> str:
    base = receiver.url + "?pad="
    return base + "a" * (length - len(base))


@pytest.fixture
def recipient_from_data(settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RECIPIENT_URL": f"{__name__}.recipient_url_from_data"}


@pytest.mark.parametrize("length", [2001, 2048, 5000])
def test_an_over_long_recipient_url_is_a_skipped_delivery_not_an_error_in_the_hosts_save(
    recipient_webhook, recipient_from_data, receiver, length
):
    """URLValidator allows 2,048 characters, Delivery.url holds 2,000: on PostgreSQL the
    emit failed with DataError and took the host's save down with it."""
    url = url_of_length(length, receiver)
    with committed():
        contact = Contact.objects.create(name="Ada")  # the host's own save in the same transaction
        emit("contact.updated", data={"id": contact.pk, "url": url})

    assert Contact.objects.filter(pk=contact.pk).exists()
    delivery = Delivery.objects.get(webhook=recipient_webhook, event_type="contact.updated")
    assert delivery.status == Delivery.Status.SKIPPED and delivery.url == ""
    assert delivery.last_error.startswith("The recipient URL 'http://127.0.0.1:")
    assert "at most 2000 characters" in delivery.last_error and len(delivery.last_error) <= 500
    assert not receiver.requests


def test_a_recipient_url_of_exactly_the_limit_is_delivered(recipient_webhook, recipient_from_data, receiver):
    url = url_of_length(2000, receiver)
    with committed():
        emit("contact.updated", data={"id": 1, "url": url})

    [request] = receiver.wait_for(1)
    assert request.verify(recipient_webhook.secret)["data"]["id"] == 1
    delivery = Delivery.objects.get(webhook=recipient_webhook)
    assert delivery.url == url and delivery.status == Delivery.Status.SUCCEEDED
    assert Attempt.objects.get(delivery=delivery).request_url == url


def test_every_url_field_has_the_same_limit():
    from config.contacts.models import Contact as DemoContact
    from webhooks_app.validators import URL_MAX_LENGTH

    assert URL_MAX_LENGTH == 2000
    for field in (
        Webhook._meta.get_field("url"),
        Delivery._meta.get_field("url"),
        Attempt._meta.get_field("request_url"),
        DemoContact._meta.get_field("webhook_url"),
    ):
        assert field.max_length == URL_MAX_LENGTH, field


# Who chooses a recipient URL, and what goes there (issue 18) -----------------------------------

API_KEY, HEADER_VALUE = "partner-key-123456", "tenant-secret-value"
CREDENTIAL_HEADERS = ("X-Partner-Token", "X-Tenant-Secret", "X-Secret-Hash")


@pytest.fixture
def credentialed_recipient_webhook(make_webhook):
    """A recipient webhook that carries the operator's credentials for a partner."""
    return make_webhook(
        "",
        name="Per contact",
        events=["contact.*"],
        destination="recipient",
        api_key=API_KEY,
        api_key_header="X-Partner-Token",
        headers={"X-Tenant-Secret": HEADER_VALUE},
        secret_hash_header="X-Secret-Hash",
    )


def credentials_in(headers: dict) -> dict:
    """The credential headers of a request (names compared case-insensitively), and any header
    whose value is one of the credentials whatever its name."""
    lowered = {n.lower() for n in CREDENTIAL_HEADERS}
    return {n: v for n, v in headers.items() if n.lower() in lowered or API_KEY in v or HEADER_VALUE in v}


def test_an_emitter_cannot_send_a_deleted_contacts_event_to_a_url_of_its_choice(
    credentialed_recipient_webhook, make_api_user, token_client_for, receiver
):
    """The attack of issue 18: a user who may only emit events, and cannot even read the
    webhook, names the destination in the event data of a contact that does not exist."""
    attacker = receiver
    emitter = token_client_for(make_api_user("webhooks_app.add_event"))
    assert emitter.get(f"/api/webhooks/{credentialed_recipient_webhook.pk}/").status_code == 403

    response = emitter.post(
        "/api/events/",
        {"event_type": "contact.deleted", "data": {"id": 555555, "webhook_url": attacker.url}},
        format="json",
    )

    assert response.status_code == 201, response.json()
    delivery = Delivery.objects.get(webhook=credentialed_recipient_webhook)
    assert delivery.status == Delivery.Status.SKIPPED and delivery.url == ""
    assert delivery.last_error == "The event has no recipient URL."
    services.deliveries_drain(seconds=2)
    assert attacker.requests == []


def test_a_deleted_contacts_url_is_remembered_only_while_it_is_deleted(
    recipient_webhook, make_api_user, token_client_for, receiver, second_receiver
):
    ada = Contact.objects.create(name="Ada", webhook_url=receiver.url)
    bob = Contact.objects.create(name="Bob", webhook_url=receiver.url)
    with committed():
        Contact.objects.filter(pk__in=[ada.pk, bob.pk]).delete()  # a queryset delete too
    deleted = Delivery.objects.filter(event_type="contact.deleted")
    assert sorted(d.event.data["id"] for d in deleted) == sorted([ada.pk, bob.pk])
    assert {d.url for d in deleted} == {receiver.url}
    receiver.wait_for(4)  # two creations, two deletions

    # Afterwards the id names nobody: an emitter's contact.deleted of it goes nowhere.
    emitter = token_client_for(make_api_user("webhooks_app.add_event"))
    body = {"event_type": "contact.deleted", "data": {"id": ada.pk, "webhook_url": second_receiver.url}}
    assert emitter.post("/api/events/", body, format="json").status_code == 201
    replayed = Delivery.objects.filter(event_type="contact.deleted").order_by("-pk").first()
    assert replayed.status == Delivery.Status.SKIPPED
    services.deliveries_drain(seconds=2)
    assert second_receiver.requests == []


def test_a_recipient_url_gets_no_credentials_unless_the_webhook_says_so(
    credentialed_recipient_webhook, recipient_from_data, receiver
):
    """Whoever can emit an event or set a recipient's URL chooses where it goes: the API
    key, the custom headers and the secret hash are the operator's, for the operator's
    partner, and stay home unless the webhook says they go to every recipient."""
    webhook = credentialed_recipient_webhook
    assert webhook.recipient_credentials is False
    with committed():
        emit("contact.updated", data={"id": 1, "url": receiver.url})

    [request] = receiver.wait_for(1)
    assert request.verify(webhook.secret)["data"]["id"] == 1  # still signed
    assert request.headers["X-Webhook-Signature"] and request.headers["webhook-signature"]
    assert credentials_in(request.headers) == {}
    attempt = Attempt.objects.get(delivery__webhook=webhook)
    assert credentials_in(attempt.request_headers) == {}

    # Turning it on sends the stored credentials to new addresses: they are entered again.
    services.webhook_update(
        webhook=webhook,
        recipient_credentials=True,
        api_key=API_KEY,
        headers={"X-Tenant-Secret": HEADER_VALUE},
    )
    with committed():
        emit("contact.updated", data={"id": 2, "url": receiver.url})

    second = receiver.wait_for(2)[1]
    assert second.verify(webhook.secret)["data"]["id"] == 2
    assert second.headers["X-Partner-Token"] == API_KEY
    assert second.headers["X-Tenant-Secret"] == HEADER_VALUE
    assert second.headers["X-Secret-Hash"] == signing.secret_hash(webhook.secret)
    logged = Attempt.objects.filter(delivery__webhook=webhook).order_by("-pk").first().request_headers
    assert API_KEY not in str(logged) and HEADER_VALUE not in str(logged)  # masked as always
    assert {"X-Partner-Token", "X-Tenant-Secret", "X-Secret-Hash"} <= set(logged)


def test_a_url_webhook_keeps_sending_its_credentials(make_webhook, receiver):
    webhook = make_webhook(
        receiver.url,
        api_key=API_KEY,
        api_key_header="X-Partner-Token",
        headers={"X-Tenant-Secret": HEADER_VALUE},
    )
    with committed():
        emit("contact.updated", data={"id": 1})
    [request] = receiver.wait_for(1)
    assert request.headers["X-Partner-Token"] == API_KEY
    assert request.headers["X-Tenant-Secret"] == HEADER_VALUE
    assert webhook.recipient_credentials is False  # the switch is about recipient URLs only


def test_the_switch_is_documented_and_set_the_same_by_every_way_in(admin_api, admin_client):
    from django.urls import reverse

    schema = admin_api.get("/api/schema/", {"format": "json"}).json()
    field = schema["components"]["schemas"]["Webhook"]["properties"]["recipient_credentials"]
    assert field["type"] == "boolean" and "recipient" in field["description"]

    body = {"name": "API", "events": ["contact.*"], "destination": "recipient"}
    created = admin_api.post("/api/webhooks/", {**body, "recipient_credentials": True}, format="json")
    assert created.status_code == 201 and created.json()["recipient_credentials"] is True
    plain = admin_api.post("/api/webhooks/", {**body, "name": "API plain"}, format="json")
    assert plain.json()["recipient_credentials"] is False

    form = admin_client.get(reverse("webhooks_app:webhook-create")).content.decode()
    assert 'name="recipient_credentials"' in form
    console = {
        "name": "Console",
        "events": ["contact.*"],
        "notification_type": "REST",
        "url": "",
        "destination": "recipient",
        "api_key_header": "X-API-Key",
        "payload_format": "json",
        "filters": "{}",
        "enabled": "on",
        "recipient_credentials": "on",
    }
    assert admin_client.post(reverse("webhooks_app:webhook-create"), console).status_code == 302
    admin_form = {
        "name": "Admin",
        "description": "",
        "events": '["contact.*"]',
        "notification_type": "REST",
        "url": "",
        "destination": "recipient",
        "api_key_header": "X-API-Key",
        "enabled": "on",
        "payload_format": "json",
        "filters": "{}",
        "timeout": "",
        "recipient_credentials": "on",
    }
    assert admin_client.post(reverse("admin:webhooks_app_webhook_add"), admin_form).status_code == 302
    stored = dict(Webhook.objects.values_list("name", "recipient_credentials"))
    assert stored == {"API": True, "API plain": False, "Console": True, "Admin": True}

"""Input: what emit() and webhook configuration refuse, with a clear error, before any write."""

import base64
import datetime
import decimal
import json
import uuid
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from tests.receiver import Reply
from tests.test_api_support import PUBLIC_URL, make_delivery
from webhooks_app import emit, services
from webhooks_app.exceptions import InvalidEventData, UnknownEventType
from webhooks_app.models import Attempt, Delivery, Event, Webhook, WebhookSettings
from webhooks_app.payloads import render

pytest_plugins = ["tests.test_api_support"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribed(make_webhook):
    return make_webhook("http://127.0.0.1:9/hook", events=["*"])


def nothing_written():
    return not (Event.objects.exists() or Delivery.objects.exists() or Attempt.objects.exists())


def payload_limit(limit):
    return override_settings(WEBHOOKS={**settings.WEBHOOKS, "MAX_PAYLOAD_BYTES": limit})


# Payload size ---------------------------------------------------------------------------


def test_a_payload_over_the_limit_is_refused_at_emit_and_nothing_is_written(subscribed):
    with payload_limit(1000), pytest.raises(InvalidEventData) as caught:
        emit("contact.updated", data={"note": "x" * 2000})
    message = str(caught.value)
    assert "MAX_PAYLOAD_BYTES" in message and "allows 1000" in message
    assert nothing_written()


def test_the_limit_is_exact_and_counts_bytes_of_the_rendered_body(subscribed):
    data = {"note": "\u00e9" * 300}  # 300 characters, 600 bytes in UTF-8
    probe = Event(
        event_type="contact.updated", data=data, context={}, created_at=datetime.datetime.now(datetime.UTC)
    )
    size = len(render(probe, "json")[1].encode())
    assert size > 600

    with payload_limit(size - 1), pytest.raises(InvalidEventData):
        emit("contact.updated", data=data)
    assert nothing_written()
    with payload_limit(size):
        event = emit("contact.updated", data=data)
    assert Event.objects.get().pk == event.pk and Delivery.objects.count() == 1


def test_the_default_limit_is_256_kib(subscribed):
    with pytest.raises(InvalidEventData):
        emit("contact.updated", data={"blob": "x" * (256 * 1024)})
    emit("contact.updated", data={"blob": "x" * (200 * 1024)})
    assert Event.objects.count() == 1


def test_an_oversized_payload_is_refused_even_when_no_webhook_listens():
    with payload_limit(100), pytest.raises(InvalidEventData):
        emit("contact.updated", data={"note": "x" * 200})


# Event data that cannot be serialized -------------------------------------------------------


def _circular():
    data = {"a": 1}
    data["self"] = data
    return data


def _deep():
    data = current = {}
    for _ in range(5000):
        current["a"] = {}
        current = current["a"]
    return data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"obj": object()}, "cannot be serialized"),
        ({"when": datetime.UTC}, "cannot be serialized"),
        ({1j: "complex key"}, "cannot be serialized"),
        ({"values": [1, 2, {3, object()}]}, "cannot be serialized"),
        (_circular(), "cannot be serialized"),
        (_deep(), "nested too deeply"),
        ({"x": float("nan")}, "NaN or Infinity"),
        ({"x": [float("inf")]}, "NaN or Infinity"),
    ],
    ids=["object", "tzinfo", "complex-key", "set-of-object", "circular", "deep", "nan", "inf"],
)
def test_unserializable_event_data_is_refused_at_emit(subscribed, data, expected):
    with pytest.raises(InvalidEventData) as caught:
        emit("contact.updated", data=data)
    assert expected in str(caught.value)
    assert "event data" in str(caught.value)
    assert nothing_written()


def test_unserializable_context_is_refused_at_emit(subscribed):
    with pytest.raises(InvalidEventData) as caught:
        emit("contact.updated", data={"id": 1}, context={"actor": object()})
    assert "event context" in str(caught.value)
    assert nothing_written()


def test_common_python_values_are_serialized(subscribed):
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    ident = uuid.UUID(int=7)
    emit(
        "contact.updated",
        data={
            "when": when,
            "price": decimal.Decimal("1.50"),
            "id": ident,
            "tags": {"b", "a"},
            "raw": b"\x00",
        },
    )
    stored = Event.objects.get().data
    assert stored == {
        "when": "2026-01-02T03:04:05Z",
        "price": "1.50",
        "id": str(ident),
        "tags": ["a", "b"],
        "raw": "AA==",
    }


def test_an_undeclared_event_type_is_refused_and_nothing_is_written(subscribed):
    with pytest.raises(UnknownEventType):
        emit("contact.exploded", data={"id": 1})
    assert nothing_written()


# Header names and values from configuration ---------------------------------------------

BAD_HEADER_NAMES = [
    "X-Key\r\nEvil: 1",
    "X-Key\nEvil: 1",
    "X-Key\n",
    "X-Key\r",
    "X Key",
    "X-Key:",
    "X-Key\x00",
    "",
    "X-K\u00e9y",
    "x" * 65,
    "Content-Type",
    "host",
    "Webhook-Signature",
    "Transfer-Encoding",
]

BAD_HEADER_VALUES = [
    "secret\nEvil: 1",
    "secret\r\nEvil: 1",
    "secret\r",
    "secret\n",
    "secret\x00",
    "sec\x01ret",
    "sec\x7fret",
    "sec\tret",
    " secret",
    "secret ",
    "s\u00e9cret",
    "\u043a\u043b\u044e\u0447",
    "x" * 501,
]


@pytest.mark.parametrize("name", BAD_HEADER_NAMES, ids=repr)
def test_bad_api_key_header_names_are_refused(name):
    with pytest.raises(ValidationError) as caught:
        services.webhook_create(
            name="h", events=["*"], url="https://hooks.example.test/", api_key="k", api_key_header=name
        )
    assert "api_key_header" in caught.value.message_dict
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("value", BAD_HEADER_VALUES, ids=repr)
def test_bad_api_key_values_are_refused_on_create_and_update(value, make_webhook):
    with pytest.raises(ValidationError) as caught:
        services.webhook_create(name="h", events=["*"], url="https://hooks.example.test/", api_key=value)
    assert "api_key" in caught.value.message_dict

    webhook = make_webhook("https://hooks.example.test/", api_key="good-key")
    with pytest.raises(ValidationError):
        services.webhook_update(webhook=webhook, api_key=value)
    assert Webhook.objects.get(pk=webhook.pk).api_key == "good-key"


@pytest.mark.parametrize("name", ["X-API-Key", "Authorization", "X_Token", "x-custom.key~1"])
def test_good_header_names_are_accepted(name, make_webhook):
    assert make_webhook("https://hooks.example.test/", api_key="Bearer abc.DEF-123_~+/=", api_key_header=name)


def test_a_bad_header_that_bypassed_validation_still_injects_nothing(make_webhook, receiver):
    webhook = make_webhook(receiver.url, api_key="good-key")
    # Written past full_clean, as a careless migration or shell session might.
    Webhook.objects.filter(pk=webhook.pk).update(api_key="k\r\nX-Evil: 1", api_key_header="X-Key\r\nX-Bad: 2")
    event = services.event_emit(event_type="contact.updated", data={"id": 1}, webhooks=[webhook])
    services.delivery_attempt(delivery_id=Delivery.objects.get(event_id=event.pk).pk)

    attempt = Attempt.objects.get(delivery__event_id=event.pk)
    assert attempt.error_class == "other" and attempt.response_status is None
    assert "X-Evil" not in attempt.error_message
    assert all("X-Evil" not in r.headers and "X-Bad" not in r.headers for r in receiver.requests)
    assert receiver.requests == []


# URLs -----------------------------------------------------------------------------------

BAD_URLS = {
    "credentials": "https://user:pass@hooks.example.test/",
    "user-only": "https://user@hooks.example.test/",
    "space-in-host": "https://hooks example.test/",
    "space-in-path": "https://hooks.example.test/a b",
    "leading-space": " https://hooks.example.test/",
    "crlf": "https://hooks.example.test/\r\nX-Evil: 1",
    "tab": "https://hooks.example.test/\tx",
    "nul": "https://hooks.example.test/\x00",
    "del": "https://hooks.example.test/\x7f",
    "javascript": "javascript:alert(1)",
    "javascript-slashes": "javascript://hooks.example.test/%0aalert(1)",
    "ftp": "ftp://hooks.example.test/file",
    "file": "file:///etc/passwd",
    "gopher": "gopher://hooks.example.test:70/_",
    "data": "data:text/plain,hi",
    "no-scheme": "//hooks.example.test/",
    "no-host": "https:///path",
    "port-zero": "https://hooks.example.test:0/",
    "port-too-big": "https://hooks.example.test:70000/",
    "not-a-url": "hooks",
}


@pytest.mark.parametrize("url", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_bad_urls_are_refused(url):
    with pytest.raises(ValidationError) as caught:
        services.webhook_create(name="h", events=["*"], url=url)
    assert caught.value.message_dict.get("url"), caught.value.message_dict
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://user:pass@hooks.example.test/", "Put credentials in the API Key field"),
        ("ftp://hooks.example.test/", "must start with http:// or https://"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("https://hooks.example.test/a b", "spaces, line breaks or control characters"),
    ],
)
def test_url_errors_say_what_is_wrong(url, message):
    with pytest.raises(ValidationError) as caught:
        Webhook(name="h", events=["*"], url=url).full_clean()
    assert any(message in m for m in caught.value.message_dict["url"]), caught.value.message_dict["url"]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.test/",
        "http://hooks.example.test:8080/in?token=abc&x=1",
        "HTTPS://Hooks.Example.Test/Path",
        "https://b\u00fccher.example/hook",
        "https://93.184.215.14/hook",
        "https://[2606:4700:4700::1111]/hook",
    ],
)
def test_good_urls_are_accepted(url, make_webhook):
    assert make_webhook(url).pk


# Reserved header names (README: names the app sets itself, webhook-*, X-Webhook-*, hop-by-hop) ----

RESERVED_HEADER_NAMES = [
    "X-Webhook-Foo",
    "x-webhook-secret-hash",
    "X-WEBHOOK-",
    "webhook-foo",
    "Webhook-Version",
    "WEBHOOK-ID",
    "TE",
    "te",
    "Upgrade",
    "Expect",
    "Keep-Alive",
    "Connection",
    "Transfer-Encoding",
    "Trailer",
    "Proxy-Authorization",
    "proxy-connection",
    "Proxy-Foo",
    "Host",
    "Content-Length",
    "Content-Type",
    "User-Agent",
]


@pytest.mark.parametrize("where", ["headers", "api_key_header", "secret_hash_header"])
@pytest.mark.parametrize("name", RESERVED_HEADER_NAMES)
def test_reserved_header_names_are_refused_with_a_message_naming_them(name, where):
    fields = {"headers": {name: "value"}} if where == "headers" else {where: name}
    with pytest.raises(ValidationError) as caught:
        services.webhook_create(name="h", events=["*"], url=PUBLIC_URL, api_key="k", **fields)

    messages = caught.value.message_dict[where]
    assert any(name in m for m in messages), messages
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "name", ["X-Webhooks-Tenant", "Webhook", "X-Webhook", "Tenant-Webhook-Id", "Proxy", "X-Proxy-Id", "TE-Id"]
)
def test_names_that_only_look_like_reserved_ones_are_accepted(name, make_webhook):
    assert make_webhook(PUBLIC_URL, headers={name: "v"}).headers == {name: "v"}
    assert make_webhook(PUBLIC_URL, api_key="k", api_key_header=name).api_key_header == name
    assert make_webhook(PUBLIC_URL, secret_hash_header=name).secret_hash_header == name


@pytest.mark.parametrize("secret_hash_header", ["X-Hash", "x-hash"])
def test_the_api_key_header_cannot_also_be_the_secret_hash_header(secret_hash_header):
    with pytest.raises(ValidationError) as caught:
        services.webhook_create(
            name="h",
            events=["*"],
            url=PUBLIC_URL,
            api_key="k",
            api_key_header="X-Hash",
            secret_hash_header=secret_hash_header,
        )
    assert any(secret_hash_header in m for m in caught.value.message_dict["secret_hash_header"])
    assert not Webhook.objects.exists()


# Crafted input through the API and the console: a 4xx, never a 500 ----------------------


@pytest.mark.parametrize(
    "headers",
    ["X-A: v", '{"X-A": "v"}', "", "[]", ["X-A", "v"], 5, True, None],
    ids=repr,
)
def test_headers_that_are_not_a_json_object_are_a_400_naming_the_field(admin_api, make_webhook, headers):
    body = {"name": "h", "events": ["*"], "url": PUBLIC_URL, "headers": headers}
    created = admin_api.post("/api/webhooks/", body, format="json")
    assert created.status_code == 400, created.content
    assert "headers" in created.json()
    assert not Webhook.objects.exists()

    hook = make_webhook(PUBLIC_URL, headers={"X-Tenant": "acme"})
    patched = admin_api.patch(f"/api/webhooks/{hook.pk}/", {"headers": headers}, format="json")
    assert patched.status_code == 400, patched.content
    assert "headers" in patched.json()
    assert Webhook.objects.get(pk=hook.pk).headers == {"X-Tenant": "acme"}


def test_the_model_refuses_headers_text_that_is_not_json(make_webhook):
    hook = make_webhook(PUBLIC_URL)
    hook.headers = "X-A: v"
    with pytest.raises(ValidationError) as caught:
        hook.full_clean()
    assert "headers" in caught.value.message_dict


def api_cursor(position: str) -> str:
    """A cursor as DRF writes one (base64 of a query string), at a chosen position."""
    return base64.b64encode(urlencode({"p": position}).encode()).decode()


@pytest.mark.parametrize(
    "position",
    [
        "x",
        "2026-13-45 00:00:00",
        "2026-01-01 25:00:00",
        "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
        "\u00b2",
        "9" * 5000,
    ],
    ids=lambda v: repr(v)[:30],
)
def test_a_crafted_api_cursor_is_a_404_with_a_clear_message(admin_api, public_webhook, position):
    make_delivery(public_webhook)
    response = admin_api.get(
        f"/api/webhooks/{public_webhook.pk}/deliveries/", {"cursor": api_cursor(position)}
    )

    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Invalid cursor"}


@pytest.mark.parametrize(
    "position", ["2026-01-01T00:00:00+19:01", "2026-01-01 00:00:00", "9999-12-31T23:59:59Z"]
)
def test_a_well_formed_cursor_position_pages_whatever_its_offset(admin_api, public_webhook, position):
    old = make_delivery(public_webhook, age=datetime.timedelta(days=3650))
    response = admin_api.get(
        f"/api/webhooks/{public_webhook.pk}/deliveries/", {"cursor": api_cursor(position)}
    )

    assert response.status_code == 200, response.content
    assert [d["id"] for d in response.json()["results"]] == [old.pk]


@pytest.mark.parametrize(
    "params",
    [
        {"older": "\u00b2-1"},
        {"older": "1-\u00b2"},
        {"newer": "\u0663-1"},
        {"older": "garbage"},
        {"newer": "1-"},
        {"older": "9" * 30 + "-1"},
        {"older": "1-" + "9" * 25},
        {"older": "1-1\x00"},
    ],
    ids=repr,
)
def test_a_console_cursor_that_is_not_a_position_is_the_400_page(admin_client, public_webhook, params):
    newest = make_delivery(public_webhook)
    url = reverse("webhooks_app:webhook-deliveries", args=[public_webhook.pk])
    response = admin_client.get(url, params)

    assert response.status_code == 400
    assert [d.pk for d in response.context["page"].rows] == [newest.pk]  # the newest page
    page = response.content.decode()
    assert "a position in the delivery log" in page


# Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE: a short 413, never a traceback -----------------

TEN_MB = 10 * 1024 * 1024
TOO_LARGE_DETAIL = "The request body is larger than the 2621440 bytes this server accepts."


def test_the_api_answers_a_body_over_the_limit_with_a_short_json_413(admin_api, public_webhook):
    body = json.dumps({"event_type": "contact.created", "data": {"blob": "x" * TEN_MB}})
    emitted = admin_api.post("/api/events/", body, content_type="application/json")
    patched = admin_api.patch(
        f"/api/webhooks/{public_webhook.pk}/",
        json.dumps({"name": "x" * TEN_MB}),
        content_type="application/json",
    )

    for response in (emitted, patched):
        assert response.status_code == 413
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"detail": TOO_LARGE_DETAIL}
    assert not Event.objects.exists()
    assert Webhook.objects.get(pk=public_webhook.pk).name == "CRM sync"


def test_the_browsable_api_and_a_session_client_get_the_413_too(admin_client):
    body = json.dumps({"event_type": "contact.created", "data": {"blob": "x" * TEN_MB}})
    response = admin_client.post(
        "/api/events/", body, content_type="application/json", HTTP_ACCEPT="text/html"
    )

    assert response.status_code == 413
    page = response.content.decode()
    assert "Traceback (most recent call last)" not in page and TOO_LARGE_DETAIL in page
    assert not Event.objects.exists()


def test_the_console_answers_a_body_over_the_limit_with_a_short_413_page(admin_client):
    """Read by the view (the test client skips the CSRF check) or by the CSRF check itself."""
    logged_in = Client(enforce_csrf_checks=True)
    logged_in.force_login(User.objects.get(username="admin"))
    create, login = reverse("webhooks_app:webhook-create"), reverse("login")
    anonymous = Client(enforce_csrf_checks=True)
    for client, url in [(admin_client, create), (logged_in, create), (anonymous, login)]:
        client.get(url)  # the CSRF cookie, so that the check reads the body for the token
        response = client.post(url, {"name": "x" * TEN_MB})
        assert response.status_code == 413, (url, response.status_code)
        page = response.content.decode()
        assert "Request too large (413)" in page and len(page) < 500, page
    assert not Webhook.objects.exists()


# What the schema says, the API holds to (found by Schemathesis and the property tests) ----


@pytest.mark.parametrize(
    "body",
    [
        '{"event_type": "\\ud800", "data": {}}',  # a refused choice, repeated in the message
        '{"event_type": "contact.created", "\\udfff": 1}',  # an unknown field, named
    ],
)
def test_an_answer_that_repeats_a_lone_surrogate_is_still_json(admin_api, body):
    response = admin_api.generic("POST", "/api/events/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.content.isascii() and response.json()  # \\u escapes, the same JSON
    assert not Event.objects.exists()


@pytest.mark.parametrize("value", ["abc", "0", "201", "-1", "\u00b2", "true", "", " 5", "1.0"])
def test_page_size_is_a_whole_number_from_1_to_200(admin_api, public_webhook, value):
    for url in ("/api/webhooks/", f"/api/webhooks/{public_webhook.pk}/deliveries/"):
        response = admin_api.get(url, {"page_size": value})
        assert response.status_code == 400, (url, response.content)
        assert response.json() == {"page_size": ["A whole number from 1 to 200."]}
    assert admin_api.get("/api/webhooks/", {"page_size": "200"}).status_code == 200


@pytest.mark.parametrize("value", ["last", "", "abc", "\u00b2", "0", "99"])
def test_a_page_that_is_not_a_page_number_of_the_list_is_a_404(admin_api, public_webhook, value):
    response = admin_api.get("/api/webhooks/", {"page": value})

    assert response.status_code == 404 and response.json() == {"detail": "Invalid page."}


@pytest.mark.parametrize("value", [1, 0, "true", "false", "on", None])
def test_a_boolean_is_true_or_false(admin_api, value):
    response = admin_api.patch("/api/webhook-settings/", {"enabled": value}, format="json")

    assert response.status_code == 400 and "enabled" in response.json()
    assert WebhookSettings.load().enabled is True


# What a receiver answers is input too ---------------------------------------------------


@pytest.mark.parametrize("value", ["\u00b2", "\u00b9\u00b2", "12\u00b3"])
def test_a_retry_after_of_non_ascii_digits_is_ignored_and_the_attempt_recorded(webhook, receiver, value):
    """A receiver's Retry-After is Latin-1 on the wire: "²" (0xB2) is a digit to str.isdigit()."""
    receiver.script = [Reply(503, headers={"Retry-After": value})]
    before = timezone.now()
    event = services.event_emit(event_type="contact.updated", data={"id": 1}, webhooks=[webhook])
    delivery = Delivery.objects.get(event_id=event.pk)

    services.delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert len(receiver.requests) == 1
    assert delivery.status == Delivery.Status.PENDING and delivery.last_response_status == 503
    assert Attempt.objects.get(delivery=delivery).response_status == 503
    # The retry schedule's first delay (tests: 1 s), as without a Retry-After.
    assert delivery.next_attempt_at <= before + datetime.timedelta(seconds=5)

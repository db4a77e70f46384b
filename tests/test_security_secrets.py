"""Secrets: API keys and signing secrets encrypted at rest, rotatable, and never shown.

"Never shown" is checked where a secret could leak: the raw database column, the
log, the Attempt record, the Delivery row, the Django admin's HTML, and error
messages. Comparisons of secrets are checked in the source.
"""

import ast
import json
import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

import webhooks_app
from tests.receiver import Reply
from webhooks_app import crypto, services, signing, transport
from webhooks_app.exceptions import ImproperlyConfiguredWebhooks
from webhooks_app.models import Attempt, Delivery, Webhook

pytestmark = pytest.mark.django_db

API_KEY = "sk_live_9f8e7d6c5b4a39281706"
SECRET_FIELDS = ("api_key", "secret", "previous_secret")


def raw_columns(webhook) -> dict:
    """The stored text of the secret columns, read past the ORM."""
    table = connection.ops.quote_name(Webhook._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f) for f in SECRET_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} WHERE id = %s", [webhook.pk])
        return dict(zip(SECRET_FIELDS, cursor.fetchone(), strict=True))


def keys_setting(*keys):
    return override_settings(WEBHOOKS={**settings.WEBHOOKS, "ENCRYPTION_KEYS": [k.decode() for k in keys]})


@pytest.fixture
def rotated(make_webhook, receiver):
    """A webhook with an API key and a rotated secret: all three columns filled."""
    webhook = make_webhook(receiver.url, api_key=API_KEY)
    first_secret = webhook.secret
    services.webhook_secret_rotate(webhook=webhook)
    webhook = Webhook.objects.get(pk=webhook.pk)
    assert webhook.previous_secret == first_secret
    return webhook


def clear_values(webhook) -> dict:
    return {f: getattr(webhook, f) for f in SECRET_FIELDS}


# At rest ------------------------------------------------------------------------------


def test_secrets_are_stored_encrypted_and_read_back_in_clear(rotated):
    clear = clear_values(rotated)
    assert clear["api_key"] == API_KEY and clear["secret"].startswith("whsec_")
    raw = raw_columns(rotated)
    for field in SECRET_FIELDS:
        assert raw[field].startswith("fernet:"), field
        assert clear[field] not in raw[field]
        # the part after whsec_ (the actual key material) is not there either
        assert clear[field].removeprefix("whsec_")[:12] not in raw[field]
        assert crypto.decrypt(raw[field]) == clear[field]
    fresh = Webhook.objects.get(pk=rotated.pk)
    assert clear_values(fresh) == clear


def test_the_same_secret_encrypts_differently_each_time(make_webhook):
    first = make_webhook("http://127.0.0.1:9/a", api_key=API_KEY)
    second = make_webhook("http://127.0.0.1:9/b", api_key=API_KEY)
    assert raw_columns(first)["api_key"] != raw_columns(second)["api_key"]


def test_an_empty_api_key_stays_empty(make_webhook):
    webhook = make_webhook("http://127.0.0.1:9/a")
    assert raw_columns(webhook)["api_key"] == ""
    assert Webhook.objects.filter(api_key="").count() == 1


def test_key_rotation_reads_old_rows_and_the_command_re_encrypts_with_the_new_key(make_webhook):
    old, new = Fernet.generate_key(), Fernet.generate_key()
    with keys_setting(old):
        webhook = make_webhook("http://127.0.0.1:9/a", api_key=API_KEY)
        services.webhook_secret_rotate(webhook=webhook)
        clear = clear_values(Webhook.objects.get(pk=webhook.pk))
    before = raw_columns(webhook)
    for field in SECRET_FIELDS:
        assert Fernet(old).decrypt(before[field].removeprefix("fernet:").encode()).decode() == clear[field]

    with keys_setting(new, old):
        assert clear_values(Webhook.objects.get(pk=webhook.pk)) == clear  # old rows still read
        call_command("webhooks_rotate_encryption", stdout=open("/dev/null", "w"))  # noqa: SIM115

    after = raw_columns(webhook)
    for field in SECRET_FIELDS:
        token = after[field].removeprefix("fernet:").encode()
        assert Fernet(new).decrypt(token).decode() == clear[field]
        with pytest.raises(InvalidToken):
            Fernet(old).decrypt(token)
    with keys_setting(new):  # the old key can now be dropped
        assert clear_values(Webhook.objects.get(pk=webhook.pk)) == clear
    with keys_setting(old), pytest.raises(ImproperlyConfiguredWebhooks) as caught:
        Webhook.objects.get(pk=webhook.pk)
    message = str(caught.value)
    assert "cannot be decrypted" in message
    assert all(v not in message for v in clear.values())


def test_secret_key_rotation_with_fallbacks_keeps_secrets_readable(make_webhook):
    old_key, new_key = "old-secret-key-" + "a" * 50, "new-secret-key-" + "b" * 50
    with override_settings(SECRET_KEY=old_key):
        webhook = make_webhook("http://127.0.0.1:9/a", api_key=API_KEY)
    with (
        override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[]),
        pytest.raises(ImproperlyConfiguredWebhooks),
    ):
        Webhook.objects.get(pk=webhook.pk)
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[old_key]):
        assert Webhook.objects.get(pk=webhook.pk).api_key == API_KEY
        call_command("webhooks_rotate_encryption", stdout=open("/dev/null", "w"))  # noqa: SIM115
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[]):
        assert Webhook.objects.get(pk=webhook.pk).api_key == API_KEY


def test_invalid_encryption_keys_are_a_system_check_error():
    from webhooks_app.checks import check_settings

    with override_settings(WEBHOOKS={**settings.WEBHOOKS, "ENCRYPTION_KEYS": ["not-a-fernet-key"]}):
        assert "webhooks_app.E041" in [e.id for e in check_settings()]


# Never in logs, Attempt records or error messages ---------------------------------------


def secret_strings(webhook, received=()) -> list[str]:
    """Everything that must not appear: keys, secrets, their key material, signatures."""
    values = [webhook.api_key, webhook.secret, webhook.secret.removeprefix("whsec_")]
    if webhook.previous_secret:
        values += [webhook.previous_secret, webhook.previous_secret.removeprefix("whsec_")]
    for request in received:
        values.append(request.headers["X-Webhook-Signature"])
        values += [s.split(",", 1)[1] for s in request.headers["webhook-signature"].split()]
    return [v for v in values if v]


def test_secrets_never_reach_the_log_the_attempts_or_the_delivery(rotated, receiver, caplog):
    receiver.default = Reply(status=500, body=b"boom")
    event = services.event_emit(event_type="contact.updated", data={"id": 1}, webhooks=[rotated])
    delivery = Delivery.objects.get(event_id=event.pk)
    with caplog.at_level(logging.DEBUG):
        with override_settings(WEBHOOKS={**settings.WEBHOOKS, "RETRY_SCHEDULE": []}):
            services.delivery_attempt(delivery_id=delivery.pk)  # fails for good: 500, no retries
        Webhook.objects.filter(pk=rotated.pk).update(url="http://127.0.0.1:1/closed")
        rotated.refresh_from_db()
        services.delivery_attempt(delivery_id=services.delivery_redeliver(delivery=delivery).pk)
        with override_settings(WEBHOOKS={**settings.WEBHOOKS, "ALLOWED_DESTINATIONS": []}):
            services.delivery_attempt(delivery_id=services.delivery_redeliver(delivery=delivery).pk)
        receiver.default = Reply(status=410)
        Webhook.objects.filter(pk=rotated.pk).update(url=receiver.url)
        services.delivery_attempt(delivery_id=services.delivery_redeliver(delivery=delivery).pk)

    received = receiver.wait_for(2)
    assert received[0].headers["X-API-Key"] == API_KEY  # the key was really sent ...
    received[0].verify(rotated.secret)  # ... and the request really signed
    attempts = list(Attempt.objects.filter(delivery__webhook=rotated).order_by("id"))
    assert [a.error_class for a in attempts] == ["http_status", "connection", "blocked", "http_status"]
    assert caplog.records, "the failing deliveries logged nothing at all"
    assert any("disabled" in r.getMessage() for r in caplog.records)

    forbidden = secret_strings(rotated, received)
    stored = json.dumps(
        [
            {
                "headers": a.request_headers,
                "body": a.request_body,
                "error": a.error_message,
                "url": a.request_url,
                "response": [a.response_headers, a.response_body],
            }
            for a in attempts
        ]
        + list(Delivery.objects.filter(webhook=rotated).values_list("last_error", flat=True))
        + list(Webhook.objects.filter(pk=rotated.pk).values_list("disabled_reason", flat=True)),
        ensure_ascii=False,
    )
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for value in forbidden:
        assert value not in logged
        assert value not in stored


def test_attempt_headers_mask_the_api_key_and_redact_signatures(make_webhook, receiver):
    webhook = make_webhook(receiver.url, api_key=API_KEY, api_key_header="Authorization")
    event = services.event_emit(event_type="contact.updated", data={"id": 1}, webhooks=[webhook])
    services.delivery_attempt(delivery_id=Delivery.objects.get(event_id=event.pk).pk)

    sent = receiver.wait_for(1)[0].headers
    assert sent["Authorization"] == API_KEY
    headers = Attempt.objects.get(delivery__event_id=event.pk).request_headers
    assert headers["Authorization"] != API_KEY
    assert headers["Authorization"] == signing.mask(API_KEY)
    assert headers["Authorization"].endswith(API_KEY[-4:]) and API_KEY[:-4] not in headers["Authorization"]
    assert headers["webhook-signature"] == services.REDACTED == "[redacted]"
    assert headers["X-Webhook-Signature"] == "[redacted]"
    assert headers["webhook-id"] == event.pk  # the rest is kept as sent


def test_a_short_api_key_is_masked_completely(make_webhook):
    webhook = make_webhook("http://127.0.0.1:9/a", api_key="abc123")
    redacted = services.headers_redact(
        {"X-API-Key": "abc123", "webhook-signature": "v1,xyz"}, webhook=webhook
    )
    assert "abc" not in redacted["X-API-Key"] and "123" not in redacted["X-API-Key"]
    assert redacted["webhook-signature"] == "[redacted]"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api_key", API_KEY + "\nX-Evil: 1"),
        ("api_key", API_KEY + "\x00"),
        ("api_key", " " + API_KEY),
        ("api_key", API_KEY + "\u00e9"),
    ],
)
def test_validation_errors_do_not_repeat_the_api_key(field, value):
    with pytest.raises(ValidationError) as caught:
        services.webhook_create(name="x", events=["*"], url="https://hooks.example.test/", **{field: value})
    assert field in caught.value.message_dict
    assert API_KEY not in str(caught.value.message_dict)


def test_a_header_refused_by_requests_is_reported_without_its_value(receiver):
    result = transport.post(
        receiver.url, body=b"{}", headers={"X-API-Key": " " + API_KEY}, timeout=3, max_bytes=100
    )
    assert result.error_class == "other"
    assert API_KEY not in result.error_message and "not shown" in result.error_message
    assert receiver.requests == []


# Never in the admin's HTML --------------------------------------------------------------


def test_the_admin_pages_never_show_secrets(rotated, admin_client, receiver):
    event = services.event_emit(event_type="contact.updated", data={"id": 1}, webhooks=[rotated])
    delivery = Delivery.objects.get(event_id=event.pk)
    services.delivery_attempt(delivery_id=delivery.pk)
    attempt = Attempt.objects.get(delivery=delivery)
    forbidden = secret_strings(rotated, receiver.wait_for(1)) + list(raw_columns(rotated).values())

    pages = [
        reverse("admin:webhooks_app_webhook_changelist"),
        reverse("admin:webhooks_app_webhook_change", args=[rotated.pk]),
        reverse("admin:webhooks_app_webhook_history", args=[rotated.pk]),
        reverse("admin:webhooks_app_webhook_delete", args=[rotated.pk]),
        reverse("admin:webhooks_app_delivery_change", args=[delivery.pk]),
        reverse("admin:webhooks_app_attempt_change", args=[attempt.pk]),
        reverse("admin:webhooks_app_attempt_changelist"),
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        for value in forbidden:
            assert value not in html, page

    # A change with an error re-renders the form: still nothing secret in it.
    response = admin_client.post(
        reverse("admin:webhooks_app_webhook_change", args=[rotated.pk]),
        {"name": "x", "url": "http://10.0.0.1/", "api_key_header": "Bad Header\r\n", "events": "[]"},
    )
    assert response.status_code == 200 and b"errornote" in response.content
    for value in forbidden:
        assert value not in response.content.decode()


# Compared in constant time wherever compared --------------------------------------------

SECRET_WORDS = ("secret", "api_key", "signature", "token", "password", "digest")


def _names(node) -> set[str]:
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.add(sub.id.lower())
        elif isinstance(sub, ast.Attribute):
            found.add(sub.attr.lower())
    return found


def _secret_operand(node) -> bool:
    names = _names(node)
    # A call such as secret.startswith(...) or len(secret) is not the secret itself.
    if isinstance(node, ast.Call | ast.Constant):
        return False
    return any(word in name for name in names for word in SECRET_WORDS) and not any(
        name.endswith(("_header", "_hint", "_expires_at", "_fields", "_words", "_names")) for name in names
    )


def test_secrets_are_never_compared_with_equality_operators():
    """Any comparison of a secret-looking value must go through hmac.compare_digest."""
    package = Path(webhooks_app.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(_secret_operand(o) for o in operands):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == [], "compare secrets with hmac.compare_digest:\n" + "\n".join(offenders)


def test_the_equality_scan_would_catch_a_plain_comparison():
    tree = ast.parse(
        "if provided == webhook.secret:\n    pass\nif hmac.compare_digest(a, webhook.secret): pass"
    )
    compares = [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    assert len(compares) == 1 and _secret_operand(compares[0].comparators[0])

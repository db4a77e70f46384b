"""System checks: each misconfiguration of WEBHOOKS is reported with its stable id."""

import pytest
from cryptography.fernet import Fernet
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from webhooks_app.checks import check_settings


def ids(**webhooks):
    """The check ids reported for the test settings with these WEBHOOKS keys replaced."""
    from django.conf import settings

    with override_settings(WEBHOOKS={**settings.WEBHOOKS, **webhooks}):
        return sorted({message.id for message in check_settings()})


def test_the_demo_and_test_settings_pass():
    assert check_settings() == []


def test_no_webhooks_setting_at_all_is_fine():
    with override_settings(WEBHOOKS=None):
        assert check_settings() == []


def test_webhooks_must_be_a_dict():
    with override_settings(WEBHOOKS=["EVENTS"]):
        [error] = check_settings()
    assert error.id == "webhooks_app.E001"
    assert isinstance(error, Error)


def test_an_unknown_key_is_reported_with_the_known_ones():
    with override_settings(WEBHOOKS={"TIMEOUTS": 5}):
        [error] = check_settings()
    assert error.id == "webhooks_app.E002"
    assert "TIMEOUTS" in error.msg and "TIMEOUT" in error.hint


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ("contact.created", ["webhooks_app.E010"]),
        ({"Contact.Created": ""}, ["webhooks_app.E011"]),
        ({"contact": ""}, ["webhooks_app.E011"]),
        (["contact.created", "bad name"], ["webhooks_app.E011"]),
        (["contact.created", "invoice.paid"], []),
        ({"invoice.line_item.changed": "A line changed."}, []),
    ],
)
def test_declared_event_types(events, expected):
    assert ids(EVENTS=events) == expected


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        (["contacts.Contact"], ["webhooks_app.E003"]),
        ({"contacts.Nope": {}}, ["webhooks_app.E003"]),
        ({"nolabel": {}}, ["webhooks_app.E003"]),
        ({"contacts.Contact": ["created"]}, ["webhooks_app.E004"]),
        ({"contacts.Contact": {"actions": ["created", "archived"]}}, ["webhooks_app.E005"]),
        ({"contacts.Contact": {"fields": ["accepts_email", "accepts_fax"]}}, ["webhooks_app.E006"]),
        ({"contacts.Contact": {"serializer": "tests.nowhere.serialize"}}, ["webhooks_app.E007"]),
        ({"contacts.Contact": {"resource": "Contact Person"}}, ["webhooks_app.E008"]),
        ({"contacts.Contact": {"resource": "person", "fields": ["email"]}}, []),
    ],
)
def test_watched_models(models, expected):
    assert ids(MODELS=models) == expected


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("TIMEOUT", 0, "webhooks_app.E020"),
        ("TIMEOUT", "10", "webhooks_app.E020"),
        ("RETRY_SCHEDULE", "5,60", "webhooks_app.E021"),
        ("RETRY_SCHEDULE", [5, -1], "webhooks_app.E021"),
        ("RETRY_JITTER", 1.5, "webhooks_app.E022"),
        ("RETRY_JITTER", -0.1, "webhooks_app.E022"),
        ("RETENTION_DAYS", 0, "webhooks_app.E023"),
        ("MAX_RESPONSE_BYTES", "20k", "webhooks_app.E023"),
        ("MAX_PAYLOAD_BYTES", -1, "webhooks_app.E023"),
        ("SWEEP_BATCH", 0, "webhooks_app.E023"),
        ("SWEEP_MINUTES", 0.5, "webhooks_app.E023"),
        ("INLINE_RETRY_MAX_DELAY", "10", "webhooks_app.E024"),
        ("MAX_RETRY_AFTER", -5, "webhooks_app.E024"),
        ("LEASE_MARGIN", None, "webhooks_app.E024"),
        ("REQUEUE_AFTER", "2m", "webhooks_app.E024"),
        ("AUTO_DISABLE_AFTER_DAYS", -1, "webhooks_app.E024"),
        ("AUTO_DISABLE_FAILURES", 0, "webhooks_app.E025"),
        ("AUTO_DISABLE_FAILURES", "50", "webhooks_app.E025"),
        ("ALLOWED_DESTINATIONS", "127.0.0.1", "webhooks_app.E030"),
        ("ALLOWED_DESTINATIONS", ["10.0.0.0/33"], "webhooks_app.E031"),
        ("ALLOWED_DESTINATIONS", ["my host"], "webhooks_app.E031"),
        ("ENCRYPTION_KEYS", "key", "webhooks_app.E040"),
        ("ENCRYPTION_KEYS", ["not-a-fernet-key"], "webhooks_app.E041"),
    ],
)
def test_bad_values_are_errors(key, value, expected):
    assert ids(**{key: value}) == [expected]


def test_a_timeout_above_five_minutes_is_an_error_and_outlasts_the_queue_timeout():
    assert ids(TIMEOUT=301) == ["webhooks_app.E020", "webhooks_app.W001"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("RETRY_SCHEDULE", []),
        ("RETRY_SCHEDULE", (5, 60.5)),
        ("RETRY_JITTER", 0),
        ("AUTO_DISABLE_FAILURES", None),
        ("ALLOWED_DESTINATIONS", ["10.0.0.0/8", "::1", "[fd00::1]", "hooks.internal"]),
        ("ENCRYPTION_KEYS", [Fernet.generate_key().decode(), Fernet.generate_key()]),
    ],
)
def test_good_values_pass(key, value):
    assert ids(**{key: value}) == []


def test_a_queue_timeout_shorter_than_a_delivery_is_a_warning(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 8, "retry": 120}
    messages = [m for m in check_settings() if m.id == "webhooks_app.W001"]
    assert len(messages) == 1 and isinstance(messages[0], Warning)
    assert "Q_CLUSTER['timeout']" in messages[0].msg

    # Inline retries make a task longer too.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 15}
    assert ids() == []
    assert ids(INLINE_RETRY_MAX_DELAY=10) == ["webhooks_app.W001"]


def test_a_queue_retry_not_above_its_timeout_is_a_warning(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 60, "retry": 60}
    assert [m.id for m in check_settings()] == ["webhooks_app.W002"]


def test_several_problems_are_all_reported():
    assert ids(TIMEOUT=-1, RETRY_JITTER=2, EVENTS={"X": ""}) == [
        "webhooks_app.E011",
        "webhooks_app.E020",
        "webhooks_app.E022",
    ]


def test_manage_py_check_fails_on_an_error():
    from django.conf import settings

    with (
        override_settings(WEBHOOKS={**settings.WEBHOOKS, "TIMEOUT": 0}),
        pytest.raises(SystemCheckError) as info,
    ):
        call_command("check")
    assert "webhooks_app.E020" in str(info.value)

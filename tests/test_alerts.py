"""Failure alerts: a webhook about to be disabled, and one disabled, mail the site's admins once a day,
when the webhook opts in; the mail says what failed, since when, and links to the log.

Deliveries run in this process (Q_CLUSTER sync) against a real receiver answering 500. With an
empty RETRY_SCHEDULE each failed attempt is a failed delivery. Time moves by shifting
django.utils.timezone.now.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client
from django.utils import timezone

from tests.receiver import Reply
from webhooks_app import emit, services, tasks
from webhooks_app.models import Webhook
from webhooks_app.services.alerts import DISABLED, FAILING, alerts_check, webhook_alert

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock(monkeypatch):
    real_now = timezone.now

    class Clock:
        offset = timedelta()

        def shift(self, **delta):
            self.offset += timedelta(**delta)

        def now(self):
            return real_now() + self.offset

    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock.now)
    return clock


@pytest.fixture(autouse=True)
def policy(settings):
    """Disabled after 5 failed deliveries over 5 days; about to be, at 0.8 of both: 4 over 4 days."""
    settings.ADMINS = [("Ops", "ops@example.com"), ("Lead", "lead@example.com")]
    settings.SERVER_EMAIL = "webhooks@example.com"
    settings.EMAIL_SUBJECT_PREFIX = "[site] "
    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "AUTO_DISABLE_FAILURES": 5,
        "AUTO_DISABLE_AFTER_DAYS": 5,
        "RETRY_SCHEDULE": [],
        "SITE_URL": "https://hooks.example.com",
    }


@pytest.fixture
def failing(make_webhook, receiver):
    receiver.default = Reply(503, body=b"down for maintenance")
    return make_webhook(receiver.url + "/hooks?token=secret-token", name="CRM sync", failure_alerts=True)


def fail(times=1):
    for _ in range(times):
        with transaction.atomic():
            emit("contact.updated", data={"id": 1})


def state(webhook) -> Webhook:
    return Webhook.objects.get(pk=webhook.pk)


def test_about_to_be_disabled_is_mailed_once_a_day_with_what_failed_since_when_and_the_log(failing, clock):
    fail(4)
    since = state(failing).failing_since
    clock.shift(days=3)
    assert alerts_check() == 0, "4 failures, but over 3 days only"
    clock.shift(days=1, minutes=1)

    assert alerts_check() == 1

    (message,) = mail.outbox
    assert message.subject == "[site] Webhook failing, about to be disabled: CRM sync"
    assert sorted(message.to) == ["lead@example.com", "ops@example.com"]
    assert message.from_email == "webhooks@example.com"
    body = message.body
    assert "has failed 4 deliveries in a row since " + f"{since:%Y-%m-%d %H:%M} UTC" in body
    assert "HTTP 503" in body, "what failed"
    assert "once 5 deliveries in a row have failed over at least 5 days" in body
    assert f"https://hooks.example.com/settings/webhooks/{failing.pk}/deliveries/?status=failed" in body
    assert "secret-token" not in body and failing.secret not in body
    assert failing.url.split("?")[0] in body

    assert alerts_check() == 0, "not twice in a day"
    clock.shift(hours=23)
    assert alerts_check() == 0
    assert len(mail.outbox) == 1
    clock.shift(hours=1, minutes=1)
    assert alerts_check() == 1, "still failing a day later: once more"
    assert len(mail.outbox) == 2
    assert tasks.alerts_check() == 0


def test_disabled_is_mailed_once_from_the_signal(failing, receiver, clock):
    fail(4)
    clock.shift(days=5, minutes=1)
    fail(1)

    hook = state(failing)
    assert hook.enabled is False
    (message,) = mail.outbox
    assert message.subject == "[site] Webhook disabled: CRM sync"
    assert hook.disabled_reason in message.body and "5 deliveries in a row failed" in message.body
    assert "HTTP 503" in message.body and "/deliveries/?status=failed" in message.body

    services.webhook_disable(webhook=hook, reason="again")  # already disabled: no signal, no mail
    services.webhook_update(webhook=state(failing), enabled=True)
    fail(1)
    services.webhook_disable(webhook=state(failing), reason="The receiver answered 410 Gone.")
    assert len(mail.outbox) == 1, "disabled twice in a day: one mail"
    clock.shift(days=1, minutes=1)
    services.webhook_update(webhook=state(failing), enabled=True)
    services.webhook_disable(webhook=state(failing), reason="The receiver answered 410 Gone.")
    assert len(mail.outbox) == 2 and "410 Gone" in mail.outbox[1].body


def test_only_webhooks_that_opt_in(make_webhook, receiver, clock):
    receiver.default = Reply(500)
    quiet = make_webhook(receiver.url, name="Quiet")
    assert quiet.failure_alerts is False
    fail(4)
    clock.shift(days=4, minutes=1)
    assert alerts_check() == 0
    clock.shift(days=1)
    fail(1)
    assert state(quiet).enabled is False
    assert mail.outbox == []


def test_nothing_is_about_to_be_disabled_when_auto_disable_is_off(failing, clock, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "AUTO_DISABLE_FAILURES": None}
    fail(10)
    clock.shift(days=10)
    assert alerts_check() == 0 and mail.outbox == []


def test_without_admins_no_mail_and_the_day_is_not_used_up(failing, clock, settings):
    settings.ADMINS = []
    fail(4)
    clock.shift(days=4, minutes=1)
    assert alerts_check() == 0 and mail.outbox == []
    assert state(failing).alert_failing_sent_at is None
    settings.ADMINS = ["ops@example.com"]  # Django 6's plain addresses
    assert alerts_check() == 1 and mail.outbox[0].to == ["ops@example.com"]


def test_two_deciders_at_once_mail_once(failing):
    assert webhook_alert(webhook=failing, kind=FAILING) is True
    assert webhook_alert(webhook=state(failing), kind=FAILING) is False
    assert webhook_alert(webhook=state(failing), kind=DISABLED, reason="x") is True
    assert len(mail.outbox) == 2


def test_a_rolled_back_decision_sends_nothing(failing):
    with pytest.raises(RuntimeError), transaction.atomic():
        webhook_alert(webhook=failing, kind=FAILING)
        raise RuntimeError("the transaction fails")
    assert mail.outbox == [] and state(failing).alert_failing_sent_at is None


def test_failure_alerts_is_a_field_of_the_api_and_the_console(django_user_model, receiver):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin)
    created = client.post(
        "/api/webhooks/",
        {"name": "A", "events": ["*"], "url": receiver.url, "failure_alerts": True},
        content_type="application/json",
    )
    assert created.status_code == 201 and created.json()["failure_alerts"] is True
    assert Webhook.objects.get(pk=created.json()["id"]).failure_alerts is True

    form = client.get("/settings/webhooks/new/")
    assert 'name="failure_alerts"' in form.content.decode()
    posted = client.post(
        "/settings/webhooks/new/",
        {
            "name": "B",
            "events": ["*"],
            "notification_type": "REST",
            "url": receiver.url,
            "api_key_header": "X-API-Key",
            "payload_format": "json",
            "destination": "url",
            "payload_encryption": "none",
            "enabled": "on",
            "failure_alerts": "on",
        },
    )
    assert posted.status_code == 302, posted.content.decode()[:2000]
    assert Webhook.objects.get(name="B").failure_alerts is True

"""Auto-disable: a long run of failed deliveries disables a webhook, with a reason, a signal and
(when the host opts in with NOTIFY_ON_DISABLE) a mail to staff.

Deliveries run in this process (Q_CLUSTER sync) against a real receiver. With an
empty RETRY_SCHEDULE every failed attempt is a failed delivery. Time moves by
shifting django.utils.timezone.now, which the services, the claim and the model
timestamps all read.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from tests.receiver import Receiver, Reply
from webhooks_app import emit, services
from webhooks_app.models import Delivery, Webhook
from webhooks_app.signals import webhook_disabled

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock(monkeypatch):
    """``clock.shift(days=...)`` moves timezone.now() forward for everything that reads it."""
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


@pytest.fixture
def policy(settings):
    """Auto-disable after ``failures`` failed deliveries spanning ``days``; no retries."""

    def set_policy(failures, days, retries=()):
        settings.WEBHOOKS = {
            **settings.WEBHOOKS,
            "AUTO_DISABLE_FAILURES": failures,
            "AUTO_DISABLE_AFTER_DAYS": days,
            "RETRY_SCHEDULE": list(retries),
        }

    return set_policy


@pytest.fixture
def staff(django_user_model, settings):
    """Staff users of every kind, and the opt-in mail to them on (WEBHOOKS["NOTIFY_ON_DISABLE"])."""
    settings.WEBHOOKS = {**settings.WEBHOOKS, "NOTIFY_ON_DISABLE": True}
    django_user_model.objects.create_user("ops", "ops@example.com", "pw", is_staff=True)
    django_user_model.objects.create_user("lead", "lead@example.com", "pw", is_staff=True)
    django_user_model.objects.create_user("gone", "gone@example.com", "pw", is_staff=True, is_active=False)
    django_user_model.objects.create_user("noemail", "", "pw", is_staff=True)
    django_user_model.objects.create_user("user", "user@example.com", "pw")


@pytest.fixture
def disabled_signals():
    received = []

    def on_disabled(sender, webhook, reason, **kwargs):
        received.append((sender, webhook.pk, reason))

    webhook_disabled.connect(on_disabled)
    yield received
    webhook_disabled.disconnect(on_disabled)


def deliver() -> Delivery:
    """Emit one event; its delivery runs at commit. Returns the delivery as it ended."""
    with transaction.atomic():
        event = emit("contact.updated", data={"id": 1})
    return Delivery.objects.get(event=event)


def state(webhook) -> Webhook:
    return Webhook.objects.get(pk=webhook.pk)


def test_failures_spanning_the_period_disable_the_webhook_with_reason_mail_and_signal(
    webhook, receiver, policy, clock, staff, disabled_signals
):
    policy(failures=3, days=5)
    receiver.default = Reply(500)

    first = deliver()
    assert first.status == Delivery.Status.FAILED
    run_started = state(webhook).failing_since
    assert run_started is not None
    deliver()
    clock.shift(days=3)
    deliver()
    # Three failures in a row, but over 3 days only: still enabled.
    hook = state(webhook)
    assert hook.enabled and hook.consecutive_failures == 3
    assert mail.outbox == [] and disabled_signals == []

    clock.shift(days=2, minutes=1)
    deliver()

    hook = state(webhook)
    assert hook.enabled is False
    assert hook.consecutive_failures == 4
    assert hook.disabled_at is not None
    assert hook.disabled_reason == (f"4 deliveries in a row failed since {run_started:%Y-%m-%d %H:%M} UTC.")
    assert disabled_signals == [(Webhook, webhook.pk, hook.disabled_reason)]
    (message,) = mail.outbox
    assert message.subject == f"Webhook disabled: {webhook.name}"
    # Active staff with an address; not inactive staff nor plain users.
    assert sorted(message.to) == ["lead@example.com", "ops@example.com"]
    assert hook.disabled_reason in message.body
    assert webhook.url in message.body
    assert webhook.secret not in message.body

    # A disabled webhook gets no new deliveries.
    with transaction.atomic():
        event = emit("contact.updated", data={"id": 2})
    assert not Delivery.objects.filter(event=event).exists()
    assert len(receiver.requests) == 4


def test_disabling_twice_notifies_once(webhook, receiver, policy, staff, disabled_signals):
    # Two workers may both see the run reach its limit; one mail and one signal.
    policy(failures=1, days=0)
    receiver.default = Reply(500)
    deliver()
    assert state(webhook).enabled is False

    services.webhook_disable(webhook=state(webhook), reason="again")

    assert len(mail.outbox) == 1 and len(disabled_signals) == 1
    assert state(webhook).disabled_reason.startswith("1 deliveries in a row failed")


def test_no_mail_unless_the_host_opts_in_the_signal_is_the_hook(
    webhook, receiver, policy, django_user_model, disabled_signals
):
    """Who is told is the host's policy: by default only the webhook_disabled signal goes out."""
    django_user_model.objects.create_user("ops", "ops@example.com", "pw", is_staff=True)
    policy(failures=1, days=0)
    receiver.default = Reply(500)

    deliver()

    hook = state(webhook)
    assert hook.enabled is False
    assert disabled_signals == [(Webhook, webhook.pk, hook.disabled_reason)]
    assert mail.outbox == []


def test_a_success_resets_the_run(webhook, receiver, policy, clock):
    policy(failures=3, days=0)
    receiver.script = [Reply(500), Reply(500), Reply(200), Reply(500), Reply(500)]

    statuses = [deliver().status for _ in range(5)]

    assert statuses == ["failed", "failed", "succeeded", "failed", "failed"]
    hook = state(webhook)
    assert hook.enabled is True
    assert hook.consecutive_failures == 2
    receiver.script = [Reply(200)]
    clock.shift(hours=1)
    deliver()
    hook = state(webhook)
    assert (hook.consecutive_failures, hook.failing_since) == (0, None)
    receiver.default = Reply(500)
    deliver()
    deliver()
    assert state(webhook).enabled is True
    deliver()
    assert state(webhook).enabled is False


def test_re_enabling_resets_the_counter(webhook, receiver, policy, clock, staff):
    policy(failures=2, days=1)
    receiver.default = Reply(500)
    deliver()
    clock.shift(days=2)
    deliver()
    assert state(webhook).enabled is False

    hook = services.webhook_update(webhook=state(webhook), enabled=True)

    hook = state(hook)
    assert hook.enabled is True
    assert (hook.disabled_reason, hook.disabled_at) == ("", None)
    assert (hook.consecutive_failures, hook.failing_since) == (0, None)
    # A new run starts from zero: one more failure (even days later) is not enough.
    clock.shift(days=2)
    deliver()
    assert state(webhook).enabled is True
    assert state(webhook).consecutive_failures == 1
    clock.shift(days=2)
    deliver()
    assert state(webhook).enabled is False
    assert len(mail.outbox) == 2


def test_only_final_failures_count_not_failed_attempts_that_will_be_retried(webhook, receiver, policy):
    policy(failures=1, days=0, retries=[60])
    receiver.default = Reply(500)

    delivery = deliver()

    assert delivery.status == Delivery.Status.PENDING
    assert delivery.attempt_count == 1
    hook = state(webhook)
    assert hook.enabled is True and hook.consecutive_failures == 0


def test_a_pending_delivery_of_a_webhook_disabled_meanwhile_is_cancelled_unsent(
    make_webhook, receiver, policy, clock
):
    policy(failures=1, days=0, retries=[60])
    receiver.default = Reply(500)
    webhook = make_webhook(receiver.url)
    waiting = deliver()  # failed once, retry due in 60 s
    policy(failures=1, days=0, retries=[])
    deliver()  # fails for good: the webhook is disabled
    assert state(webhook).enabled is False
    sent = len(receiver.requests)

    clock.shift(seconds=61)
    services.deliveries_sweep()

    waiting.refresh_from_db()
    assert waiting.status == Delivery.Status.CANCELLED
    assert waiting.last_error == "The webhook is disabled."
    assert waiting.attempt_count == 1  # the cancelled turn is not counted as an attempt
    assert len(receiver.requests) == sent


def test_auto_disable_can_be_turned_off(webhook, receiver, policy, clock):
    policy(failures=None, days=0)
    receiver.default = Reply(500)
    for _ in range(5):
        deliver()
        clock.shift(days=2)

    hook = state(webhook)
    assert hook.enabled is True
    assert hook.consecutive_failures == 5
    assert mail.outbox == []


def test_other_webhooks_keep_their_own_run(make_webhook, receiver, policy):
    policy(failures=2, days=0)
    other = Receiver().start()
    try:
        other.default = Reply(500)
        broken = make_webhook(other.url, name="broken")
        healthy = make_webhook(receiver.url, name="healthy")
        for _ in range(2):
            with transaction.atomic():
                emit("contact.updated", data={"id": 1})
    finally:
        other.stop()

    assert len(other.requests) == 2 and len(receiver.requests) == 2
    assert state(broken).enabled is False
    assert state(healthy).enabled is True and state(healthy).consecutive_failures == 0

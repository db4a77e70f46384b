"""Webhooks: create, update, enable or disable, rotate the secret, send a test, delete."""

import hmac
import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from .. import signing, texts
from ..conf import app_settings
from ..events import TEST_EVENT
from ..models import Delivery, Webhook, WebhookSettings
from ..signals import webhook_disabled
from ..validators import validate_secret
from .events import event_emit

logger = logging.getLogger(__name__)

WEBHOOK_FIELDS = (
    "name",
    "description",
    "events",
    "notification_type",
    "url",
    "api_key",
    "api_key_header",
    "enabled",
    "payload_format",
    "filters",
    "timeout",
    "topic_prefix",
    "headers",
    "secret",
    "secret_hash_header",
    "destination",
    "payload_encryption",
)


def secret_overlap() -> timedelta:
    """How long the previous secret keeps signing after a rotation (WEBHOOKS["SECRET_ROTATION_OVERLAP_HOURS"])."""
    return timedelta(hours=float(app_settings.SECRET_ROTATION_OVERLAP_HOURS or 0))


def _actor(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def webhook_create(*, actor=None, **fields) -> Webhook:
    """A new webhook with a fresh signing secret. Fields are validated by the caller's form."""
    unknown = set(fields) - set(WEBHOOK_FIELDS)
    if unknown:
        raise TypeError(f"Unknown webhook fields: {', '.join(sorted(unknown))}")
    if not fields.get("secret"):
        fields.pop("secret", None)  # blank: the model generates one
    webhook = Webhook(**fields, created_by=_actor(actor), updated_by=_actor(actor))
    _encryption_key_ensure(webhook)
    webhook.full_clean()
    webhook.save()
    return webhook


def webhook_update(*, webhook: Webhook, actor=None, **fields) -> Webhook:
    """Change a webhook's fields; re-enabling clears the disabled reason and failure run."""
    unknown = set(fields) - set(WEBHOOK_FIELDS)
    if unknown:
        raise TypeError(f"Unknown webhook fields: {', '.join(sorted(unknown))}")
    was_enabled = Webhook.objects.filter(pk=webhook.pk).values_list("enabled", flat=True).first()
    secret = fields.pop("secret", None)
    if secret and not hmac.compare_digest(secret.encode(), (webhook.secret or "").encode()):
        # A chosen secret replaces the current one as a rotation does: the old one
        # keeps signing through the overlap, so no receiver notices the change.
        _secret_replace(webhook, secret)
    for name, value in fields.items():
        setattr(webhook, name, value)
    if webhook.enabled and not was_enabled:
        webhook.disabled_reason, webhook.disabled_at = "", None
        webhook.disabled_code, webhook.disabled_params = "", {}
        webhook.consecutive_failures, webhook.failing_since = 0, None
    elif not webhook.enabled and was_enabled and not webhook.disabled_at:
        webhook.disabled_at = timezone.now()
        webhook.disabled_reason = texts.english("disabled_by_user")
        webhook.disabled_code, webhook.disabled_params = "disabled_by_user", {}
    webhook.updated_by = _actor(actor) or webhook.updated_by
    _encryption_key_ensure(webhook)
    webhook.full_clean()
    webhook.save()
    return webhook


def webhook_set_enabled(*, webhook: Webhook, enabled: bool, actor=None) -> Webhook:
    return webhook_update(webhook=webhook, enabled=enabled, actor=actor)


def webhook_delete(*, webhook: Webhook) -> None:
    """Delete a webhook with its deliveries and attempts (events stay for others)."""
    webhook.delete()


def _secret_replace(webhook: Webhook, secret: str) -> None:
    overlap = secret_overlap()
    if overlap > timedelta(0):
        webhook.previous_secret = webhook.secret
        webhook.previous_secret_expires_at = timezone.now() + overlap
    else:
        webhook.previous_secret, webhook.previous_secret_expires_at = "", None
    webhook.secret = secret


def webhook_secret_rotate(*, webhook: Webhook, actor=None, secret: str = "") -> Webhook:
    """A new signing secret (``secret``, or a generated one); the old one keeps signing
    for WEBHOOKS["SECRET_ROTATION_OVERLAP_HOURS"] (default 24) so receivers can switch."""
    if secret:
        validate_secret(secret)
    _secret_replace(webhook, secret or signing.secret_generate())
    webhook.updated_by = _actor(actor) or webhook.updated_by
    webhook.save(
        update_fields=[
            "secret",
            "previous_secret",
            "previous_secret_expires_at",
            "updated_by",
            "updated_at",
        ]
    )
    return webhook


def webhook_previous_secret_expire(*, webhook: Webhook, actor=None) -> Webhook:
    """End a rotation's overlap now: only the current secret signs from the next request on."""
    webhook.previous_secret, webhook.previous_secret_expires_at = "", None
    webhook.updated_by = _actor(actor) or webhook.updated_by
    webhook.save(update_fields=["previous_secret", "previous_secret_expires_at", "updated_by", "updated_at"])
    return webhook


def webhook_send_test(*, webhook: Webhook, actor=None) -> Delivery:
    """Emit ``webhook.test`` to this webhook only (enabled or not) and return the delivery."""
    context = {"source": "test"}
    if _actor(actor):
        context["actor"] = actor.get_username()
    data = {"webhook": {"id": webhook.pk, "name": webhook.name}, "message": "This is a test event."}
    event = event_emit(event_type=TEST_EVENT, data=data, context=context, webhooks=[webhook])
    return Delivery.objects.select_related("webhook", "event").get(event=event, webhook=webhook)


def webhook_disable(*, webhook: Webhook, reason: str, code: str = "", params: dict | None = None) -> None:
    """Disable a webhook on the app's own decision and send the ``webhook_disabled`` signal.

    Telling people is the host's policy: connect a receiver to
    ``webhooks_app.signals.webhook_disabled``, or set ``WEBHOOKS["NOTIFY_ON_DISABLE"]``
    to have staff with an e-mail address mailed (off by default). ``code`` and ``params``
    say ``reason`` as a code of webhooks_app.texts, which the console translates.
    """
    changed = Webhook.objects.filter(pk=webhook.pk, enabled=True).update(
        enabled=False,
        disabled_reason=reason[:255],
        disabled_code=code,
        disabled_params=params or {},
        disabled_at=timezone.now(),
    )
    webhook.enabled, webhook.disabled_reason = False, reason[:255]
    webhook.disabled_code, webhook.disabled_params = code, params or {}
    if not changed:
        return
    logger.warning("Webhook %s (%s) disabled: %s", webhook.pk, webhook.name, reason)
    webhook_disabled.send(sender=Webhook, webhook=webhook, reason=reason)
    if app_settings.NOTIFY_ON_DISABLE:
        _staff_notify_disabled(webhook=webhook, reason=reason)


def _staff_notify_disabled(*, webhook: Webhook, reason: str) -> None:
    # The host's user model may be built on AbstractBaseUser: ask it for its e-mail
    # field and look for is_staff / is_active only where they exist.
    user_model = get_user_model()
    email = user_model.get_email_field_name()
    names = {f.name for f in user_model._meta.get_fields()}
    if email not in names or "is_staff" not in names:
        return
    users = user_model.objects.filter(is_staff=True)
    if "is_active" in names:
        users = users.filter(is_active=True)
    recipients = list(users.exclude(**{email: ""}).values_list(email, flat=True))
    if not recipients:
        return
    try:
        send_mail(
            subject=f"Webhook disabled: {webhook.name}",
            message=f"The webhook {webhook.name} ({webhook.url}) was disabled.\n\n{reason}\n\n"
            "Re-enable it in Settings -> Webhook Settings once the receiver works again.",
            from_email=None,
            recipient_list=recipients,
            fail_silently=True,
        )
    except Exception:
        logger.exception("Could not email staff about disabled webhook %s", webhook.pk)


def _webhook_failure_count(webhook: Webhook) -> None:
    now = timezone.now()
    Webhook.objects.filter(pk=webhook.pk).update(
        consecutive_failures=F("consecutive_failures") + 1,
        failing_since=Coalesce(F("failing_since"), now),
    )
    limit = app_settings.AUTO_DISABLE_FAILURES
    if not limit:
        return
    state = Webhook.objects.filter(pk=webhook.pk).values("consecutive_failures", "failing_since").first()
    span = timedelta(days=float(app_settings.AUTO_DISABLE_AFTER_DAYS or 0))
    if state and state["consecutive_failures"] >= limit and state["failing_since"] <= now - span:
        params = {"count": state["consecutive_failures"], "since": f"{state['failing_since']:%Y-%m-%d %H:%M}"}
        webhook_disable(
            webhook=webhook, reason=texts.english("failures", **params), code="failures", params=params
        )


def webhook_settings_update(*, enabled: bool, actor=None) -> WebhookSettings:
    """Switch all sending on or off. Off: events and deliveries are still recorded;
    on again: workers are woken and everything held is sent, oldest first."""
    from . import queue

    row = WebhookSettings.load()
    was = row.enabled
    row.enabled = bool(enabled)
    row.updated_by = _actor(actor) or row.updated_by
    row.save()
    if row.enabled and not was:
        from django_q.conf import Conf

        transaction.on_commit(lambda: queue.workers_wake(count=max(int(Conf.WORKERS or 1), 1)))
    return row


# Payload encryption (issue 11) ----------------------------------------------------


def _encryption_key_ensure(webhook: Webhook) -> bool:
    """Give a webhook that encrypts its payloads a key when it has none; True when one was made.

    Switching encryption off keeps the key, so switching it on again reuses it.
    """
    from .. import crypto_payload

    if webhook.payload_encryption == Webhook.PayloadEncryption.AES_256_GCM and not webhook.encryption_key:
        webhook.encryption_key = crypto_payload.key_generate()
        webhook._encryption_key_new = True  # the console and the API show it this once
        return True
    return False


def webhook_encryption_key_rotate(*, webhook: Webhook, actor=None) -> Webhook:
    """A new payload encryption key, used from the next request on (retries included).

    No overlap as for the signing secret: the receiver holds one key, so rotate it
    when the receiver is ready for the new one (it can try both while it switches).
    """
    from .. import crypto_payload

    webhook.encryption_key = crypto_payload.key_generate()
    webhook.updated_by = _actor(actor) or webhook.updated_by
    webhook.save(update_fields=["encryption_key", "updated_by", "updated_at"])
    return webhook

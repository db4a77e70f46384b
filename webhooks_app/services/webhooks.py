"""Webhooks: create, update, enable or disable, rotate the secret, send a test, delete."""

import hmac
import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import router, transaction
from django.db.models import ExpressionWrapper, F, TextField
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from .. import signing, texts
from ..conf import app_settings
from ..events import TEST_EVENT
from ..exceptions import WebhookValidationError
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
    "recipient_credentials",
    "payload_encryption",
    "failure_alerts",
)


# The fields that choose where a webhook's requests go. Another address may only get
# the stored API key and custom header values if they are entered again with it.
# The fields that decide where the credentials go: turning recipient_credentials on
# sends them to every recipient's URL, so it is a new address like a new url.
DESTINATION_FIELDS = ("url", "destination", "recipient_credentials")


def webhook_credentials_reentry_errors(*, webhook: Webhook, fields: dict) -> dict[str, list[str]]:
    """Refusals of a change that would send stored credentials to a new address ({field: [message]}).

    Security note: the API key and the custom header values are write-only, for
    every permission; changing ``url`` or ``destination`` without them would let
    whoever may change a webhook read them at an address of their choosing. So a
    change of either needs, in the same ``fields``, the API key (any value, ""
    removes it) and the headers with every value in clear (a masked value means
    "keep the stored one"; ``{}`` removes them). ``fields`` are what the caller was
    given: the console and the API pass a kept key or headers left out as absent,
    the admin has no such fields. The stored state is read from the database, as a
    caller may already have set the new values on ``webhook``.
    """
    moved = [name for name in DESTINATION_FIELDS if name in fields]
    if webhook.pk is None or not moved:
        return {}
    stored = (
        Webhook.objects.filter(pk=webhook.pk)
        # The stored tokens, not decrypted: only whether there are any matters here.
        .annotate(
            api_key_stored=ExpressionWrapper(F("api_key"), output_field=TextField()),
            headers_stored=ExpressionWrapper(F("headers"), output_field=TextField()),
        )
        .values(*DESTINATION_FIELDS, "api_key_stored", "headers_stored")
        .first()
    )
    if stored is None:
        return {}
    moved = [
        name
        for name in moved
        if fields[name] != stored[name] and not (name == "recipient_credentials" and not fields[name])
    ]
    headers = fields.get("headers")
    key_missing = bool(stored["api_key_stored"]) and "api_key" not in fields
    headers_missing = bool(stored["headers_stored"]) and not (
        isinstance(headers, dict)
        and not any(isinstance(v, str) and v.startswith(signing.MASK_BULLET) for v in headers.values())
    )
    if not moved or not (key_missing or headers_missing):
        return {}
    if key_missing and headers_missing:
        message = gettext(
            "Enter the API key and the custom header values again (or remove them) to send them to a new "
            "address: stored credentials never go to an address they were not entered for."
        )
    elif key_missing:
        message = gettext(
            "Enter the API key again (or remove it) to send it to a new address: a stored API key never "
            "goes to an address it was not entered for."
        )
    else:
        message = gettext(
            "Enter the custom header values again (or remove the headers) to send them to a new "
            "address: stored header values never go to an address they were not entered for."
        )
    return {name: [message] for name in moved}


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
    with transaction.atomic():
        if app_settings.MAX_WEBHOOKS is not None:
            _webhooks_lock()
        webhook_limit_check()
        webhook.save()
    return webhook


def webhook_limit_check() -> None:
    """Refuse one webhook more than WEBHOOKS["MAX_WEBHOOKS"] allows (None: no limit).

    The one rule for every way in: webhook_create calls it, and the admin's form
    too, which must say it before its save (the admin cannot show an error raised
    while saving).
    """
    limit = app_settings.MAX_WEBHOOKS
    if limit is None:
        return
    count = Webhook.objects.count()
    if count >= limit:
        raise WebhookValidationError(
            ngettext(
                "This site has %(count)d webhook and allows at most %(max)d. "
                "Delete one before adding another.",
                "This site has %(count)d webhooks and allows at most %(max)d. "
                "Delete one before adding another.",
                count,
            )
            % {"count": count, "max": limit},
            code="max_webhooks",
        )


def _webhooks_lock() -> None:
    """Hold the site's settings row until the transaction ends, so that concurrent creates
    count one after the other and none passes the limit.

    An UPDATE that changes nothing is the lock on every backend: a row lock on
    PostgreSQL, the database's write lock on SQLite (where SELECT ... FOR UPDATE
    does nothing).
    """
    WebhookSettings.load()
    WebhookSettings.objects.filter(pk=1).update(enabled=F("enabled"))


def webhook_update(*, webhook: Webhook, actor=None, **fields) -> Webhook:
    """Change a webhook's fields; re-enabling clears the disabled reason and failure run.

    ``fields`` are only those given: a new address without the stored credentials
    entered again is refused (webhook_credentials_reentry_errors).
    """
    unknown = set(fields) - set(WEBHOOK_FIELDS)
    if unknown:
        raise TypeError(f"Unknown webhook fields: {', '.join(sorted(unknown))}")
    errors = webhook_credentials_reentry_errors(webhook=webhook, fields=fields)
    if errors:
        raise ValidationError(errors)
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
    """Delete a webhook with its deliveries and attempts (events stay for others).

    Its deliveries are locked first, in id order as a worker's record step locks
    them (services.deliveries._deliveries_hold), and only then collected: a worker
    recording attempts of them either commits first (its attempts are then
    collected and deleted too) or waits and drops them. Collected before the lock,
    an attempt committed meanwhile failed this delete on PostgreSQL (a deferred
    foreign key); on SQLite the transaction's write lock does the same.
    """
    with transaction.atomic(using=router.db_for_write(Webhook)):
        list(
            Delivery.objects.filter(webhook=webhook)
            .order_by("pk")
            .select_for_update()
            .values_list("pk", flat=True)
        )
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

"""Alerts to the people who own a webhook: it is about to be disabled, or it was.

Opt-in per webhook (``Webhook.failure_alerts``). Two kinds, each mailed at most
once a day per webhook:

- **failing**: the webhook's run of failed deliveries has reached ALERT_AT_SHARE of
  the auto-disable policy (AUTO_DISABLE_FAILURES failures spanning
  AUTO_DISABLE_AFTER_DAYS days), in both the failures and the days, so the owner
  can fix the receiver before the app disables it. Found by alerts_check(), the
  periodic check (``webhooks_app.tasks.alerts_check``);
- **disabled**: the app disabled it (410 Gone, or the run reached the policy),
  sent from the ``webhook_disabled`` signal.

The mail says what failed (the last failed delivery's answer or error), since
when, how far the run is from the policy, and links to the webhook's log of
failed deliveries. The owners are the operator's admins (Django's ``ADMINS``).
"At most once a day" is one conditional UPDATE of the kind's timestamp: of two
workers deciding at once, one mails.
"""

import logging
import math
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.mail import send_mail
from django.db import router, transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from ..conf import app_settings
from ..models import Delivery, Webhook
from ..signals import webhook_disabled

logger = logging.getLogger(__name__)

FAILING, DISABLED = "failing", "disabled"
SENT_FIELD = {FAILING: "alert_failing_sent_at", DISABLED: "alert_disabled_sent_at"}
ALERT_INTERVAL = timedelta(days=1)


def alert_recipients(*, webhook: Webhook) -> list[str]:
    """Who is told about a webhook: the operator's admins (settings.ADMINS, pairs or addresses)."""
    addresses = []
    for entry in getattr(settings, "ADMINS", None) or []:
        address = entry[1] if isinstance(entry, list | tuple) else entry
        if isinstance(address, str) and address and address not in addresses:
            addresses.append(address)
    return addresses


def failing_thresholds() -> tuple[int, timedelta] | None:
    """(failures, span) a run must reach to be about to be disabled; None when auto-disable is off."""
    limit = app_settings.AUTO_DISABLE_FAILURES
    if not limit:
        return None
    share = float(app_settings.ALERT_AT_SHARE)
    days = float(app_settings.AUTO_DISABLE_AFTER_DAYS or 0)
    return max(math.ceil(share * limit), 1), timedelta(days=share * days)


def webhook_is_failing(*, webhook: Webhook, now=None) -> bool:
    """True when an enabled webhook's run of failures has reached ALERT_AT_SHARE of the policy."""
    thresholds = failing_thresholds()
    if thresholds is None or not webhook.enabled or not webhook.failing_since:
        return False
    failures, span = thresholds
    now = now or timezone.now()
    return webhook.consecutive_failures >= failures and webhook.failing_since <= now - span


def alerts_check(*, now=None) -> int:
    """The periodic check: mail the owners of every webhook about to be disabled (once a day). Returns the count."""
    thresholds = failing_thresholds()
    if thresholds is None:
        return 0
    failures, span = thresholds
    now = now or timezone.now()
    candidates = Webhook.objects.filter(
        failure_alerts=True,
        enabled=True,
        consecutive_failures__gte=failures,
        failing_since__lte=now - span,
    ).filter(Q(alert_failing_sent_at__isnull=True) | Q(alert_failing_sent_at__lte=now - ALERT_INTERVAL))
    sent = 0
    for webhook in candidates:
        sent += webhook_alert(webhook=webhook, kind=FAILING, now=now)
    return sent


def webhook_alert(*, webhook: Webhook, kind: str, reason: str = "", now=None) -> bool:
    """Mail the webhook's owners about it (kind FAILING or DISABLED), unless this kind went out in
    the last day or the webhook has no alerts. True when a mail is on its way (sent after commit)."""
    if kind not in SENT_FIELD:
        raise ValueError(f"Unknown alert kind {kind!r}")
    if not webhook.failure_alerts:
        return False
    recipients = alert_recipients(webhook=webhook)
    if not recipients:
        logger.warning("Webhook %s needs an alert (%s) but settings.ADMINS names no one", webhook.pk, kind)
        return False
    now = now or timezone.now()
    field = SENT_FIELD[kind]
    using = router.db_for_write(Webhook)
    with transaction.atomic(using=using):
        claimed = (
            Webhook.objects.using(using)
            .filter(pk=webhook.pk, failure_alerts=True)
            .filter(Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lte": now - ALERT_INTERVAL}))
            .update(**{field: now})
        )
        if not claimed:
            return False
        setattr(webhook, field, now)
        state = Webhook.objects.using(using).get(pk=webhook.pk)
        subject, body = alert_message(webhook=state, kind=kind, reason=reason, now=now)
        transaction.on_commit(lambda: _send(webhook.pk, subject, body, recipients), using=using)
    return True


def _send(pk: int, subject: str, body: str, recipients: list[str]) -> None:
    try:
        # As Django's mail_admins() sends to the same people: its prefix and sender.
        send_mail(
            subject=f"{settings.EMAIL_SUBJECT_PREFIX}{subject}",
            message=body,
            from_email=settings.SERVER_EMAIL,
            recipient_list=recipients,
        )
    except Exception:
        logger.exception("Could not mail the alert about webhook %s", pk)


def _destination(url: str) -> str:
    """The address without its query or fragment (they may carry a receiver's token)."""
    parts = urlsplit(url or "")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) if parts.netloc else ""


def log_link(*, webhook: Webhook) -> str:
    """The console's page of the webhook's failed deliveries, absolute under SITE_URL when set."""
    try:
        path = reverse("webhooks_app:webhook-deliveries", args=[webhook.pk]) + "?status=failed"
    except NoReverseMatch:
        return ""
    base = (app_settings.SITE_URL or "").rstrip("/")
    return base + path


def _last_failure(webhook: Webhook) -> str:
    last = (
        Delivery.objects.filter(webhook=webhook, status=Delivery.Status.FAILED)
        .order_by("-created_at")
        .values("last_response_status", "last_error", "completed_at", "url")
        .first()
    )
    if last is None:
        return ""
    answer = f"HTTP {last['last_response_status']}" if last["last_response_status"] else "no answer"
    error = f": {last['last_error']}" if last["last_error"] else ""
    when = f" at {last['completed_at']:%Y-%m-%d %H:%M} UTC" if last["completed_at"] else ""
    return f"{answer}{error}{when}"


def alert_message(*, webhook: Webhook, kind: str, reason: str = "", now=None) -> tuple[str, str]:
    """The subject and body of an alert: what failed, since when, and where the log is."""
    now = now or timezone.now()
    lines = []
    destination = _destination(webhook.url) or "each event's recipient URL"
    since = f"{webhook.failing_since:%Y-%m-%d %H:%M} UTC" if webhook.failing_since else "recently"
    if kind == FAILING:
        subject = f"Webhook failing, about to be disabled: {webhook.name}"
        lines.append(
            f'The webhook "{webhook.name}" (id {webhook.pk}) to {destination} has failed '
            f"{webhook.consecutive_failures} deliveries in a row since {since}."
        )
        limit, days = app_settings.AUTO_DISABLE_FAILURES, app_settings.AUTO_DISABLE_AFTER_DAYS
        lines.append(
            f"It will be disabled once {limit} deliveries in a row have failed over at least {days:g} days: "
            "fix the receiver, or disable the webhook yourself, before then."
        )
    else:
        subject = f"Webhook disabled: {webhook.name}"
        lines.append(f'The webhook "{webhook.name}" (id {webhook.pk}) to {destination} was disabled.')
        if reason or webhook.disabled_reason:
            lines.append(f"Reason: {reason or webhook.disabled_reason}")
        if webhook.failing_since:
            lines.append(f"Its deliveries had been failing since {since}.")
        lines.append("Nothing is sent to it until it is enabled again, once the receiver works.")
    failure = _last_failure(webhook)
    if failure:
        lines.append(f"The last failed delivery: {failure}.")
    link = log_link(webhook=webhook)
    if link:
        lines.append(f"The failed deliveries: {link}")
    lines.append(
        "You get this because failure alerts are on for this webhook; they are mailed at most once a day."
    )
    return subject, "\n\n".join(lines) + "\n"


def _on_webhook_disabled(sender, webhook, reason="", **kwargs) -> None:
    if getattr(webhook, "failure_alerts", False):
        webhook_alert(webhook=webhook, kind=DISABLED, reason=reason)


webhook_disabled.connect(_on_webhook_disabled, dispatch_uid="webhooks_app.alerts.disabled")

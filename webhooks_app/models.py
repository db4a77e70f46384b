"""Webhooks, the events they receive, deliveries and the attempt log."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .events import ALL_EVENTS, registry, resource_of, resource_wildcard
from .fields import EncryptedJSONField, EncryptedTextField
from .signing import MASK_BULLET, mask, secret_generate
from .validators import (
    EVENTS_REQUIRED,
    URL_MAX_LENGTH,
    events_normalize,
    validate_custom_headers,
    validate_event_list,
    validate_event_types,
    validate_filters,
    validate_header_name,
    validate_header_value,
    validate_secret,
    validate_topic_prefix,
    validate_webhook_url,
)


def event_id_generate() -> str:
    return "evt_" + uuid.uuid4().hex


class Webhook(models.Model):
    """One receiver endpoint and the event types it subscribes to."""

    class NotificationType(models.TextChoices):
        REST = "REST", "REST"

    class PayloadFormat(models.TextChoices):
        JSON = "json", "JSON"
        XML = "xml", "XML"

    class Destination(models.TextChoices):
        URL = "url", _("The webhook's URL")
        RECIPIENT = "recipient", _("Recipient's URL")

    class PayloadEncryption(models.TextChoices):
        NONE = "none", _("None")
        AES_256_GCM = "aes-256-gcm", "AES-256-GCM"

    name = models.CharField(_("Webhook Name"), max_length=100)
    description = models.TextField(blank=True, max_length=1000)
    events = models.JSONField(
        _("Webhook Events"),
        default=list,
        validators=[validate_event_list],
        error_messages={"blank": EVENTS_REQUIRED},
        help_text=_('Event type names this webhook receives; ["*"] means all events.'),
    )
    notification_type = models.CharField(
        _("Notification Type"),
        max_length=16,
        choices=NotificationType.choices,
        default=NotificationType.REST,
    )
    url = models.URLField(
        _("URL"),
        max_length=URL_MAX_LENGTH,
        blank=True,
        validators=[validate_webhook_url],
        help_text=_(
            "The http(s) endpoint that receives a POST per event (required unless the "
            "destination is the recipient's URL)."
        ),
    )
    destination = models.CharField(
        max_length=16,
        choices=Destination.choices,
        default=Destination.URL,
        help_text=_(
            "Where each event goes: this webhook's URL, or the URL of the event's recipient "
            "(read per event by WEBHOOKS['RECIPIENT_URL'])."
        ),
    )
    recipient_credentials = models.BooleanField(
        _("Send credentials to recipients"),
        default=False,
        help_text=_(
            "For the recipient destination only: also send the API key, the custom headers and the "
            "secret hash header to each recipient's address. Off by default: whoever can emit an event "
            "or set a recipient's address chooses where it goes, so credentials meant for your partner "
            "would follow it there. The signature headers are always sent."
        ),
    )
    api_key = EncryptedTextField(
        _("API Key"),
        blank=True,
        max_length=500,
        # A TextField's max_length is not validated by Django; the key goes into a header.
        validators=[MaxLengthValidator(500), validate_header_value],
        help_text=_("Sent in the API key header of each request; stored encrypted."),
    )
    api_key_header = models.CharField(
        _("API key header"),
        max_length=64,
        default="X-API-Key",
        validators=[validate_header_name],
        help_text=_("Name of the header that carries the API key."),
    )
    secret = EncryptedTextField(
        default=secret_generate,
        help_text=_("Signing secret (whsec_...), stored encrypted."),
    )
    previous_secret = EncryptedTextField(
        blank=True,
        help_text=_("The secret before the last rotation; it keeps signing until it expires."),
    )
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    topic_prefix = models.CharField(
        max_length=100,
        blank=True,
        help_text=_(
            'Prepended to the event type in the payload and X-Webhook-Event ("acme." makes '
            '"acme.contact.created").'
        ),
    )
    headers = EncryptedJSONField(
        help_text=_("Static extra request headers (name -> value); values stored encrypted, shown masked.")
    )
    secret_hash_header = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_header_name],
        help_text=_("When set, every request carries the hex SHA-256 of the signing secret in this header."),
    )
    payload_encryption = models.CharField(
        max_length=16,
        choices=PayloadEncryption.choices,
        default=PayloadEncryption.NONE,
        help_text=_("aes-256-gcm: the payload's data is encrypted with the webhook's encryption key."),
    )
    encryption_key = EncryptedTextField(
        blank=True, help_text=_("32 random bytes, base64 (AES-256-GCM payload encryption); stored encrypted.")
    )
    enabled = models.BooleanField(default=True)
    payload_format = models.CharField(max_length=8, choices=PayloadFormat.choices, default=PayloadFormat.JSON)
    filters = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_filters],
        help_text=_(
            'Conditions on the event data, e.g. {"accepts_email": true} or '
            '{"country": ["SE", "NO"]}; all must hold for the webhook to receive the event.'
        ),
    )
    timeout = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_("Seconds to wait for the receiver (1-60); empty means the default (10)."),
    )
    disabled_reason = models.CharField(max_length=255, blank=True)
    disabled_code = models.CharField(
        max_length=40,
        blank=True,
        help_text=_("disabled_reason as a code of webhooks_app.texts (the console translates it)."),
    )
    disabled_params = models.JSONField(
        default=dict, blank=True, help_text=_("The parameters of disabled_code.")
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    failure_alerts = models.BooleanField(
        default=False,
        help_text=_(
            "Mail the site's admins when this webhook keeps failing and is about to be disabled, and "
            "when it is disabled (at most once a day each)."
        ),
    )
    alert_failing_sent_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the last about-to-be-disabled alert was mailed.")
    )
    alert_disabled_sent_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the last disabled alert was mailed.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["enabled"], name="webhooks_enabled_idx")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("webhooks_app:webhook-update", args=[self.pk])

    def clean(self):
        """The rules that need more than one field's value (the field validators do the rest).

        Empty filters are ``{}``. Each event type must be declared, except one this
        webhook already subscribes to (a type no longer declared stays until someone
        removes it, so saving a webhook back as it was read never fails). Then the
        subscription is stored in its one form: ``*`` alone when it is chosen (it
        includes every type), otherwise the names sorted, each once.
        """
        if self.filters in (None, "", [], ()):
            self.filters = {}
        errors = {}
        if self.destination == self.Destination.URL and not self.url:
            errors["url"] = gettext("A URL is required unless the destination is the recipient's URL.")
        events = self.events
        # A malformed list is left to the field's own validation.
        if events and isinstance(events, list) and all(isinstance(n, str) for n in events):
            try:
                validate_event_types(events)
            except ValidationError:
                try:  # only now read what the row holds: the common case costs no query
                    validate_event_types(events, kept=self._events_stored())
                except ValidationError as exc:
                    errors["events"] = exc.error_list
            if "events" not in errors:
                self.events = events_normalize(events)
        if self.headers in (None, ""):
            self.headers = {}
        self._headers_keep_masked()
        for name, validate in (
            ("headers", validate_custom_headers),
            ("secret", validate_secret),
            ("topic_prefix", validate_topic_prefix),
        ):
            try:
                validate(getattr(self, name))
            except ValidationError as exc:
                errors[name] = exc.error_list
        # One header, one meaning: the secret hash may not go in the API key's header,
        # and a custom header may be neither.
        api_key_header = (self.api_key_header or "X-API-Key").lower()
        if isinstance(self.secret_hash_header, str) and self.secret_hash_header.lower() == api_key_header:
            errors.setdefault("secret_hash_header", []).append(
                gettext("%(name)s is already the API key header.") % {"name": self.secret_hash_header}
            )
        if "headers" not in errors and isinstance(self.headers, dict):
            taken = {api_key_header, (self.secret_hash_header or "").lower()}
            clash = sorted(n for n in self.headers if n.lower() in taken)
            if clash:
                errors["headers"] = [
                    gettext("Header %(name)s is already the API key header or the secret hash header.")
                    % {"name": repr(clash[0])}
                ]
        if errors:
            raise ValidationError(errors)

    def _headers_keep_masked(self) -> None:
        """A header value sent back as read (masked, starting with a bullet) keeps the stored value.

        Reads show custom header values masked, as the API key; a client (the console's
        rows, an API PUT of what it read) that sends one back unchanged means "keep it".
        A real value never starts with a bullet (header values are printable ASCII).
        """
        headers = self.headers
        if not isinstance(headers, dict) or not any(
            isinstance(v, str) and v.startswith(MASK_BULLET) for v in headers.values()
        ):
            return
        stored = {}
        if self.pk is not None:
            row = Webhook.objects.filter(pk=self.pk).only("headers").first()
            stored = (row.headers if row else None) or {}
        self.headers = {
            name: stored[name]
            if isinstance(value, str) and value.startswith(MASK_BULLET) and name in stored
            else value
            for name, value in headers.items()
        }

    def _events_stored(self) -> list[str]:
        if self.pk is None:
            return []
        return Webhook.objects.filter(pk=self.pk).values_list("events", flat=True).first() or []

    @property
    def all_events(self) -> bool:
        return ALL_EVENTS in (self.events or [])

    def subscribes_to(self, event_type: str) -> bool:
        """The one subscription matcher: ``*``, ``resource.*`` or the exact name.

        A system event (declared ``deliverable=False``) matches nothing: it is never sent.
        """
        events = self.events or []
        return (
            ALL_EVENTS in events
            or event_type in events
            or resource_wildcard(resource_of(event_type)) in events
        ) and registry.is_deliverable(event_type)

    def sends_credentials_to(self, url: str) -> bool:
        """Whether a request to ``url`` carries the API key, the custom headers and the secret hash.

        They are the operator's credentials for the receiver the operator chose: they go
        to the URL this webhook names. A recipient's URL is chosen per event by whoever
        emits it or sets the recipient's URL (WEBHOOKS["RECIPIENT_URL"]), so it gets
        them only when ``recipient_credentials`` says so; signatures go everywhere.
        """
        if self.destination == self.Destination.RECIPIENT:
            return self.recipient_credentials
        return url == self.url

    @property
    def previous_secret_active(self) -> bool:
        """True while the previous secret still signs (a rotation's overlap)."""
        return bool(
            self.previous_secret
            and self.previous_secret_expires_at
            and self.previous_secret_expires_at > timezone.now()
        )

    @property
    def headers_masked(self) -> dict:
        """The custom headers with their values masked, as reads show them."""
        return {name: mask(value) for name, value in (self.headers or {}).items()}

    @property
    def api_key_hint(self) -> str:
        return mask(self.api_key)

    @property
    def secret_hint(self) -> str:
        return mask(self.secret)


class Event(models.Model):
    """One occurrence of an event type, with what caused it and its data."""

    id = models.CharField(primary_key=True, max_length=40, default=event_id_generate, editable=False)
    event_type = models.CharField(max_length=100, db_index=True)
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, help_text=_("The event time sent as event_time.")
    )
    context = models.JSONField(
        default=dict, blank=True, help_text=_("current_context: who or what caused it.")
    )
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.event_type} {self.id}"


class DeliveryQuerySet(models.QuerySet):
    def due(self, *, now):
        """Pending deliveries whose attempt is due and that no worker holds (no lease, or
        an expired one: its worker died)."""
        return self.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now).filter(
            models.Q(lease_until__isnull=True) | models.Q(lease_until__lt=now)
        )


class Delivery(models.Model):
    """One event to one webhook, through its attempts."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        SKIPPED = "skipped", _("Skipped")

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=100, help_text=_("Copied from the event for filtering."))
    url = models.CharField(
        max_length=URL_MAX_LENGTH,
        blank=True,
        help_text=_(
            "The URL this delivery goes to (the webhook's, or the recipient's for a webhook "
            "whose destination is the recipient)."
        ),
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # A plain reference (no constraint, no index): the retention purge deletes deliveries
    # with raw DELETEs, and a redelivery may outlive the delivery it repeats.
    redelivery_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        help_text=_(
            "The delivery this one redelivers (Redeliver, Redeliver all failed); empty for the first."
        ),
    )
    attempt_count = models.PositiveIntegerField(
        default=0, help_text=_("Attempts started, counted before each request is sent.")
    )
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the next attempt is due (pending deliveries).")
    )
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text=_("A worker holds this delivery until then.")
    )
    last_response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_code = models.CharField(
        max_length=40,
        blank=True,
        help_text=_("last_error as a code of webhooks_app.texts (the console translates it)."),
    )
    last_error_params = models.JSONField(
        default=dict, blank=True, help_text=_("The parameters of last_error_code.")
    )
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("deliveries")
        indexes = [
            models.Index(fields=["webhook", "-created_at"], name="wh_deliv_webhook_created_idx"),
            models.Index(fields=["webhook", "status", "-created_at"], name="wh_deliv_wh_status_idx"),
            models.Index(fields=["webhook", "event_type", "-created_at"], name="wh_deliv_wh_type_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="wh_deliv_due_idx"),
            models.Index(fields=["created_at"], name="wh_deliv_created_idx"),
            # The console's log across all webhooks filtered by status or event type
            # (health.deliveries_log): one page of the index per page of the log at 1M
            # deliveries. On PostgreSQL migration 0008 adds the other filter and the
            # webhook as non-key columns (INCLUDE), so that a page is read from the index
            # alone; other databases have no such columns (Django would warn, W040).
            models.Index(fields=["status", "-created_at", "-id"], name="wh_deliv_status_created_idx"),
            models.Index(fields=["event_type", "-created_at", "-id"], name="wh_deliv_type_created_idx"),
        ]

    def __str__(self):
        return f"Delivery {self.pk} of {self.event_id} to {self.webhook_id}"

    def get_absolute_url(self):
        return reverse("webhooks_app:delivery-detail", args=[self.pk])

    @property
    def is_final(self) -> bool:
        return self.status != self.Status.PENDING


class Attempt(models.Model):
    """One HTTP try of a delivery: what was sent and what came back."""

    class ErrorClass(models.TextChoices):
        NONE = "", _("None")
        HTTP_STATUS = "http_status", _("HTTP status")
        TIMEOUT = "timeout", _("Timeout")
        CONNECTION = "connection", _("Connection")
        DNS = "dns", "DNS"
        TLS = "tls", "TLS"
        BLOCKED = "blocked", _("Blocked destination")
        REDIRECT = "redirect", _("Redirect")
        INTERRUPTED = "interrupted", _("Interrupted")
        OTHER = "other", _("Other")

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField(help_text=_("1 for the first try, 2 for the first retry ..."))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    request_url = models.URLField(max_length=URL_MAX_LENGTH)
    request_headers = models.JSONField(default=dict, help_text=_("As sent, with secrets redacted."))
    request_body = models.TextField(blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True, help_text=_("Truncated to MAX_RESPONSE_BYTES."))
    response_truncated = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error_class = models.CharField(max_length=16, choices=ErrorClass.choices, blank=True)
    error_message = models.TextField(blank=True)
    error_code = models.CharField(
        max_length=40,
        blank=True,
        help_text=_("error_message as a code of webhooks_app.texts (the console translates it)."),
    )
    error_params = models.JSONField(default=dict, blank=True, help_text=_("The parameters of error_code."))

    class Meta:
        ordering = ["delivery", "number", "id"]
        indexes = [models.Index(fields=["delivery", "number"], name="wh_attempt_delivery_idx")]

    def __str__(self):
        return f"Attempt {self.number} of delivery {self.delivery_id}"

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300


class WebhookSettings(models.Model):
    """Site-wide webhook settings: one row (pk 1), created on first use."""

    enabled = models.BooleanField(
        default=True,
        help_text=_("Off: events and deliveries are still recorded, nothing is sent until it is on again."),
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("webhook settings")
        verbose_name_plural = _("webhook settings")
        permissions = [("change_sending", "Can switch all webhook sending on or off")]

    def __str__(self):
        return "Webhook settings"

    @classmethod
    def load(cls) -> "WebhookSettings":
        return cls.objects.get_or_create(pk=1)[0]


class DeliveryStatsHour(models.Model):
    """One finished hour of one webhook's deliveries, counted once (the Insight charts' rollup).

    Written by selectors.webhooks_insight the first time an hour is read after it is
    over and none of its deliveries is pending any more: from then on its counts cannot
    change (a redelivery is a new delivery in the current hour), so the charts and the
    list's 24-hour figures read at most 168 of these rows per webhook instead of every
    delivery. Hours still open are counted from the deliveries at each read.
    """

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField(help_text=_("Start of the hour (UTC) of the deliveries' creation."))
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    other = models.PositiveIntegerField(default=0, help_text=_("Cancelled and skipped deliveries."))
    latency = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "Histogram of the finished deliveries' response times: {bucket index: count} "
            "(selectors.LATENCY_BOUNDS_MS)."
        ),
    )

    class Meta:
        verbose_name = _("delivery statistics (hour)")
        verbose_name_plural = _("delivery statistics (hours)")
        constraints = [models.UniqueConstraint(fields=["webhook", "hour"], name="wh_stats_hour_unique")]

    def __str__(self):
        return f"Webhook {self.webhook_id} {self.hour:%Y-%m-%d %H}:00"


class PurgedDeliveryCount(models.Model):
    """Finished deliveries of one webhook and outcome that the retention purge deleted, counted.

    ``webhooks_deliveries_total`` of /metrics is a counter read from the database:
    the finished deliveries in the log plus these. The purge adds what it deletes
    here in the same transaction, so the counter never goes down (Prometheus would
    read a drop as a reset and its rates would spike).
    """

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Delivery.Status.choices)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("purged deliveries count")
        verbose_name_plural = _("purged deliveries counts")
        constraints = [models.UniqueConstraint(fields=["webhook", "status"], name="wh_purged_count_unique")]

    def __str__(self):
        return f"Webhook {self.webhook_id} {self.status}: {self.count}"


class Erasure(models.Model):
    """One erasure of a data subject's events: who asked, when, which key, how many rows (the audit log).

    The subject's value is never stored: ``subject_hash`` is an HMAC of
    ``key=value`` keyed by the site's SECRET_KEY, so the same subject can be
    recognised again (an erasure asked twice, or resumed) without keeping it.
    Rows are written batch by batch with the ``cursor`` they reached, so an
    erasure that was stopped resumes where it was (services.erasure).
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SETTLING = "settling", _("Waiting for deliveries in flight")
        FINISHED = "finished", _("Finished")

    subject_key = models.CharField(
        max_length=200, help_text=_("The declared subject path it was erased by (WEBHOOKS['SUBJECT_PATHS']).")
    )
    subject_hash = models.CharField(
        max_length=64,
        help_text=_(
            "HMAC-SHA256 of key=value under the site's SECRET_KEY; the value itself is never stored."
        ),
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(
        max_length=200, blank=True, help_text=_("Who asked for it, kept if the user is deleted.")
    )
    source = models.CharField(max_length=16, blank=True, help_text=_('"api" or "command".'))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0, help_text=_("Events found carrying the subject."))
    events = models.PositiveIntegerField(default=0, help_text=_("Events whose data and context were erased."))
    attempts = models.PositiveIntegerField(
        default=0, help_text=_("Attempts whose request and response bodies were erased.")
    )
    deliveries_cancelled = models.PositiveIntegerField(
        default=0, help_text=_("Pending deliveries of those events cancelled, so nothing is sent for them.")
    )
    cursor = models.CharField(
        max_length=40, blank=True, help_text=_("The last event id erased (batches go in id order).")
    )
    in_flight = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            "Deliveries a worker was sending when their event was erased: their attempts are erased again once they end."
        ),
    )
    settle_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When the leases of the deliveries in flight run out at the latest."),
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")
        indexes = [
            models.Index(fields=["subject_key", "subject_hash", "status"], name="wh_erasure_subject_idx")
        ]

    def __str__(self):
        return f"Erasure {self.pk} by {self.subject_key} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status == self.Status.FINISHED

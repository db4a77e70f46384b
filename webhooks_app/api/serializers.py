"""Shapes of the REST API: input validation and output; the services do the work."""

import copy
from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField

from .. import health, selectors
from ..events import ALL_EVENTS, TEST_EVENT, registry, resource_wildcard
from ..exceptions import InvalidEventData
from ..models import Attempt, Delivery, Event, Webhook, WebhookSettings
from ..payloads import to_jsonable
from ..validators import HEADERS_NOT_AN_OBJECT
from .errors import validation_detail

# JSON types, as the schema states them. DRF coerces what it is given: 5 becomes "5"
# in a text field, "true", "on" or 1 True in a boolean one, "5" or 5.0 the integer 5.
# The API takes each field's own JSON type only, so that the schema is the contract.


class StrictCharField(serializers.CharField):
    """A text: a JSON string only."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictURLField(serializers.URLField):
    """A URL: a JSON string only."""

    default_error_messages = {"not_text": "Not a valid string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_text")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false only."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only (not a text, a float or a boolean)."""

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


# The model fields of the API's writable models, mapped to the strict fields above.
STRICT_FIELD_MAPPING = {
    **serializers.ModelSerializer.serializer_field_mapping,
    models.CharField: StrictCharField,
    models.TextField: StrictCharField,
    models.URLField: StrictURLField,
    models.BooleanField: StrictBooleanField,
    models.PositiveSmallIntegerField: StrictIntegerField,
    models.PositiveIntegerField: StrictIntegerField,
    models.IntegerField: StrictIntegerField,
}


@extend_schema_field({"type": "object", "additionalProperties": {}})
class JSONObjectField(serializers.JSONField):
    """A JSON object (never a list or a scalar) that payloads.to_jsonable accepts.

    to_jsonable is the app's one strict-JSON check (NUL characters, lone
    surrogates, NaN, nesting depth), the same emit() applies.
    """

    default_error_messages = {"not_object": "Expected a JSON object."}

    def __init__(self, *, what: str = "value", **kwargs):
        self.what = what
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if not isinstance(data, dict):
            self.fail("not_object")
        try:
            return to_jsonable(data, what=self.what)
        except InvalidEventData as exc:
            raise serializers.ValidationError(str(exc)) from None


@extend_schema_field({"type": "object", "additionalProperties": {}})
class FiltersField(serializers.JSONField):
    """A webhook's filters: any JSON here; the model's validate_filters decides (the console's rule)."""


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
class HeadersField(serializers.JSONField):
    """HTTP headers as stored on an attempt: name -> value."""


class EventTypeField(serializers.ChoiceField):
    """One declared event type name; the choices are read from the registry per request."""

    default_error_messages = {
        "invalid_choice": '"{input}" is not a declared event type (GET /api/event-types/ lists them).'
    }

    def __init__(self, **kwargs):
        super().__init__(choices=[], **kwargs)


class EmittableEventTypeField(EventTypeField):
    """The event type of POST /api/events/: a declared type. The schema's enum leaves out
    ``webhook.test``, which only the test action sends; given anyway, it reaches the
    service, whose refusal (ReservedEventType) is the 400 on this field."""

    def to_internal_value(self, data):
        if data == TEST_EVENT:
            return data
        return super().to_internal_value(data)


class SubscribedEventField(EventTypeField):
    """An item of a webhook's ``events``: the choices document the declared types in the
    schema; which names are accepted is the model's rule (Webhook.clean), so that the
    API, the console and the admin refuse the same names with the same message."""

    default_error_messages = {"not_text": "Expected an event type name (text)."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_text")
        return data


class SecretField(StrictCharField):
    """A chosen signing secret, write-only: blank or left out keeps (or, on create, generates) one."""

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)
        if not value:
            raise SkipField()
        return value


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 20})
class CustomHeadersField(serializers.JSONField):
    """A webhook's static extra headers: name -> value in, name -> masked value out.

    Which names and values are accepted is the model's rule (validators.validate_custom_headers);
    a value sent back masked as read keeps the stored one (Webhook.clean).
    """

    def get_attribute(self, instance):
        # A listed row keeps its headers encrypted until here, and one no key can
        # decrypt still reads (selectors.webhook_headers_hint).
        return selectors.webhook_headers_hint(instance)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        # An object, as the schema says: a JSON text ('{"X-A": "v"}') is not one, though
        # the model field would read it as one.
        if not isinstance(value, dict):
            raise serializers.ValidationError(str(HEADERS_NOT_AN_OBJECT), code="headers")
        return value

    def to_representation(self, value):
        return value


class WebhookHealthSerializer(serializers.Serializer):
    """Whether the webhook's receiver gets what is sent to it (webhooks_app.health)."""

    state = serializers.ChoiceField(
        choices=["healthy", "failing", "disabled"],
        help_text="healthy: the deliveries since the last success got through (or none was tried yet); "
        "failing: deliveries since the last success did not get through (retrying or failed); "
        "disabled: the webhook is switched off (reason says why).",
    )
    since = serializers.DateTimeField(
        allow_null=True,
        help_text="failing: the first failed try after the last success; disabled: when it was disabled.",
    )
    consecutive_failures = serializers.IntegerField(
        help_text="failing: deliveries in a row that did not get through (retrying or failed), counted "
        "up to 1000; else 0."
    )
    reason = serializers.CharField(help_text='disabled: why (by a user, 410 Gone, failures); else "".')
    last_success_at = serializers.DateTimeField(
        allow_null=True, help_text="When the most recent successful delivery finished; null when none."
    )


class DeliveryStateSerializer(serializers.Serializer):
    """What a delivery is doing (webhooks_app.health), the console's wording as data."""

    state = serializers.ChoiceField(
        choices=["pending", "retrying", "succeeded", "failed", "cancelled", "skipped"],
        help_text="pending: never tried yet; retrying: a try failed and another is due; the others "
        "are the final statuses.",
    )
    attempt = serializers.IntegerField(
        allow_null=True, help_text="retrying: the number of the next try (or the one running now)."
    )
    attempts_max = serializers.IntegerField(
        allow_null=True, help_text="retrying: how many tries the delivery gets in all."
    )
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="retrying: when the next try is due (null while one runs)."
    )


class StrictFieldsMixin:
    """Reject keys the serializer does not know: a typo must not be silently ignored.

    Read-only fields are known, so a client may send back what it read.
    """

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            unknown = {str(key): ["Unknown field."] for key in data if key not in self.fields}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**unknown, **exc.detail}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


# Webhooks ---------------------------------------------------------------------


class WebhookSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A webhook as read and written through the API (never with its signing secret)."""

    serializer_field_mapping = STRICT_FIELD_MAPPING

    events = serializers.ListField(
        child=SubscribedEventField(),
        allow_empty=True,  # the model says "Choose at least one event, or All events."
        help_text='Event type names this webhook receives, or ["*"] for all events '
        "(including types declared later). GET /api/event-types/ lists the declared types.",
    )
    api_key = StrictCharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=500,
        help_text="Sent in the api_key_header of each request. Write-only: reads return api_key_hint. "
        "Omit it to keep the stored key; send an empty string to remove it.",
    )
    api_key_hint = serializers.SerializerMethodField(
        help_text="The stored API key masked but for its last characters; empty when none, "
        '"(cannot be decrypted)" when no configured key can read it.'
    )
    filters = FiltersField(
        required=False,
        help_text='Conditions on the event data: {"accepts_email": true}, '
        '{"address.country": ["SE", "NO"]}, {"score": {"$gte": 5}}, {"$context.source": "api"}, '
        '{"$or": [{...}, {...}]}. A key is a dotted path into data or $context.<path>; a value '
        "is a literal (equals), a list (one of) or an object of operators ($eq $ne $in $nin $gt "
        "$gte $lt $lte $exists $contains). Every condition must hold.",
    )
    timeout = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=60,
        help_text="Seconds to wait for the receiver; null means the default (WEBHOOKS['TIMEOUT']).",
    )
    last_delivery_status = serializers.ChoiceField(
        choices=Delivery.Status.choices,
        read_only=True,
        allow_null=True,
        help_text="Status of the most recent delivery; null when there was none.",
    )
    last_delivery_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the most recent delivery was created."
    )
    success_rate_24h = serializers.SerializerMethodField(
        help_text="Share (0-1) of the deliveries of the last 24 hours that finished and succeeded; "
        "null when none finished."
    )
    health = serializers.SerializerMethodField(
        help_text="Healthy, failing (since when, how many in a row) or disabled (why): what the "
        "console's list and webhook page show."
    )
    created_by = serializers.SerializerMethodField(help_text="Username of who created the webhook.")
    updated_by = serializers.SerializerMethodField(help_text="Username of who last changed the webhook.")
    headers = CustomHeadersField(
        required=False,
        help_text='Static extra request headers, name -> value (at most 20): {"X-Tenant": "acme"}. '
        "Names follow the API key header's rule; the names webhooks_app sets itself are refused. "
        "Values are stored encrypted and read back masked; a masked value sent back keeps the stored one.",
    )
    secret = SecretField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=500,
        help_text="A signing secret you choose (at least 16 characters): whsec_<base64> is used as "
        "Standard Webhooks defines it, any other text signs with its UTF-8 bytes. Left out or blank: "
        "generated on create, kept on update. Changing it keeps the previous one signing through the "
        "rotation overlap.",
    )
    previous_secret_expires_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="While set and in the future, the previous secret also signs (both signatures in "
        "webhook-signature and X-Webhook-Signature); POST .../expire-previous-secret/ ends it.",
    )

    class Meta:
        model = Webhook
        fields = [
            "id",
            "name",
            "description",
            "events",
            "notification_type",
            "url",
            "api_key",
            "api_key_hint",
            "api_key_header",
            "enabled",
            "payload_format",
            "filters",
            "timeout",
            "destination",
            "recipient_credentials",
            "payload_encryption",
            "topic_prefix",
            "headers",
            "secret",
            "secret_hash_header",
            "failure_alerts",
            "previous_secret_expires_at",
            "disabled_reason",
            "disabled_at",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
            "last_delivery_status",
            "last_delivery_at",
            "success_rate_24h",
            "health",
        ]
        read_only_fields = ["disabled_reason", "disabled_at", "created_at", "updated_at"]
        extra_kwargs = {
            "name": {"help_text": "A name that tells what this webhook is for."},
            "description": {"help_text": "Notes for other admins."},
            "notification_type": {"help_text": "How the receiver is notified: REST is an HTTP POST."},
            "url": {"help_text": "The http(s) endpoint that receives a POST per event."},
            "api_key_header": {"help_text": "The request header that carries the API key."},
            "enabled": {"help_text": "A disabled webhook receives nothing until enabled again."},
            "payload_format": {"help_text": "The body format of each request."},
            "destination": {
                "help_text": "url: every event goes to this webhook's url. recipient: each event goes to "
                "its recipient's URL, read per event by WEBHOOKS['RECIPIENT_URL'] (url may then be "
                "blank); an event without one is a skipped delivery."
            },
            "recipient_credentials": {
                "help_text": "destination recipient only. false (the default): each recipient's URL gets "
                "the signed event but not api_key, headers or the secret hash header, because whoever "
                "emits an event or sets a recipient's URL (WEBHOOKS['RECIPIENT_URL']) chooses where it "
                "goes. true: they are sent to every recipient's URL too. Signatures are always sent."
            },
            "payload_encryption": {
                "help_text": "aes-256-gcm: data is sent encrypted with the webhook's encryption_key "
                '(generated when switched on, returned by create and GET .../secret/); "is_encrypted": '
                "true marks such bodies. none: data is sent in clear."
            },
            "disabled_reason": {"help_text": "Why the webhook was disabled (by a user or automatically)."},
            "topic_prefix": {
                "help_text": "Prepended to the event type in the payload's event_type and X-Webhook-Event: "
                '"acme." sends contact.created as acme.contact.created.'
            },
            "secret_hash_header": {
                "help_text": "When set, every request carries the hex SHA-256 of the signing secret in "
                "this header (for receivers that compare a static value). Blank: off."
            },
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # For the schema's enum only: the model decides which names are accepted.
        self.fields["events"].child.choices = [
            ALL_EVENTS,
            *(resource_wildcard(r) for r in registry.resources()),
            *registry.deliverable_names(),
        ]
        # The URL may only be left out for a webhook whose destination is the
        # recipient's URL; otherwise a missing URL is reported with the other
        # missing fields, in one response.
        data = getattr(self, "initial_data", None)
        if isinstance(data, dict) and "url" in self.fields and not self.partial:
            destination = data.get("destination") or getattr(self.instance, "destination", None)
            self.fields["url"].required = destination != Webhook.Destination.RECIPIENT

    def to_internal_value(self, data):
        """The fields' own checks, then the model's validation (full_clean), all reported at once.

        The rules live on the model (field validators and Webhook.clean): the same
        ones the console form and the admin run, with the same messages. A field
        that failed here is left out of the model's run.
        """
        try:
            attrs, errors = super().to_internal_value(data), {}
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict) or not isinstance(data, Mapping):
                raise
            errors = dict(exc.detail)
            attrs = self._fields_valid(data, skip=errors)
        errors.update({k: v for k, v in self._model_errors(attrs, skip=errors).items() if k not in errors})
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def _fields_valid(self, data, *, skip) -> dict:
        attrs = {}
        for field in self._writable_fields:
            if field.field_name in skip:
                continue
            try:
                value = field.run_validation(field.get_value(data))
            except (serializers.ValidationError, DjangoValidationError, SkipField):
                continue
            self.set_value(attrs, field.source_attrs, value)
        return attrs

    def _model_errors(self, attrs: dict, *, skip) -> dict:
        webhook = copy.copy(self.instance) if isinstance(self.instance, Webhook) else Webhook()
        for name, value in attrs.items():
            setattr(webhook, name, value)
        try:
            webhook.full_clean(exclude=set(skip), validate_unique=False, validate_constraints=False)
        except DjangoValidationError as exc:
            return validation_detail(exc)
        return {}

    @extend_schema_field(serializers.CharField())
    def get_api_key_hint(self, webhook) -> str:
        return selectors.webhook_api_key_hint(webhook)

    @extend_schema_field(serializers.FloatField(allow_null=True, min_value=0, max_value=1))
    def get_success_rate_24h(self, webhook) -> float | None:
        return selectors.success_rate(webhook)

    @extend_schema_field(WebhookHealthSerializer)
    def get_health(self, webhook) -> dict:
        found = getattr(webhook, "health", None) or health.webhook_health(webhook)
        return WebhookHealthSerializer(found.as_dict()).data

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_created_by(self, webhook) -> str | None:
        return webhook.created_by.get_username() if webhook.created_by_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_updated_by(self, webhook) -> str | None:
        return webhook.updated_by.get_username() if webhook.updated_by_id else None


class WebhookCreatedSerializer(WebhookSerializer):
    """The create response: the webhook and, this once, its signing secret."""

    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (whsec_...). Store it now: reads never return it; "
        "GET .../secret/ does, for users who may change the webhook.",
    )

    encryption_key = serializers.CharField(
        read_only=True,
        help_text="The payload encryption key (base64 of 32 bytes) when payload_encryption is on, "
        'else "". Store it now: GET .../secret/ returns it again only to users who may change '
        "the webhook.",
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*(f for f in WebhookSerializer.Meta.fields if f != "secret"), "secret", "encryption_key"]


class WebhookSecretSerializer(serializers.ModelSerializer):
    """The current signing secret of a webhook."""

    secret = serializers.CharField(read_only=True, help_text="The signing secret (whsec_...).")
    previous_secret_expires_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="After a rotation the previous secret also signs until then "
        "(WEBHOOKS['SECRET_ROTATION_OVERLAP_HOURS'], default 24), so receivers can switch without "
        "dropping requests; null when no overlap runs.",
    )

    encryption_key = serializers.CharField(
        read_only=True,
        help_text='The payload encryption key (AES-256-GCM, base64 of 32 bytes); "" when the '
        "webhook never encrypted its payloads.",
    )

    class Meta:
        model = Webhook
        fields = ["id", "secret", "previous_secret_expires_at", "encryption_key"]


class WebhookEncryptionKeySerializer(serializers.ModelSerializer):
    """A webhook's payload encryption key, after a rotation."""

    encryption_key = serializers.CharField(
        read_only=True, help_text="The new payload encryption key (AES-256-GCM, base64 of 32 bytes)."
    )

    class Meta:
        model = Webhook
        fields = ["id", "payload_encryption", "encryption_key"]
        read_only_fields = fields


class RedeliverFailedSerializer(StrictFieldsMixin, serializers.Serializer):
    since = serializers.DateTimeField(
        help_text="Redeliver the failed deliveries created at or after this moment (in the past)."
    )


class RedeliverFailedResultSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="How many failed deliveries got a new delivery.")


class WebhookSettingsSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """The site-wide webhook settings: the switch for all sending."""

    enabled = StrictBooleanField(
        help_text="false: events and deliveries are still recorded, nothing is sent; true again: "
        "everything held is sent, oldest first."
    )
    updated_by = serializers.SerializerMethodField(help_text="Username of who last switched it.")

    class Meta:
        model = WebhookSettings
        fields = ["enabled", "updated_at", "updated_by"]
        read_only_fields = ["updated_at", "updated_by"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_updated_by(self, row) -> str | None:
        return row.updated_by.get_username() if row.updated_by_id else None


class StatsBucketSerializer(serializers.Serializer):
    start = serializers.DateTimeField(
        help_text="Start of the bucket (an hour, or 6 hours for 7d; UTC-aligned)."
    )
    succeeded = serializers.IntegerField(help_text="Deliveries created in the bucket that succeeded.")
    failed = serializers.IntegerField(help_text="... that failed for good (retries exhausted).")
    pending = serializers.IntegerField(help_text="... still being tried (or held while sending is off).")


class StatsLatencySerializer(serializers.Serializer):
    p50 = serializers.IntegerField(
        allow_null=True,
        help_text="Median response time (ms) of the last attempt of the finished deliveries, read "
        "from a histogram (the lower bound of its bucket, at most ~20% below); null when none.",
    )
    p95 = serializers.IntegerField(allow_null=True, help_text="95th percentile, likewise.")


class WebhookStatsSerializer(serializers.Serializer):
    """A webhook's deliveries over time: what the console's chart draws."""

    period = serializers.ChoiceField(choices=["24h", "7d"])
    buckets = StatsBucketSerializer(many=True, help_text="Oldest first; the last one is the current bucket.")
    success_rate = serializers.FloatField(
        allow_null=True,
        min_value=0,
        max_value=1,
        help_text="succeeded / (succeeded + failed) over the period; null when none finished.",
    )
    latency_ms = StatsLatencySerializer()


# Deliveries -------------------------------------------------------------------


class DeliverySerializer(serializers.ModelSerializer):
    """One event to one webhook: its state, without the event body or the attempts."""

    webhook = serializers.IntegerField(source="webhook_id", read_only=True, help_text="The webhook's id.")
    event_id = serializers.CharField(read_only=True, help_text="The event id (the webhook-id header).")
    url = serializers.CharField(
        read_only=True,
        help_text="The URL this delivery goes to: the webhook's, or the recipient's when the webhook's "
        'destination is recipient ("" for a skipped delivery, whose last_error says why).',
    )
    state = serializers.SerializerMethodField(
        help_text="What the delivery is doing: pending (never tried), retrying (attempt n of m, next "
        "at), or its final status; what the console shows."
    )
    redelivery_of = serializers.IntegerField(
        source="redelivery_of_id",
        read_only=True,
        allow_null=True,
        help_text="The id of the delivery this one redelivers (POST .../redeliver/ or redeliver-failed); "
        "null for a first delivery.",
    )

    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook",
            "event_id",
            "event_type",
            "url",
            "status",
            "state",
            "redelivery_of",
            "attempt_count",
            "next_attempt_at",
            "last_response_status",
            "last_error",
            "last_duration_ms",
            "created_at",
            "updated_at",
            "completed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(DeliveryStateSerializer)
    def get_state(self, delivery) -> dict:
        return DeliveryStateSerializer(health.delivery_state(delivery).as_dict()).data


class EventSerializer(serializers.ModelSerializer):
    """An event as its payload carries it."""

    event_time = serializers.DateTimeField(source="created_at", read_only=True)
    context = JSONObjectField(read_only=True, help_text="current_context: who or what caused the event.")
    data = JSONObjectField(read_only=True)

    class Meta:
        model = Event
        fields = ["id", "event_type", "event_time", "context", "data"]
        read_only_fields = fields


class AttemptSerializer(serializers.ModelSerializer):
    """One HTTP try: what was sent (secrets redacted) and what came back."""

    request_headers = HeadersField(read_only=True, help_text="As sent, with secrets redacted.")
    response_headers = HeadersField(read_only=True)
    succeeded = serializers.BooleanField(read_only=True, help_text="The receiver answered 2xx.")

    class Meta:
        model = Attempt
        fields = [
            "id",
            "number",
            "created_at",
            "request_url",
            "request_headers",
            "request_body",
            "response_status",
            "response_headers",
            "response_body",
            "response_truncated",
            "duration_ms",
            "error_class",
            "error_message",
            "succeeded",
        ]
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    """A delivery with its event and every attempt, oldest first."""

    event = EventSerializer(read_only=True)
    attempts = serializers.SerializerMethodField()

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "event", "attempts"]
        read_only_fields = fields

    @extend_schema_field(AttemptSerializer(many=True))
    def get_attempts(self, delivery) -> list:
        return AttemptSerializer(selectors.attempt_list(delivery=delivery), many=True).data


# Event types and events -------------------------------------------------------


class EventTypeSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The event type, e.g. contact.updated.")
    description = serializers.CharField(help_text="What happened when an event of this type is sent.")
    resource = serializers.CharField(help_text="The part before the first dot, e.g. contact.")
    label = serializers.CharField(
        source="display", help_text="The display name (the name when none is declared)."
    )
    deliverable = serializers.BooleanField(
        help_text="False for a system event: listed, never sent, refused in a webhook's events."
    )


class EventEmitSerializer(StrictFieldsMixin, serializers.Serializer):
    """An event to emit: a declared type, its data and what caused it."""

    event_type = EmittableEventTypeField(
        help_text="A declared event type (GET /api/event-types/), except webhook.test: only the "
        "test action (POST /api/webhooks/{id}/test/) sends it."
    )
    data = JSONObjectField(
        what="event data", required=False, default=dict, help_text="The event data, sent as data."
    )
    context = JSONObjectField(
        what="event context",
        required=False,
        default=dict,
        help_text="Merged into current_context (which already names the API user as actor).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event_type"].choices = [n for n in registry.names() if n != TEST_EVENT]


class EventEmittedSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The event id (webhook-id header and payload id).")
    event_type = serializers.CharField()
    event_time = serializers.DateTimeField(source="created_at")
    deliveries = serializers.IntegerField(
        source="deliveries_count",
        help_text="How many webhooks get the event (0: none subscribed or all filtered out).",
    )

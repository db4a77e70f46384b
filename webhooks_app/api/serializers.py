"""Shapes of the REST API: input validation and output; the services do the work."""

import json
from collections.abc import Mapping

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import selectors
from ..events import ALL_EVENTS, registry
from ..models import Attempt, Delivery, Event, Webhook
from ..validators import validate_header_value

MAX_JSON_DEPTH = 32
MAX_FILTERS = 50
MAX_FILTER_VALUES = 100
MAX_FILTERS_CHARS = 10_000


def json_check(value, *, depth: int = 0) -> None:
    """Refuse JSON that the databases cannot store.

    PostgreSQL's jsonb rejects NUL characters and lone UTF-16 surrogates (both
    reach Python through JSON escapes such as "\\u0000"), so they would fail at
    save time with a database error; deep nesting is refused before it costs
    recursion anywhere further down.
    """
    if depth > MAX_JSON_DEPTH:
        raise serializers.ValidationError(f"Nested more than {MAX_JSON_DEPTH} levels deep.")
    if isinstance(value, str):
        _text_check(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _text_check(str(key))
            json_check(item, depth=depth + 1)
    elif isinstance(value, list):
        for item in value:
            json_check(item, depth=depth + 1)


def _text_check(text: str) -> None:
    if "\x00" in text:
        raise serializers.ValidationError("Text may not contain NUL characters (\\u0000).")
    if any("\ud800" <= c <= "\udfff" for c in text):
        raise serializers.ValidationError("Text may not contain unpaired surrogates (\\ud800-\\udfff).")


@extend_schema_field({"type": "object", "additionalProperties": {}})
class JSONObjectField(serializers.JSONField):
    """A JSON object (never a list or a scalar), storable in any supported database."""

    default_error_messages = {"not_object": "Expected a JSON object."}

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if not isinstance(data, dict):
            self.fail("not_object")
        json_check(data)
        return data


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


def validate_filters(value: dict) -> None:
    """Filters are {"dotted.path": scalar or [scalars]}; see selectors.webhook_filters_match."""
    if len(value) > MAX_FILTERS:
        raise serializers.ValidationError(f"At most {MAX_FILTERS} conditions.")
    for path, expected in value.items():
        if not path or len(path) > 200:
            raise serializers.ValidationError("Each condition names a field path of 1-200 characters.")
        items = expected if isinstance(expected, list) else [expected]
        if isinstance(expected, list) and not 0 < len(expected) <= MAX_FILTER_VALUES:
            raise serializers.ValidationError(
                f"{path}: a list of accepted values has 1-{MAX_FILTER_VALUES} items."
            )
        if any(isinstance(item, dict | list) for item in items):
            raise serializers.ValidationError(
                f"{path}: expected a value (text, number, true, false or null) or a list of values."
            )
    if len(json.dumps(value)) > MAX_FILTERS_CHARS:
        raise serializers.ValidationError(f"At most {MAX_FILTERS_CHARS} characters of JSON.")


# Webhooks ---------------------------------------------------------------------


class WebhookSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A webhook as read and written through the API (never with its signing secret)."""

    events = serializers.ListField(
        child=EventTypeField(),
        allow_empty=False,
        min_length=1,
        help_text='Event type names this webhook receives, or ["*"] for all events '
        "(including types declared later). GET /api/event-types/ lists the declared types.",
    )
    api_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=500,
        validators=[validate_header_value],
        help_text="Sent in the api_key_header of each request. Write-only: reads return api_key_hint. "
        "Omit it to keep the stored key; send an empty string to remove it.",
    )
    api_key_hint = serializers.CharField(
        read_only=True, help_text="The stored API key masked but for its last characters; empty when none."
    )
    filters = JSONObjectField(
        required=False,
        validators=[validate_filters],
        help_text='Conditions on the event data, e.g. {"accepts_email": true} or '
        '{"address.country": ["SE", "NO"]}; all must hold for the webhook to receive an event.',
    )
    timeout = serializers.IntegerField(
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
    created_by = serializers.SerializerMethodField(help_text="Username of who created the webhook.")
    updated_by = serializers.SerializerMethodField(help_text="Username of who last changed the webhook.")

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
            "disabled_reason",
            "disabled_at",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
            "last_delivery_status",
            "last_delivery_at",
            "success_rate_24h",
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
            "disabled_reason": {"help_text": "Why the webhook was disabled (by a user or automatically)."},
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = registry.names()
        instance = self.instance if isinstance(self.instance, Webhook) else None
        if instance is not None:
            # Keep types the webhook already has although they are no longer declared,
            # so that sending back what was read does not fail.
            names += sorted({n for n in instance.events or [] if n != ALL_EVENTS and n not in names})
        self.fields["events"].child.choices = [ALL_EVENTS, *names]

    def validate_events(self, events: list[str]) -> list[str]:
        # "*" wins over single types: it already includes them (as in the console).
        return [ALL_EVENTS] if ALL_EVENTS in events else sorted(set(events))

    @extend_schema_field(serializers.FloatField(allow_null=True, min_value=0, max_value=1))
    def get_success_rate_24h(self, webhook) -> float | None:
        return selectors.success_rate(webhook)

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

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class WebhookSecretSerializer(serializers.ModelSerializer):
    """The current signing secret of a webhook."""

    secret = serializers.CharField(read_only=True, help_text="The signing secret (whsec_...).")
    previous_secret_expires_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="After a rotation the previous secret also signs until then (24 hours), "
        "so receivers can switch without dropping requests.",
    )

    class Meta:
        model = Webhook
        fields = ["id", "secret", "previous_secret_expires_at"]


class WebhookListParamsSerializer(serializers.Serializer):
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Part of the name or the URL."
    )


class RedeliverFailedSerializer(StrictFieldsMixin, serializers.Serializer):
    since = serializers.DateTimeField(
        help_text="Redeliver the failed deliveries created at or after this moment (in the past)."
    )

    def validate_since(self, since):
        if since > timezone.now():
            raise serializers.ValidationError("Choose a moment in the past.")
        return since


class RedeliverFailedResultSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="How many failed deliveries got a new delivery.")


# Deliveries -------------------------------------------------------------------


class DeliverySerializer(serializers.ModelSerializer):
    """One event to one webhook: its state, without the event body or the attempts."""

    webhook = serializers.IntegerField(source="webhook_id", read_only=True, help_text="The webhook's id.")
    event_id = serializers.CharField(read_only=True, help_text="The event id (the webhook-id header).")

    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook",
            "event_id",
            "event_type",
            "status",
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


class DeliveryFilterSerializer(serializers.Serializer):
    """Query parameters of a webhook's delivery log."""

    status = serializers.ChoiceField(
        choices=Delivery.Status.choices, required=False, help_text="Only deliveries in this status."
    )
    event_type = serializers.CharField(
        required=False, max_length=100, help_text="Only deliveries of this event type."
    )
    created_after = serializers.DateTimeField(
        required=False, help_text="Only deliveries created at or after this moment."
    )
    created_before = serializers.DateTimeField(
        required=False, help_text="Only deliveries created before this moment."
    )


# Event types and events -------------------------------------------------------


class EventTypeSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The event type, e.g. contact.updated.")
    description = serializers.CharField(help_text="What happened when an event of this type is sent.")
    resource = serializers.CharField(help_text="The part before the first dot, e.g. contact.")


class EventEmitSerializer(StrictFieldsMixin, serializers.Serializer):
    """An event to emit: a declared type, its data and what caused it."""

    event_type = EventTypeField(help_text="A declared event type (GET /api/event-types/).")
    data = JSONObjectField(required=False, default=dict, help_text="The event data, sent as data.")
    context = JSONObjectField(
        required=False,
        default=dict,
        help_text="Merged into current_context (which already names the API user as actor).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event_type"].choices = registry.names()


class EventEmittedSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The event id (webhook-id header and payload id).")
    event_type = serializers.CharField()
    event_time = serializers.DateTimeField(source="created_at")
    deliveries = serializers.IntegerField(
        source="deliveries_count",
        help_text="How many webhooks get the event (0: none subscribed or all filtered out).",
    )

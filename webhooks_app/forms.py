"""Forms of the console: the webhook form and the small filter and action forms."""

from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.utils import timezone

from .events import ALL_EVENTS, registry
from .exceptions import error_dict
from .models import Webhook
from .params import DeliveryListParams

ALL_EVENTS_LABEL = "All events"
ALL_EVENTS_DESCRIPTION = "Every declared event type, including types declared later."
UNDECLARED_GROUP = "No longer declared"


@dataclass(frozen=True)
class EventChoice:
    """One checkbox of the Webhook Events field, as the template draws it."""

    value: str
    label: str
    description: str
    checked: bool


@dataclass(frozen=True)
class EventGroup:
    resource: str
    choices: list[EventChoice]


def event_type_groups(extra: list[str] | tuple[str, ...] = ()) -> dict[str, list[tuple[str, str]]]:
    """Declared event types grouped by resource: {resource: [(name, description)]}.

    ``extra`` are names a webhook still subscribes to although they are no longer
    declared; they get their own group so that saving the form does not drop them
    without the admin noticing.
    """
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, event_type in registry.types().items():
        groups.setdefault(event_type.resource, []).append((name, event_type.description))
    undeclared = sorted({n for n in extra if n != ALL_EVENTS and not registry.is_declared(n)})
    if undeclared:
        groups[UNDECLARED_GROUP] = [(n, "Not declared any more: nothing emits it.") for n in undeclared]
    return groups


class EventsField(forms.MultipleChoiceField):
    """The Webhook Events checkboxes. The choices only draw them: which names are
    allowed is the model's rule (Webhook.clean), so the message is the same as the
    API's and the admin's."""

    def valid_value(self, value) -> bool:
        return True


class WebhookForm(forms.ModelForm):
    """Create or edit a webhook: the model's validators and clean() decide what is valid.

    The form only adapts the input (checkboxes, JSON text, the write-only API key);
    every rule and message comes from the model, as in the API and the admin. The
    API key is never rendered back: a blank field keeps the stored key, and
    ``clear_api_key`` removes it.
    """

    events = EventsField(
        label="Webhook Events",
        # An empty field never reaches the model's validation: say the model's message.
        error_messages={"required": Webhook._meta.get_field("events").error_messages["blank"]},
        widget=forms.CheckboxSelectMultiple,
        help_text="The events that trigger this webhook. Choose All events to receive every type.",
    )
    url = forms.CharField(
        label="URL",
        max_length=2000,
        # Required unless the destination is the recipient's URL: the model's rule
        # (Webhook.clean) says so, with the API's message.
        required=False,
        widget=forms.TextInput(
            attrs={"placeholder": "https://example.com/webhooks", "inputmode": "url", "spellcheck": "false"}
        ),
        help_text="The web address that receives an HTTP POST for each event (http or https).",
    )
    api_key = forms.CharField(
        label="API Key",
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Optional. Sent with every request so the receiver can tell it is really you. "
        "Stored encrypted and never shown again.",
    )
    clear_api_key = forms.BooleanField(
        label="Remove the stored API key",
        required=False,
    )
    filters = forms.JSONField(
        label="Filters",
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
        help_text='Optional conditions on the event data, as a JSON object: {"accepts_email": true}, '
        '{"country": ["SE", "NO"]} or {"score": {"$gte": 5}}; "$context.source" reads the event context, '
        '{"$or": [...]} combines. Every condition must hold.',
    )

    class Meta:
        model = Webhook
        fields = [
            "name",
            "events",
            "notification_type",
            "url",
            "api_key",
            "description",
            "api_key_header",
            "timeout",
            "payload_format",
            "filters",
            "enabled",
            "destination",
            "payload_encryption",
        ]
        labels = {
            "description": "Description",
            "api_key_header": "API key header name",
            "timeout": "Timeout (seconds)",
            "payload_format": "Payload format",
            "enabled": "Enabled",
            "destination": "Destination",
            "payload_encryption": "Payload encryption",
        }
        help_texts = {
            "name": "A descriptive name, so you can tell what this webhook is for.",
            "notification_type": "REST: the external system is notified through its API (an HTTP POST).",
            "description": "Optional notes for other admins: who owns the receiver, what it does.",
            "api_key_header": "The request header that carries the API key.",
            "timeout": "How long to wait for the receiver, 1 to 60 seconds. Empty: the default.",
            "payload_format": "The body format of each request.",
            "enabled": "A disabled webhook receives nothing until it is enabled again.",
            "destination": "Recipient's URL: each event goes to the URL of the person or account it is "
            "about (for example a contact's webhook URL); the URL field may then stay empty. An event "
            "without one is logged as skipped.",
            "payload_encryption": "AES-256-GCM: the event data is sent encrypted; a key is generated "
            "and shown once. The id, type, time and context stay readable.",
        }
        error_messages = {"name": {"required": "Give the webhook a name."}}
        widgets = {
            "name": forms.TextInput(attrs={"placeholder": "e.g. CRM sync", "autofocus": True}),
            "description": forms.Textarea(attrs={"rows": 2}),
            "timeout": forms.NumberInput(attrs={"placeholder": "10"}),
            "destination": forms.RadioSelect,
        }

    # Fields shown in the collapsible "Advanced" section of the form.
    advanced_fields = (
        "description",
        "api_key_header",
        "timeout",
        "payload_format",
        "payload_encryption",
        "filters",
        "enabled",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        subscribed = list(self.instance.events or []) if self.instance.pk else []
        self.groups = event_type_groups(subscribed)
        self.fields["events"].choices = [(ALL_EVENTS, ALL_EVENTS_LABEL)] + [
            (resource, choices) for resource, choices in self.groups.items()
        ]
        self.initial["api_key"] = ""
        # The URL may stay empty only for a webhook sent to each event's recipient.
        destination = (self.data.get("destination") if self.is_bound else None) or self.instance.destination
        self.fields["url"].required = destination != Webhook.Destination.RECIPIENT
        # The model's validators allow 1-60; the field's own range starts at 0.
        self.fields["timeout"].widget.attrs.update(min=1, max=60)
        if self.instance.pk and self.instance.api_key:
            self.fields["api_key"].help_text = (
                f"A key ending in {self.instance.api_key_hint.lstrip(chr(0x2022))} is stored. "
                "Leave this blank to keep it, or type a new key to replace it."
            )
            self.fields["api_key"].widget.attrs["placeholder"] = self.instance.api_key_hint
        else:
            del self.fields["clear_api_key"]

    @property
    def editing(self) -> bool:
        return bool(self.instance.pk)

    def event_groups(self) -> list[EventGroup]:
        """The event checkboxes grouped by resource, with descriptions and state."""
        selected = set(self["events"].value() or [])
        all_events = EventGroup(
            "",
            [EventChoice(ALL_EVENTS, ALL_EVENTS_LABEL, ALL_EVENTS_DESCRIPTION, ALL_EVENTS in selected)],
        )
        return [all_events] + [
            EventGroup(resource, [EventChoice(n, n, d, n in selected) for n, d in choices])
            for resource, choices in self.groups.items()
        ]

    def advanced_has_errors(self) -> bool:
        return any(name in self.errors for name in self.advanced_fields)

    def main_fields(self):
        return [self[n] for n in self.fields if n not in self.advanced_fields and n != "clear_api_key"]

    def advanced(self):
        return [self[n] for n in self.advanced_fields]

    def clean(self):
        cleaned = super().clean()
        new_key = cleaned.get("api_key", "")
        if self.instance.pk:
            if cleaned.get("clear_api_key"):
                if new_key:
                    self.add_error("clear_api_key", "Either type a new key or remove the stored one.")
                else:
                    cleaned["api_key"] = ""
            elif not new_key:
                # Security note: the stored key is never sent to the browser, so an
                # empty field means "keep it", not "remove it".
                cleaned["api_key"] = self.instance.api_key
        return cleaned

    def service_fields(self) -> dict:
        """The cleaned values as keyword arguments of webhook_create/webhook_update."""
        return {name: self.cleaned_data[name] for name in self._meta.fields if name in self.cleaned_data}


class DeliveryFilterForm(DeliveryListParams):
    """The filters of a webhook's Deliveries page (GET): the API's parameters, drawn as selects."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = registry.names()
        current = self.data.get("event_type") if self.is_bound else ""
        if current and current not in names and len(current) <= 100 and "\x00" not in current:
            names.append(current)
        self.fields["event_type"].widget = forms.Select(
            choices=[("", "Any event type")] + [(n, n) for n in names]
        )


class RedeliverFailedForm(forms.Form):
    """Redeliver every failed delivery of a webhook created since a moment."""

    since = forms.DateTimeField(
        label="Failed since",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "initial", {"since": timezone.localtime(timezone.now() - timedelta(hours=24)).replace(second=0)}
        )
        super().__init__(*args, **kwargs)
        self.fields["since"].label = f"Failed since ({timezone.get_current_timezone_name()})"


def form_errors_add(form: forms.Form, exc: Exception) -> None:
    """Put the messages of a service's error (a WebhookError or a ValidationError) on the form.

    Each goes next to the field it names when the form has that field, else at the top.
    """
    for field, errors in error_dict(exc).items():
        form.add_error(field if field in form.fields else None, errors)

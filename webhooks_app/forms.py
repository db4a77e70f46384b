"""Forms of the console: the webhook form and the small filter and action forms."""

from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .events import ALL_EVENTS, registry, resource_wildcard, wildcard_resource
from .exceptions import error_dict
from .models import Webhook
from .params import DeliveryListParams
from .signing import MASK_BULLET, mask
from .validators import MAX_CUSTOM_HEADERS, URL_MAX_LENGTH

ALL_EVENTS_LABEL = _("All events")
ALL_EVENTS_DESCRIPTION = _("Every declared event type, including types declared later.")
UNDECLARED_GROUP = _("No longer declared")


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
    # The group's own checkbox, "<resource>.*" (every type of it, including later ones).
    wildcard: EventChoice | None = None


def event_type_groups(extra: list[str] | tuple[str, ...] = ()) -> dict[str, list[tuple[str, str]]]:
    """Declared event types grouped by resource: {resource: [(name, description)]}.

    ``extra`` are names a webhook still subscribes to although they are no longer
    declared; they get their own group so that saving the form does not drop them
    without the admin noticing.
    """
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, event_type in registry.types().items():
        if event_type.deliverable:  # system events are never offered: they are never sent
            groups.setdefault(event_type.resource, []).append((name, event_type.description))
    undeclared = sorted(
        {
            n
            for n in extra
            if n != ALL_EVENTS
            and not registry.is_declared(n)
            and (wildcard_resource(n) or "") not in registry.resources()
        }
    )
    if undeclared:
        groups[UNDECLARED_GROUP] = [
            (n, gettext("Not declared any more: nothing emits it.")) for n in undeclared
        ]
    return groups


class EventsField(forms.MultipleChoiceField):
    """The Webhook Events checkboxes. The choices only draw them: which names are
    allowed is the model's rule (Webhook.clean), so the message is the same as the
    API's and the admin's."""

    def valid_value(self, value) -> bool:
        return True


HEADER_ROWS_BLANK = 2


class HeaderRowsWidget(forms.Widget):
    """Rows of name/value inputs (``headers_name`` and ``headers_value``, repeated).

    Works without JavaScript: the stored headers and a few blank rows are drawn
    (webhooks_app/_headers_field.html, from WebhookForm.header_rows), and the
    browser posts every row; the console's script only adds and removes rows.
    """

    stored: dict = {}

    def value_from_datadict(self, data, files, name):
        if not hasattr(data, "getlist"):
            return None
        names, values = data.getlist(f"{name}_name"), data.getlist(f"{name}_value")
        if not names and not values:
            return None
        return list(zip(names, values + [""] * (len(names) - len(values)), strict=False))

    def value_omitted_from_data(self, data, files, name):
        return f"{name}_name" not in data


class HeaderRowsField(forms.Field):
    """The custom headers as rows; cleaned to {name: value} for the model to validate.

    A row with an empty name is dropped (that is how a header is removed without
    JavaScript); an empty value of a stored header keeps it (the masked value goes
    to the model, which reads it as "keep"). A name given twice is refused here:
    a dict would silently keep one.
    """

    widget = HeaderRowsWidget

    def prepare_value(self, value):
        if isinstance(value, dict):  # the stored headers: names only, values never rendered
            return [(name, "") for name in value]
        return value

    def to_python(self, value):
        rows = value or []
        headers, seen = {}, set()
        stored = self.widget.stored or {}
        for name, header_value in rows:
            name = (name or "").strip()
            if not name:
                continue
            if name.lower() in seen:
                raise forms.ValidationError(
                    gettext("Header %(name)s is given twice.") % {"name": repr(name)}, code="headers"
                )
            seen.add(name.lower())
            if not header_value and name in stored:
                header_value = mask(stored[name]) or MASK_BULLET
            headers[name] = header_value
        return headers

    def has_changed(self, initial, data):
        return True


class WebhookForm(forms.ModelForm):
    """Create or edit a webhook: the model's validators and clean() decide what is valid.

    The form only adapts the input (checkboxes, JSON text, the write-only API key);
    every rule and message comes from the model, as in the API and the admin. The
    API key is never rendered back: a blank field keeps the stored key, and
    ``clear_api_key`` removes it.
    """

    events = EventsField(
        label=_("Webhook Events"),
        # An empty field never reaches the model's validation: say the model's message.
        error_messages={"required": Webhook._meta.get_field("events").error_messages["blank"]},
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The events that trigger this webhook. Choose All events to receive every type."),
    )
    url = forms.CharField(
        label=_("URL"),
        max_length=URL_MAX_LENGTH,
        # Required unless the destination is the recipient's URL: the model's rule
        # (Webhook.clean) says so, with the API's message.
        required=False,
        widget=forms.TextInput(
            attrs={"placeholder": "https://example.com/webhooks", "inputmode": "url", "spellcheck": "false"}
        ),
        help_text=_("The web address that receives an HTTP POST for each event (http or https)."),
    )
    api_key = forms.CharField(
        label=_("API Key"),
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Optional. Sent with every request so the receiver can tell it is really you. "
            "Stored encrypted and never shown again."
        ),
    )
    clear_api_key = forms.BooleanField(
        label=_("Remove the stored API key"),
        required=False,
    )
    filters = forms.JSONField(
        label=_("Filters"),
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
        help_text=_(
            'Optional conditions on the event data, as a JSON object: {"accepts_email": true}, '
            '{"country": ["SE", "NO"]} or {"score": {"$gte": 5}}; "$context.source" reads the event context, '
            '{"$or": [...]} combines. Every condition must hold.'
        ),
    )
    headers = HeaderRowsField(
        label=_("Custom headers"),
        required=False,
        help_text=_(
            "Optional static headers sent with every request, e.g. X-Tenant: acme (at most 20). "
            "Values are stored encrypted and never shown again: leave a stored header's value empty to "
            "keep it, or empty its name to remove it."
        ),
    )
    secret = forms.CharField(
        label=_("Signing secret"),
        required=False,
        max_length=500,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Optional: a secret of your own (at least 16 characters). whsec_<base64> is used as "
            "Standard Webhooks defines it; any other text signs with its own bytes. Leave it empty to "
            "generate one (or keep the current one)."
        ),
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
            "recipient_credentials",
            "payload_encryption",
            "topic_prefix",
            "headers",
            "secret",
            "secret_hash_header",
            "failure_alerts",
        ]
        labels = {
            "description": _("Description"),
            "api_key_header": _("API key header name"),
            "timeout": _("Timeout (seconds)"),
            "payload_format": _("Payload format"),
            "enabled": _("Enabled"),
            "destination": _("Destination"),
            "recipient_credentials": _("Send credentials to recipients"),
            "payload_encryption": _("Payload encryption"),
            "topic_prefix": _("Topic prefix"),
            "secret_hash_header": _("Secret hash header"),
            "failure_alerts": _("Failure alerts"),
        }
        help_texts = {
            "name": _("A descriptive name, so you can tell what this webhook is for."),
            "notification_type": _("REST: the external system is notified through its API (an HTTP POST)."),
            "description": _("Optional notes for other admins: who owns the receiver, what it does."),
            "api_key_header": _("The request header that carries the API key."),
            "timeout": _("How long to wait for the receiver, 1 to 60 seconds. Empty: the default."),
            "payload_format": _("The body format of each request."),
            "enabled": _("A disabled webhook receives nothing until it is enabled again."),
            "destination": _(
                "Recipient's URL: each event goes to the URL of the person or account it is "
                "about (for example a contact's webhook URL); the URL field may then stay empty. An event "
                "without one is logged as skipped."
            ),
            "payload_encryption": _(
                "AES-256-GCM: the event data is sent encrypted; a key is generated "
                "and shown once. The id, type, time and context stay readable."
            ),
        }
        help_texts["topic_prefix"] = _(
            'Optional. Put in front of the event type in the body and X-Webhook-Event: "acme." '
            'sends contact.created as "acme.contact.created".'
        )
        help_texts["recipient_credentials"] = _(
            "Only when each event goes to its recipient. Off (recommended): recipients get signed events "
            "but not the API key, the custom headers or the secret hash, because whoever emits an event or "
            "sets a recipient's address chooses where it goes. Turn it on only if every recipient may hold them."
        )
        help_texts["secret_hash_header"] = _(
            "Optional. A header name, e.g. X-Secret-Hash: every request then carries the hex "
            "SHA-256 of the signing secret in it, for receivers that compare a fixed value. Empty: off."
        )
        error_messages = {"name": {"required": _("Give the webhook a name.")}}
        widgets = {
            "name": forms.TextInput(attrs={"placeholder": _("e.g. CRM sync"), "autofocus": True}),
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
        "topic_prefix",
        "headers",
        "secret",
        "secret_hash_header",
        "recipient_credentials",
        "failure_alerts",
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
        self.initial["secret"] = ""  # never rendered: a chosen secret is write-only
        self.fields["headers"].widget.stored = dict(self.instance.headers or {}) if self.instance.pk else {}
        if self.instance.pk:
            # The webhook's page opens on its state and chart, not scrolled down to the form.
            self.fields["name"].widget.attrs.pop("autofocus", None)
            self.fields["secret"].help_text = gettext(
                "Optional: type a new secret of your own (at least 16 characters) to replace the current "
                "one; the current one keeps signing through the rotation overlap. Empty: keep it."
            )
        # Left out of a submission (a script, an older form): the model's defaults, as in the API.
        for name in ("destination", "payload_encryption"):
            self.fields[name].required = False
        # The URL may stay empty only for a webhook sent to each event's recipient.
        destination = (self.data.get("destination") if self.is_bound else None) or self.instance.destination
        self.fields["url"].required = destination != Webhook.Destination.RECIPIENT
        # The model's validators allow 1-60; the field's own range starts at 0.
        self.fields["timeout"].widget.attrs.update(min=1, max=60)
        if self.instance.pk and self.instance.api_key:
            self.fields["api_key"].help_text = gettext(
                "A key ending in %(hint)s is stored. "
                "Leave this blank to keep it, or type a new key to replace it."
            ) % {"hint": self.instance.api_key_hint.lstrip(chr(0x2022))}
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
        types = registry.types()
        groups = [all_events]
        for resource, choices in self.groups.items():
            wildcard = None
            if resource != UNDECLARED_GROUP:
                value = resource_wildcard(resource)
                wildcard = EventChoice(
                    value,
                    gettext("All %(resource)s events") % {"resource": resource},
                    gettext("Every %(resource)s event type, including types declared later.")
                    % {"resource": resource},
                    value in selected,
                )
            singles = [
                EventChoice(n, types[n].display if n in types else n, d, n in selected) for n, d in choices
            ]
            groups.append(EventGroup(resource, singles, wildcard))
        return groups

    def advanced_has_errors(self) -> bool:
        return any(name in self.errors for name in self.advanced_fields)

    def main_fields(self):
        return [self[n] for n in self.fields if n not in self.advanced_fields and n != "clear_api_key"]

    def advanced(self):
        return [self[n] for n in self.advanced_fields]

    max_header_rows = MAX_CUSTOM_HEADERS

    def header_rows(self) -> list[dict]:
        """The rows of the headers editor: stored (values masked as placeholders) or as submitted."""
        stored = self.fields["headers"].widget.stored
        if self.is_bound:
            rows = self.fields["headers"].widget.value_from_datadict(self.data, None, "headers") or []
            rows = [(n, v if not n or n not in stored else "") for n, v in rows if n or v]
        else:
            rows = [(n, "") for n in stored]
        drawn = [{"name": n, "value": v, "hint": mask(stored[n]) if n in stored else ""} for n, v in rows]
        blank = max(HEADER_ROWS_BLANK, 1 if len(drawn) < MAX_CUSTOM_HEADERS else 0)
        return drawn + [{"name": "", "value": "", "hint": ""}] * min(blank, MAX_CUSTOM_HEADERS - len(drawn))

    def clean(self):
        cleaned = super().clean()
        if "headers" in cleaned and self.fields["headers"].widget.value_omitted_from_data(
            self.data, None, "headers"
        ):
            cleaned["headers"] = self.instance.headers or {}  # left out of the submission: as stored
        if not cleaned.get("secret"):
            cleaned.pop("secret", None)  # empty: generated (create) or kept (edit)
        for name in ("destination", "payload_encryption"):
            if name in cleaned and not cleaned[name]:
                cleaned[name] = getattr(self.instance, name)  # left out: the default (or as stored)
        new_key = cleaned.get("api_key", "")
        if self.instance.pk:
            if cleaned.get("clear_api_key"):
                if new_key:
                    self.add_error(
                        "clear_api_key", gettext("Either type a new key or remove the stored one.")
                    )
                else:
                    cleaned["api_key"] = ""
            elif not new_key:
                # Security note: the stored key is never sent to the browser, so an
                # empty field means "keep it", not "remove it".
                cleaned["api_key"] = self.instance.api_key
                self.api_key_kept = True
        return cleaned

    api_key_kept = False

    def service_fields(self) -> dict:
        """The cleaned values as keyword arguments of webhook_create/webhook_update.

        A stored API key kept by a blank field and custom headers left out of the
        submission are not passed on (kept as stored): webhook_update must tell a kept
        credential from one entered again, which a new address needs.
        """
        fields = {name: self.cleaned_data[name] for name in self._meta.fields if name in self.cleaned_data}
        if not fields.get("secret"):
            fields.pop("secret", None)
        if self.instance.pk:
            if self.api_key_kept:
                fields.pop("api_key", None)
            if self.fields["headers"].widget.value_omitted_from_data(self.data, None, "headers"):
                fields.pop("headers", None)
        return fields


class DeliveryFilterForm(DeliveryListParams):
    """The filters of a webhook's Deliveries page (GET): the API's parameters, drawn as selects."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = registry.names()
        current = self.data.get("event_type") if self.is_bound else ""
        if current and current not in names and len(current) <= 100 and "\x00" not in current:
            names.append(current)
        self.fields["event_type"].widget = forms.Select(
            choices=[("", gettext("Any event type"))] + [(n, n) for n in names]
        )
        # The time range in the browser's own picker (read in the site's time zone) and the
        # event id to find one delivery: the API's created_after/created_before/event_id.
        for name in ("created_after", "created_before"):
            self.fields[name].widget = forms.DateTimeInput(
                attrs={"type": "datetime-local", "step": 60}, format="%Y-%m-%dT%H:%M"
            )
        self.fields["event_id"].widget = forms.TextInput(
            attrs={"placeholder": gettext("Event id (evt_…)"), "spellcheck": "false", "size": 24}
        )


LOG_PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
LOG_PERIOD_LABELS = {"1h": _("Last hour"), "24h": _("Last 24 hours"), "7d": _("Last 7 days")}
LOG_WEBHOOKS_LISTED = 500


class DeliveryLogFilterForm(DeliveryFilterForm):
    """The filters of the log across all webhooks: the per-webhook log's, a webhook, a period
    (last hour, 24 hours, 7 days) and the event id by its beginning (``evt_3f2a``)."""

    webhook = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    period = forms.ChoiceField(required=False, choices=[("", ""), *LOG_PERIOD_LABELS.items()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        webhooks = Webhook.objects.order_by("name", "id").values_list("pk", "name")[:LOG_WEBHOOKS_LISTED]
        self.fields["webhook"].choices = [("", gettext("Any webhook")), *webhooks]
        self.fields["webhook"].label = gettext("Webhook")
        self.fields["event_id"].help_text = gettext("The event id or its beginning.")
        self.fields["event_id"].widget.attrs["placeholder"] = gettext("Event id or its beginning (evt_…)")

    def log_kwargs(self, *, now=None) -> dict:
        """The valid filters as keyword arguments of health.deliveries_log (refused ones left out)."""
        data = getattr(self, "cleaned_data", {})
        since = data.get("created_after")
        period = LOG_PERIODS.get(data.get("period") or "")
        if period:
            start = (now or timezone.now()) - period
            since = max(since, start) if since else start
        return {
            "webhook_id": data.get("webhook"),
            "status": data.get("status") or "",
            "event_type": data.get("event_type") or "",
            "event_id_prefix": (data.get("event_id") or "").strip(),
            "since": since,
            "until": data.get("created_before"),
        }


class RedeliverFailedForm(forms.Form):
    """Redeliver every failed delivery of a webhook created since a moment."""

    since = forms.DateTimeField(
        label=_("Failed since"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "initial", {"since": timezone.localtime(timezone.now() - timedelta(hours=24)).replace(second=0)}
        )
        super().__init__(*args, **kwargs)
        self.fields["since"].label = gettext("Failed since (%(timezone)s)") % {
            "timezone": timezone.get_current_timezone_name()
        }


def form_errors_add(form: forms.Form, exc: Exception) -> None:
    """Put the messages of a service's error (a WebhookError or a ValidationError) on the form.

    Each goes next to the field it names when the form has that field, else at the top.
    """
    for field, errors in error_dict(exc).items():
        form.add_error(field if field in form.fields else None, errors)

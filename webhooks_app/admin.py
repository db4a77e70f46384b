"""Django admin: webhooks saved through the services, the log read-only.

Who may do what comes from the permissions table (webhooks_app.permissions), as
in the console and the API; the admin also requires staff status, as Django's
admin always does. Changelists load no secrets and no bodies.
"""

from django import forms
from django.contrib import admin, messages
from django.db import models

from . import permissions, selectors, services
from .exceptions import DeliveryInProgress
from .models import Attempt, Delivery, Event, Webhook
from .validators import URL_MAX_LENGTH


class BaseAdmin(admin.ModelAdmin):
    # Django 6.0 changes the URL form field's default scheme; say which one we mean.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    # Fields left out of the changelist's query (shown on the change page only).
    list_defer: tuple[str, ...] = ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if self.list_defer and match and (match.url_name or "").endswith("_changelist"):
            queryset = queryset.defer(*self.list_defer)
        return queryset


class ReadOnlyAdmin(BaseAdmin):
    """The log is written by the engine only: no add, change or delete here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WebhookAdminForm(forms.ModelForm):
    """The model decides what is valid, as in the console and the API.

    Django's form fields for a URL or a required JSON field would refuse some input
    first with messages of their own; these fields only parse, so the model's
    validators and clean() speak.
    """

    # Not required here: the model's rule (Webhook.clean) asks for it unless the
    # destination is the recipient's URL.
    url = forms.CharField(
        label="URL",
        max_length=URL_MAX_LENGTH,
        required=False,
        help_text=Webhook._meta.get_field("url").help_text,
    )
    events = forms.JSONField(
        label="Webhook Events",
        # An empty field never reaches the model's validation: say the model's message.
        error_messages={"required": Webhook._meta.get_field("events").error_messages["blank"]},
        help_text=Webhook._meta.get_field("events").help_text,
    )

    class Meta:
        model = Webhook
        # Secrets (and the custom headers' values) stay out of the admin; the console
        # and the API set them, masked on read.
        fields = [name for name in services.WEBHOOK_FIELDS if name not in ("api_key", "secret", "headers")]

    # Choices with a default: left out of a submission, the default (or the stored value).
    DEFAULTED = ("destination", "payload_encryption")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.DEFAULTED:
            if name in self.fields:
                self.fields[name].required = False

    def clean(self):
        cleaned = super().clean()
        for name in self.DEFAULTED:
            if name in cleaned and not cleaned[name]:
                cleaned[name] = getattr(self.instance, name)
        # The credentials cannot be entered here: a new address for a webhook that has
        # them is refused as the console and the API refuse it without them.
        reentry = services.webhook_credentials_reentry_errors(webhook=self.instance, fields=cleaned)
        for name, refusals in reentry.items():
            self.add_error(name, refusals)
        if self.instance._state.adding:
            # webhook_create's rule, said here: an error raised in save_model would be a 500.
            services.webhook_limit_check()
        return cleaned


@admin.register(Webhook)
class WebhookAdmin(BaseAdmin):
    form = WebhookAdminForm
    list_display = ["name", "url", "enabled", "notification_type", "payload_format", "updated_at"]
    list_filter = ["enabled", "notification_type", "payload_format"]
    list_defer = selectors.SECRET_FIELDS
    search_fields = ["name", "url"]
    readonly_fields = [
        "disabled_reason",
        "disabled_at",
        "consecutive_failures",
        "failing_since",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
    ]
    actions = ["send_test", "rotate_secret"]

    def has_view_permission(self, request, obj=None):
        # Not Django's "view or change": changing needs seeing (permissions.ACTIONS).
        return permissions.allowed(request.user, "webhook_view")

    def has_add_permission(self, request):
        return permissions.allowed(request.user, "webhook_add")

    def has_change_permission(self, request, obj=None):
        return permissions.allowed(request.user, "webhook_change")

    def has_delete_permission(self, request, obj=None):
        return permissions.allowed(request.user, "webhook_delete")

    def has_send_test_permission(self, request):
        return permissions.allowed(request.user, "webhook_send_test")

    def has_secret_permission(self, request):
        return permissions.allowed(request.user, "webhook_secret")

    def save_model(self, request, obj, form, change):
        """Through webhook_create/webhook_update, so the admin follows the console's rules.

        Enabling a webhook here clears its disabled reason and failure run, as
        everywhere else.
        """
        fields = {
            name: form.cleaned_data[name] for name in services.WEBHOOK_FIELDS if name in form.cleaned_data
        }
        if change:
            services.webhook_update(webhook=obj, actor=request.user, **fields)
        else:
            created = services.webhook_create(actor=request.user, **fields)
            obj.__dict__.update(created.__dict__)  # the admin logs and redirects with obj

    def delete_model(self, request, obj):
        services.webhook_delete(webhook=obj)

    def delete_queryset(self, request, queryset):
        for webhook in queryset:
            services.webhook_delete(webhook=webhook)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # The delivery log goes with its webhook (as in the console and the API),
        # although its own admin deletes nothing.
        log = {str(model._meta.verbose_name) for model in (Delivery, Attempt)}
        return deleted, counts, perms_needed - log, protected

    @admin.action(description="Send test event", permissions=["send_test"])
    def send_test(self, request, queryset):
        for webhook in queryset:
            services.webhook_send_test(webhook=webhook, actor=request.user)
        messages.success(request, f"Test event sent to {queryset.count()} webhook(s).")

    @admin.action(description="Rotate signing secret", permissions=["secret"])
    def rotate_secret(self, request, queryset):
        for webhook in queryset:
            services.webhook_secret_rotate(webhook=webhook, actor=request.user)
        messages.success(request, f"Rotated the secret of {queryset.count()} webhook(s).")


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "event_type", "created_at"]
    list_filter = ["event_type"]
    list_defer = ("data", "context")
    search_fields = ["id"]
    date_hierarchy = "created_at"


ATTEMPT_HEAVY_FIELDS = ("request_headers", "request_body", "response_headers", "response_body")


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = [
        "number",
        "created_at",
        "response_status",
        "duration_ms",
        "error_class",
        "error_message",
    ]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*ATTEMPT_HEAVY_FIELDS)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "webhook",
        "event_type",
        "status",
        "attempt_count",
        "last_response_status",
        "created_at",
    ]
    list_filter = ["status", "event_type"]
    list_select_related = ["webhook"]
    list_defer = tuple(f"webhook__{name}" for name in (*selectors.SECRET_FIELDS, "filters"))
    search_fields = ["event__id"]
    raw_id_fields = ["event", "webhook"]
    inlines = [AttemptInline]
    actions = ["redeliver"]

    def has_view_permission(self, request, obj=None):
        return permissions.allowed(request.user, "delivery_view")

    def has_redeliver_permission(self, request):
        return permissions.allowed(request.user, "delivery_redeliver")

    @admin.action(description="Redeliver", permissions=["redeliver"])
    def redeliver(self, request, queryset):
        """A new delivery of each selected one's event (services.delivery_redeliver)."""
        done = 0
        for delivery in queryset.select_related("webhook"):
            try:
                services.delivery_redeliver(delivery=delivery)
            except DeliveryInProgress as exc:
                messages.warning(request, f"Delivery {delivery.pk}: {exc}")
            else:
                done += 1
        if done:
            messages.success(request, f"Redelivering {done} deliver{'y' if done == 1 else 'ies'}.")


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "delivery",
        "number",
        "response_status",
        "error_class",
        "duration_ms",
        "created_at",
    ]
    list_filter = ["error_class"]
    list_select_related = ["delivery"]
    list_defer = (*ATTEMPT_HEAVY_FIELDS, "error_message")
    raw_id_fields = ["delivery"]

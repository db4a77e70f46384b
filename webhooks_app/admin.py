"""Django admin: webhooks editable through services, logs read-only."""

from django.contrib import admin, messages
from django.db import models

from . import services
from .models import Attempt, Delivery, Event, Webhook


class BaseAdmin(admin.ModelAdmin):
    # Django 6.0 changes the URL form field's default scheme; say which one we mean.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


class ReadOnlyAdmin(BaseAdmin):
    """The log is written by the engine only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Webhook)
class WebhookAdmin(BaseAdmin):
    # Secrets stay out of the admin; the console reveals and rotates them.
    list_display = ["name", "url", "enabled", "notification_type", "payload_format", "updated_at"]
    list_filter = ["enabled", "notification_type", "payload_format"]
    search_fields = ["name", "url"]
    exclude = ["secret", "previous_secret", "previous_secret_expires_at", "api_key"]
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

    @admin.action(description="Send test event")
    def send_test(self, request, queryset):
        for webhook in queryset:
            services.webhook_send_test(webhook=webhook, actor=request.user)
        messages.success(request, f"Test event sent to {queryset.count()} webhook(s).")

    @admin.action(description="Rotate signing secret")
    def rotate_secret(self, request, queryset):
        for webhook in queryset:
            services.webhook_secret_rotate(webhook=webhook, actor=request.user)
        messages.success(request, f"Rotated the secret of {queryset.count()} webhook(s).")


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "event_type", "created_at"]
    list_filter = ["event_type"]
    search_fields = ["id"]
    date_hierarchy = "created_at"


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

    def has_add_permission(self, request, obj=None):
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
    search_fields = ["event__id"]
    raw_id_fields = ["event", "webhook"]
    inlines = [AttemptInline]


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
    raw_id_fields = ["delivery"]

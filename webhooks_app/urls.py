"""The console's URLs (namespace webhooks_app); the demo mounts them at /settings/webhooks/."""

from django.urls import path

from . import views

app_name = "webhooks_app"

urlpatterns = [
    path("", views.webhook_list, name="webhook-list"),
    path("new/", views.webhook_create, name="webhook-create"),
    path("sending/", views.sending_update, name="sending-update"),
    path("sending/off/", views.sending_off, name="sending-off"),
    path("token/", views.api_token, name="api-token"),
    path("<int:pk>/", views.webhook_update, name="webhook-update"),
    path("<int:pk>/delete/", views.webhook_delete, name="webhook-delete"),
    path("<int:pk>/toggle/", views.webhook_toggle, name="webhook-toggle"),
    path("<int:pk>/test/", views.webhook_test, name="webhook-test"),
    path("<int:pk>/secret/reveal/", views.webhook_reveal_secret, name="webhook-reveal-secret"),
    path("<int:pk>/secret/rotate/", views.webhook_rotate_secret, name="webhook-rotate-secret"),
    path(
        "<int:pk>/secret/expire-previous/",
        views.webhook_expire_previous_secret,
        name="webhook-expire-previous-secret",
    ),
    path("filters/test/", views.webhook_filters_test, name="webhook-filters-test"),
    path(
        "<int:pk>/encryption-key/rotate/",
        views.webhook_rotate_encryption_key,
        name="webhook-rotate-encryption-key",
    ),
    path("<int:pk>/deliveries/", views.webhook_deliveries, name="webhook-deliveries"),
    path(
        "<int:pk>/deliveries/redeliver-failed/",
        views.webhook_redeliver_failed,
        name="webhook-redeliver-failed",
    ),
    path("deliveries/", views.delivery_log, name="delivery-log"),
    path("deliveries/<int:pk>/", views.delivery_detail, name="delivery-detail"),
    path("deliveries/<int:pk>/redeliver/", views.delivery_redeliver, name="delivery-redeliver"),
    path("deliveries/<int:pk>/retry/", views.delivery_retry_now, name="delivery-retry"),
    path("attempts/<int:pk>/curl/", views.attempt_curl, name="attempt-curl"),
]

"""The REST API's URLs (namespace webhooks_api); the demo project mounts them at /api/."""

from django.urls import path

from ..checks import api_packages_missing

app_name = "webhooks_api"

# Without the [api] extra this URLconf is empty instead of an ImportError at start-up:
# the system check webhooks_app.E070 then says what to install.
urlpatterns = []

if not api_packages_missing():
    from rest_framework.routers import SimpleRouter

    from . import erasures, views

    router = SimpleRouter()
    router.register("webhooks", views.WebhookViewSet, basename="webhook")
    router.register("deliveries", views.DeliveryViewSet, basename="delivery")
    router.register("event-types", views.EventTypeViewSet, basename="event-type")
    router.register("events", views.EventViewSet, basename="event")
    router.register("erasures", erasures.ErasureViewSet, basename="erasure")

    webhook_settings = views.WebhookSettingsViewSet.as_view({"get": "retrieve", "patch": "partial_update"})
    urlpatterns = [
        *router.urls,
        path("webhook-settings/", webhook_settings, name="webhook-settings"),
        path("schema/", views.SchemaView.as_view(), name="schema"),
        path("docs/", views.DocsView.as_view(), name="docs"),
    ]

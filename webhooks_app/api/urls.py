"""The REST API's URLs (namespace webhooks_api); the demo project mounts them at /api/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "webhooks_api"

router = SimpleRouter()
router.register("webhooks", views.WebhookViewSet, basename="webhook")
router.register("deliveries", views.DeliveryViewSet, basename="delivery")
router.register("event-types", views.EventTypeViewSet, basename="event-type")
router.register("events", views.EventViewSet, basename="event")

urlpatterns = [
    *router.urls,
    path("schema/", views.SchemaView.as_view(), name="schema"),
    path("docs/", views.DocsView.as_view(), name="docs"),
]

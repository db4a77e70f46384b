"""URLs of the demo project: the console, the REST API, /healthz and /metrics, Django admin and login."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from config.contacts.api import ContactWebhookURLView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="webhooks_app:webhook-list", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("settings/webhooks/", include("webhooks_app.urls")),
    # The demo's own endpoint (before the app's API, which owns the rest of /api/).
    path("api/contacts/<int:pk>/webhook-url/", ContactWebhookURLView.as_view(), name="contact-webhook-url"),
    path("api/", include("webhooks_app.api.urls")),
    # GET /healthz (open, status only) and GET /metrics (the metrics extra; a token or staff).
    path("", include("webhooks_app.metrics.urls")),
]

# A body over DATA_UPLOAD_MAX_MEMORY_SIZE is a short 413 page, not Django's 400.
handler400 = "config.errors.bad_request"

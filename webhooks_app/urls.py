"""The console's URLs (namespace webhooks_app)."""

app_name = "webhooks_app"

urlpatterns = []

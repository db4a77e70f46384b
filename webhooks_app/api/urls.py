"""The REST API's URLs."""

app_name = "webhooks_api"

urlpatterns = []

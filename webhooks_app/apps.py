from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WebhooksAppConfig(AppConfig):
    """Outgoing webhooks; ready() wires checks, receivers and the periodic schedules."""

    name = "webhooks_app"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401 - registers the checks
        from .receivers import connect_watched_models
        from .schedules import schedules_ensure

        connect_watched_models()
        post_migrate.connect(schedules_ensure, sender=self, dispatch_uid="webhooks_app.schedules")

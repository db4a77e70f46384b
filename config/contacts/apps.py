from django.apps import AppConfig


class ContactsConfig(AppConfig):
    """The demo domain: contacts whose changes become webhook events."""

    name = "config.contacts"
    label = "contacts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import webhooks

        webhooks.connect()

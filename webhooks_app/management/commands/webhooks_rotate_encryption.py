from django.core.management.base import BaseCommand
from django.db import transaction

from webhooks_app import crypto
from webhooks_app.models import Webhook


class Command(BaseCommand):
    help = (
        "Re-encrypt stored API keys and signing secrets with the first key of "
        "WEBHOOKS['ENCRYPTION_KEYS'] (run after adding a new key in front)."
    )

    def handle(self, *args, **options):
        fields = ["api_key", "secret", "previous_secret"]
        count = 0
        with transaction.atomic():
            rows = Webhook.objects.select_for_update().values_list("pk", *fields)
            for pk, *_ in rows:
                raw = Webhook.objects.filter(pk=pk).values(*fields).first()
                # values() goes through from_db_value (clear text); re-save encrypts
                # with the first key.
                Webhook.objects.filter(pk=pk).update(**raw)
                count += 1
        crypto.reset()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted the secrets of {count} webhooks."))

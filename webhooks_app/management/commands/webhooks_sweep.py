from django.core.management.base import BaseCommand

from webhooks_app.services import deliveries_sweep


class Command(BaseCommand):
    help = "Enqueue due deliveries that have no live task (what the periodic sweep does)."

    def handle(self, *args, **options):
        count = deliveries_sweep()
        self.stdout.write(self.style.SUCCESS(f"Enqueued {count} deliveries."))

from django.core.management.base import BaseCommand

from webhooks_app.conf import app_settings
from webhooks_app.services import retention_purge


class Command(BaseCommand):
    help = "Delete events, deliveries and attempts older than WEBHOOKS['RETENTION_DAYS'], in batches."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Override RETENTION_DAYS.")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, days, batch_size, **options):
        days = app_settings.RETENTION_DAYS if days is None else days

        def progress(name, count):
            self.stdout.write(f"\r{name}: {count} deleted", ending="")
            self.stdout.flush()

        counts = retention_purge(days=days, batch_size=batch_size, progress=progress)
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Purged rows older than {days} days: {counts['attempts']} attempts, "
                f"{counts['deliveries']} deliveries, {counts['events']} events."
            )
        )

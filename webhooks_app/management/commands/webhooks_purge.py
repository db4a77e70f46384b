import time

from django.core.management.base import BaseCommand
from django.db.models import Exists, OuterRef

from webhooks_app.conf import app_settings
from webhooks_app.models import Delivery, Event
from webhooks_app.services import retention_purge
from webhooks_app.services.retention import retention_expired

BAR = 30


class Command(BaseCommand):
    help = "Delete events, deliveries and attempts older than WEBHOOKS['RETENTION_DAYS'], in batches."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=None, help="Override RETENTION_DAYS (for every event type)."
        )
        parser.add_argument(
            "--batch-size", type=int, default=2000, help="Deliveries (with their attempts) per transaction."
        )

    def handle(self, *args, days, batch_size, **options):
        if (days is not None and days < 0) or batch_size < 1:
            self.stderr.write("--days must be 0 or more and --batch-size at least 1.")
            raise SystemExit(2)
        days = app_settings.RETENTION_DAYS if days is None else days
        expired = retention_expired(days=days)
        totals = {
            "deliveries": Delivery.objects.filter(expired).exclude(status=Delivery.Status.PENDING).count()
        }
        started = time.monotonic()
        shown = {"at": 0.0}

        def progress(name, count):
            if name not in totals:
                # Events left over once the deliveries are done: counted when reached.
                self.stdout.write("")
                totals[name] = count + orphan_events(expired)
            now = time.monotonic()
            if now - shown["at"] < 0.2 and count < totals[name]:
                return
            shown["at"] = now
            total = max(totals[name], count, 1)
            filled = int(BAR * count / total)
            rate = count / max(now - started, 1e-6)
            self.stdout.write(
                f"\r{name:<10} [{'#' * filled}{'.' * (BAR - filled)}] {count}/{total} ({rate:,.0f}/s)",
                ending="",
            )
            self.stdout.flush()

        counts = retention_purge(days=days, batch_size=batch_size, progress=progress)
        self.stdout.write("")
        kept = f"{days} days" if not isinstance(days, dict) else "their type's retention"
        self.stdout.write(
            self.style.SUCCESS(
                f"Purged rows older than {kept} in {time.monotonic() - started:.1f} s: "
                f"{counts['attempts']} attempts, {counts['deliveries']} deliveries, {counts['events']} events."
            )
        )


def orphan_events(expired) -> int:
    return (
        Event.objects.filter(expired)
        .exclude(Exists(Delivery.objects.filter(event_id=OuterRef("pk"))))
        .count()
    )

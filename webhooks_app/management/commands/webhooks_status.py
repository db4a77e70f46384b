import json

from django.core.management.base import BaseCommand
from django.db import DatabaseError
from django.utils import timezone

from webhooks_app.metrics.reads import backlog_read, health_check


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


class Command(BaseCommand):
    help = (
        "The delivery system's health, as GET /healthz judges it, with the backlog per webhook. "
        "Exit code 0 when healthy, 1 when not."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="One JSON object, for scripts."
        )

    def handle(self, *args, as_json: bool = False, **options):
        now = timezone.now()
        health = health_check(now=now)
        backlog = None
        if health.database:
            try:
                backlog = backlog_read(now=now)
            except DatabaseError:
                backlog = None
        if as_json:
            self._json(health, backlog)
        else:
            self._text(health, backlog)
        if not health.ok:
            raise SystemExit(1)

    def _json(self, health, backlog) -> None:
        out = {
            "status": "ok" if health.ok else "unhealthy",
            "reason": health.reason,
            "database": health.database,
            "sending": health.sending,
            "oldest_due_seconds": health.oldest_due_seconds,
            "max_lag_seconds": health.max_lag_seconds,
            **(backlog.as_dict() if backlog else {"due": None, "in_flight": None, "webhooks": []}),
        }
        self.stdout.write(json.dumps(out, indent=2))

    def _text(self, health, backlog) -> None:
        if health.ok:
            self.stdout.write(self.style.SUCCESS("Healthy"))
        else:
            self.stdout.write(self.style.ERROR(f"UNHEALTHY: {health.reason}"))
        self.stdout.write(f"Database:            {'answers' if health.database else 'does not answer'}")
        if not health.database:
            return
        self.stdout.write(
            "Sending:             "
            + ("on" if health.sending else "switched off site-wide (deliveries wait; the lag is not judged)")
        )
        self.stdout.write(
            f"Oldest due delivery: {seconds(health.oldest_due_seconds) if health.oldest_due_seconds is not None else 'none'}"
            f" (limit {seconds(health.max_lag_seconds)})"
        )
        if backlog is None:
            return
        self.stdout.write(f"Due deliveries:      {backlog.due}")
        self.stdout.write(f"In flight:           {backlog.in_flight}")
        if not backlog.webhooks:
            return
        self.stdout.write("")
        self.stdout.write("Backlog per webhook (oldest first):")
        width = max(len(w.name) for w in backlog.webhooks)
        width = min(max(width, len("WEBHOOK")), 40)
        self.stdout.write(f"  {'ID':>6}  {'WEBHOOK':<{width}}  {'DUE':>8}  {'IN FLIGHT':>9}  {'OLDEST':>8}")
        for row in backlog.webhooks:
            self.stdout.write(
                f"  {row.webhook_id:>6}  {row.name[:width]:<{width}}  {row.due:>8}  {row.in_flight:>9}  "
                f"{seconds(row.oldest_due_seconds):>8}"
            )

import getpass
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from webhooks_app.exceptions import WebhookValidationError, error_dict
from webhooks_app.services.erasure import subject_erase, subject_parse

BAR = 30


class Command(BaseCommand):
    help = (
        "Erase every event whose data or context carries a data subject (a path of "
        "WEBHOOKS['SUBJECT_PATHS'] and its value), with its attempts' bodies, keeping the log's "
        "metadata and counts. Logged as an Erasure; run it again with the same subject to resume."
    )

    def add_arguments(self, parser):
        parser.add_argument("--subject", required=True, metavar="KEY=VALUE", help="e.g. email=a@example.com")
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Events per transaction (default 500)."
        )
        parser.add_argument(
            "--user", default="", help="The Django username the audit log names as who asked."
        )

    def handle(self, *args, subject, batch_size, user, **options):
        try:
            key, value = subject_parse(subject)
        except WebhookValidationError as exc:
            raise CommandError(messages(exc)) from exc
        actor = None
        if user:
            actor = (
                get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: user}).first()
            )
            if actor is None:
                raise CommandError(f"No user {user!r}.")
        started = time.monotonic()
        shown = {"at": 0.0}

        def progress(done, total):
            now = time.monotonic()
            if now - shown["at"] < 0.2 and done < total:
                return
            shown["at"] = now
            filled = int(BAR * done / max(total, 1))
            self.stdout.write(f"\revents [{'#' * filled}{'.' * (BAR - filled)}] {done}/{total}", ending="")
            self.stdout.flush()

        try:
            erasure = subject_erase(
                key=key,
                value=value,
                actor=actor,
                actor_name="" if actor else f"manage.py ({getpass.getuser()})",
                source="command",
                batch_size=batch_size,
                progress=progress,
                wait_seconds=None,
            )
        except WebhookValidationError as exc:
            raise CommandError(messages(exc)) from exc
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Erasure {erasure.pk} by {key} {erasure.status} in {time.monotonic() - started:.1f} s: "
                f"{erasure.events} events, {erasure.attempts} attempts erased, "
                f"{erasure.deliveries_cancelled} pending deliveries cancelled."
            )
        )


def messages(exc: Exception) -> str:
    return " ".join(m for errors in error_dict(exc).values() for error in errors for m in error.messages)

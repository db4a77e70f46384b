from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction


class Command(BaseCommand):
    help = (
        "Print the REST API token of a user, creating it if needed "
        "(send it as 'Authorization: Token <key>'). The user needs Django permissions "
        "on webhooks_app's models, or to be a superuser, to use the API."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user the token authenticates as.")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Replace the user's token with a new one; the old one stops working.",
        )

    def handle(self, *args, username, reset, **options):
        # Imported here: without the [api] extra this command says so instead of an ImportError.
        if not apps.is_installed("rest_framework.authtoken"):
            raise CommandError(
                "The REST API is not set up: install webhooks_app[api] and add 'rest_framework' and "
                "'rest_framework.authtoken' to INSTALLED_APPS (see the README's install section)."
            )
        from rest_framework.authtoken.models import Token

        User = get_user_model()
        try:
            user = User.objects.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"No user {username!r}; create one with createsuperuser first.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive: the API would refuse its token.")
        with transaction.atomic():
            if reset:
                Token.objects.filter(user=user).delete()
            token, created = Token.objects.get_or_create(user=user)
        if created and options["verbosity"] > 1:
            self.stderr.write(f"Created a new token for {username}.")
        # Only the key on stdout, so scripts can capture it: TOKEN=$(manage.py webhooks_token admin)
        self.stdout.write(token.key)

"""API tokens: a user's own DRF token, created or replaced, and revoked (the console's token page)."""

from django.db import transaction


def _token_model():
    # Imported here: without the [api] extra (rest_framework.authtoken) there is no token.
    from rest_framework.authtoken.models import Token

    return Token


def api_token_create(*, user):
    """A new token for ``user``, replacing the one they had (which stops working at once)."""
    token_model = _token_model()
    with transaction.atomic():
        token_model.objects.filter(user=user).delete()
        return token_model.objects.create(user=user)


def api_token_revoke(*, user) -> bool:
    """Delete ``user``'s token; True when there was one."""
    deleted, _ = _token_model().objects.filter(user=user).delete()
    return bool(deleted)

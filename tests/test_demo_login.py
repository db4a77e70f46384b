"""The demo's login is throttled by django-axes: the host's choice, set up in config/settings.py only.

Failed logins are counted per username and client address (in the database, so every
web process shares them); past AXES_FAILURE_LIMIT that user cannot log in from that
address, the right password included, until the cool-off has passed. Real POSTs to
the demo's login page and Django's admin login through Django's test client.
"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
PASSWORD = "right-password-123"


@pytest.fixture
def staff():
    return User.objects.create_user("staff", password=PASSWORD, is_staff=True, is_superuser=True)


def log_in(client, username, password, address="192.0.2.10", url=LOGIN):
    return client.post(
        url,
        {"username": username, "password": password, "next": "/settings/webhooks/"},
        REMOTE_ADDR=address,
    )


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail_until_locked(client, username="staff", address="192.0.2.10") -> list[int]:
    return [
        log_in(client, username, "wrong", address).status_code for _ in range(settings.AXES_FAILURE_LIMIT)
    ]


def test_the_demo_uses_django_axes_and_the_app_does_not():
    from pathlib import Path

    import webhooks_app

    assert "axes" in settings.INSTALLED_APPS
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert 3 <= settings.AXES_FAILURE_LIMIT <= 10 and settings.AXES_COOLOFF_TIME
    app = Path(webhooks_app.__file__).parent
    assert not [p for p in app.rglob("*.py") if "axes" in p.read_text(encoding="utf-8")]


def test_a_right_password_logs_in(staff):
    client = Client()
    response = log_in(client, "staff", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/settings/webhooks/"
    assert logged_in(client)


def test_past_the_failure_limit_even_the_right_password_is_refused_with_429(staff):
    client = Client()
    answers = fail_until_locked(client)

    assert answers[:-1] == [200] * (len(answers) - 1)
    assert answers[-1] == 429
    locked = log_in(client, "staff", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert not logged_in(client)
    # Django's admin login is the same gate.
    assert log_in(client, "staff", PASSWORD, url="/admin/login/").status_code == 429
    assert not logged_in(client)


def test_a_lockout_is_for_that_user_from_that_address_only(staff):
    User.objects.create_user("other", password=PASSWORD, is_staff=True)
    fail_until_locked(Client())

    assert log_in(Client(), "other", PASSWORD).status_code == 302  # another user, same address
    assert log_in(Client(), "staff", PASSWORD, address="198.51.100.20").status_code == 302  # elsewhere


def test_a_forged_x_forwarded_for_does_not_escape_the_lockout(staff):
    client = Client()
    fail_until_locked(client)

    response = client.post(
        LOGIN,
        {"username": "staff", "password": PASSWORD},
        REMOTE_ADDR="192.0.2.10",
        HTTP_X_FORWARDED_FOR="203.0.113.5",
    )

    assert response.status_code == 429


def test_a_successful_login_clears_the_failures(staff):
    for _ in range(3):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert log_in(Client(), "staff", "wrong").status_code == 200
        assert log_in(Client(), "staff", PASSWORD).status_code == 302


def test_after_the_cool_off_the_user_logs_in_again(staff):
    from axes.models import AccessAttempt

    fail_until_locked(Client())
    assert log_in(Client(), "staff", PASSWORD).status_code == 429

    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time
        - settings.AXES_COOLOFF_TIME
        - timedelta(seconds=1)
    )

    assert log_in(Client(), "staff", PASSWORD).status_code == 302

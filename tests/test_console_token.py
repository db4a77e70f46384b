"""Issue 21: a staff user's own REST API token in the console (shown once, never cached), and the
API documentation sending an anonymous browser to the login page."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.test_console_health import text
from tests.test_console_views import client_for, make_user

TOKEN = reverse("webhooks_app:api-token")


@pytest.fixture
def staff(db):
    return make_user("staff")


@pytest.fixture
def console(staff):
    return client_for(staff)


def api(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/webhooks/").status_code


def test_create_shows_the_token_once_and_it_works(console, staff):
    page = console.get(TOKEN)
    assert "You have no API token." in text(page.content.decode())
    assert f'href="{TOKEN}"' in console.get(reverse("webhooks_app:webhook-list")).content.decode()

    created = console.post(TOKEN, {"action": "create"})
    key = Token.objects.get(user=staff).key
    html = created.content.decode()
    assert created.status_code == 200 and "no-store" in created["Cache-Control"]
    assert f"data-token-key>{key}</code>" in html
    assert api(key) == 200

    again = console.get(TOKEN).content.decode()
    assert key not in again
    assert f"A token ending in {key[-4:]}" in text(again)


def test_replace_and_revoke_stop_the_old_token(console, staff):
    console.post(TOKEN, {"action": "create"})
    first = Token.objects.get(user=staff).key
    console.post(TOKEN, {"action": "create"})
    second = Token.objects.get(user=staff).key
    assert first != second and api(first) == 401 and api(second) == 200

    response = console.post(TOKEN, {"action": "revoke"}, follow=True)
    assert "Your API token was revoked" in text(response.content.decode())
    assert not Token.objects.filter(user=staff).exists()
    assert api(second) == 401


def test_a_user_manages_only_their_own_token(console, staff):
    other = make_user("other")
    theirs = Token.objects.create(user=other)
    console.post(TOKEN, {"action": "revoke"})
    console.post(TOKEN, {"action": "create"})
    assert Token.objects.get(user=other).key == theirs.key
    assert theirs.key not in console.get(TOKEN).content.decode()


def test_non_staff_and_anonymous_get_no_token_page(db):
    nobody = User.objects.create_user("nobody", password="pw")
    assert client_for(nobody).post(TOKEN, {"action": "create"}).status_code == 403
    assert not Token.objects.exists()
    from django.test import Client

    response = Client().get(TOKEN)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_api_docs_send_an_anonymous_browser_to_the_login_page(db, staff):
    from django.test import Client

    browser = Client()
    response = browser.get("/api/docs/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/api/docs/"
    # A script still gets the API's 401.
    assert Client().get("/api/docs/", HTTP_ACCEPT="*/*").status_code == 401
    # Logged in, the docs open.
    assert client_for(staff).get("/api/docs/", HTTP_ACCEPT="text/html").status_code == 200

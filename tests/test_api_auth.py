"""REST API: authentication (token, session) and the permissions of every endpoint."""

from dataclasses import dataclass, field
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.test_api_support import PUBLIC_URL, make_delivery
from webhooks_app.models import Delivery

pytest_plugins = ["tests.test_api_support"]
pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {webhook} and {delivery} are filled in per test
    perms: tuple[str, ...]
    success: int
    body: dict = field(default_factory=dict)

    def __str__(self):
        return f"{self.method} {self.path}"


WEBHOOK_BODY = {"name": "Sync", "events": ["contact.created"], "url": PUBLIC_URL}

ENDPOINTS = [
    Endpoint("GET", "/api/webhooks/", ("view_webhook",), 200),
    Endpoint("POST", "/api/webhooks/", ("add_webhook",), 201, WEBHOOK_BODY),
    Endpoint("GET", "/api/webhooks/{webhook}/", ("view_webhook",), 200),
    # Changing or deleting needs seeing: a write answers with the webhook (issue 18).
    Endpoint("PUT", "/api/webhooks/{webhook}/", ("view_webhook", "change_webhook"), 200, WEBHOOK_BODY),
    Endpoint(
        "PATCH", "/api/webhooks/{webhook}/", ("view_webhook", "change_webhook"), 200, {"enabled": False}
    ),
    Endpoint("DELETE", "/api/webhooks/{webhook}/", ("view_webhook", "delete_webhook"), 204),
    Endpoint("GET", "/api/webhooks/{webhook}/secret/", ("view_webhook", "change_webhook"), 200),
    Endpoint("POST", "/api/webhooks/{webhook}/rotate-secret/", ("view_webhook", "change_webhook"), 200),
    Endpoint(
        "POST",
        "/api/webhooks/{webhook}/expire-previous-secret/",
        ("view_webhook", "change_webhook"),
        200,
    ),
    Endpoint(
        "POST",
        "/api/webhooks/{webhook}/rotate-encryption-key/",
        ("view_webhook", "change_webhook"),
        200,
    ),
    Endpoint("POST", "/api/webhooks/{webhook}/test/", ("view_webhook", "change_webhook"), 201),
    Endpoint("GET", "/api/webhooks/{webhook}/deliveries/", ("view_webhook", "view_delivery"), 200),
    Endpoint("GET", "/api/webhooks/{webhook}/stats/", ("view_webhook", "view_delivery"), 200),
    Endpoint(
        "POST",
        "/api/webhooks/{webhook}/redeliver-failed/",
        ("view_webhook", "add_delivery"),
        200,
        {"since": "2020-01-01T00:00:00Z"},
    ),
    Endpoint("GET", "/api/deliveries/{delivery}/", ("view_delivery",), 200),
    Endpoint("POST", "/api/deliveries/{delivery}/redeliver/", ("view_delivery", "add_delivery"), 201),
    Endpoint("GET", "/api/event-types/", ("view_webhook",), 200),
    Endpoint("POST", "/api/events/", ("add_event",), 201, {"event_type": "contact.created"}),
    Endpoint("GET", "/api/webhook-settings/", ("view_webhook",), 200),
    Endpoint("PATCH", "/api/webhook-settings/", ("change_sending",), 200, {"enabled": True}),
    Endpoint("GET", "/api/schema/", ("view_webhook",), 200),
    Endpoint("GET", "/api/docs/", ("view_webhook",), 200),
]


@pytest.fixture
def objects(public_webhook):
    delivery = make_delivery(public_webhook, status=Delivery.Status.FAILED, age=timedelta(hours=1))
    return {"webhook": public_webhook.pk, "delivery": delivery.pk}


def call(client: APIClient, endpoint: Endpoint, objects: dict):
    path = endpoint.path.format(**objects)
    body = endpoint.body or None
    return getattr(client, endpoint.method.lower())(path, body, format="json")


def qualified(perms) -> list[str]:
    return [f"webhooks_app.{p}" for p in perms]


def test_the_matrix_covers_every_operation_of_the_schema(admin_api):
    schema = admin_api.get("/api/schema/", {"format": "json"}).json()
    operations = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}

    covered = {
        (e.method, e.path.replace("{webhook}", "{id}").replace("{delivery}", "{id}")) for e in ENDPOINTS
    }
    assert operations == covered - {("GET", "/api/schema/"), ("GET", "/api/docs/")}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_anonymous_gets_401_with_a_token_challenge(objects, endpoint):
    response = call(APIClient(), endpoint, objects)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_a_wrong_token_gets_401(objects, endpoint):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    assert call(client, endpoint, objects).status_code == 401


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_a_user_without_permissions_gets_403(objects, make_api_user, token_client_for, endpoint):
    everything_else = [
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(content_type__app_label="webhooks_app")
        if p.codename not in endpoint.perms
    ]
    for client in (token_client_for(make_api_user()), token_client_for(make_api_user(*everything_else))):
        response = call(client, endpoint, objects)
        assert response.status_code == 403, response.content
        # JSON, or YAML for the schema, or a plain page for the docs
        assert b"detail" in response.content or endpoint.path == "/api/docs/"


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if len(e.perms) > 1], ids=str)
def test_each_listed_permission_is_needed(objects, make_api_user, token_client_for, endpoint):
    for missing in endpoint.perms:
        user = make_api_user(*qualified(p for p in endpoint.perms if p != missing))
        assert call(token_client_for(user), endpoint, objects).status_code == 403, missing


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_a_user_with_exactly_the_listed_permissions_succeeds(
    objects, make_api_user, token_client_for, endpoint
):
    user = make_api_user(*qualified(endpoint.perms))

    response = call(token_client_for(user), endpoint, objects)

    assert response.status_code == endpoint.success, response.content


def test_group_permissions_count(objects, make_api_user, token_client_for):
    group = Group.objects.create(name="Webhook readers")
    group.permissions.add(Permission.objects.get(codename="view_webhook"))
    user = make_api_user()
    user.groups.add(group)

    assert token_client_for(user).get("/api/webhooks/").status_code == 200


def test_reads_need_the_view_permission_even_for_options(objects, make_api_user, token_client_for):
    writer = token_client_for(make_api_user("webhooks_app.add_webhook", "webhooks_app.change_webhook"))

    assert writer.get("/api/webhooks/").status_code == 403
    assert writer.options("/api/webhooks/").status_code == 403
    reader = token_client_for(make_api_user("webhooks_app.view_webhook"))
    assert reader.options("/api/webhooks/").status_code == 200


def test_an_inactive_users_token_is_refused(make_api_user, token_client_for):
    user = make_api_user("webhooks_app.view_webhook")
    client = token_client_for(user)
    user.is_active = False
    user.save()

    assert client.get("/api/webhooks/").status_code == 401


def test_session_authentication_works_and_checks_csrf(make_api_user):
    make_api_user("webhooks_app.view_webhook", "webhooks_app.add_webhook", username="browser")
    client = APIClient(enforce_csrf_checks=True)
    # The demo's django-axes backend needs the request a login view would pass.
    request = RequestFactory().post("/accounts/login/")
    assert client.login(request=request, username="browser", password="pw-123456")

    assert client.get("/api/webhooks/").status_code == 200
    refused = client.post("/api/webhooks/", WEBHOOK_BODY, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]


def test_the_browsable_api_renders_for_a_logged_in_user(objects, make_api_user, token_client_for):
    client = APIClient()
    client.force_login(make_api_user(username="browser", is_superuser=True))

    for path in (
        "/api/webhooks/",
        "/api/webhooks/{webhook}/",
        "/api/webhooks/{webhook}/deliveries/",
        "/api/deliveries/{delivery}/",
        "/api/event-types/",
    ):
        response = client.get(path.format(**objects), HTTP_ACCEPT="text/html")
        assert response.status_code == 200, path
        assert response["Content-Type"].startswith("text/html")


# The webhooks_token command ----------------------------------------------------------


def run_token(*args) -> str:
    out = StringIO()
    call_command("webhooks_token", *args, stdout=out)
    return out.getvalue().strip()


def test_token_command_creates_then_prints_the_same_token(make_api_user, objects):
    user = make_api_user("webhooks_app.view_webhook", username="robot")

    key = run_token("robot")

    assert key == Token.objects.get(user=user).key
    assert run_token("robot") == key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/webhooks/").status_code == 200


def test_token_command_reset_replaces_the_token(make_api_user):
    make_api_user(username="robot")
    old = run_token("robot")

    new = run_token("robot", "--reset")

    assert new != old and Token.objects.get().key == new
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert client.get("/api/webhooks/").status_code == 401


def test_token_command_refuses_unknown_and_inactive_users(make_api_user):
    make_api_user(username="gone", is_active=False)

    with pytest.raises(CommandError, match="No user 'nobody'"):
        run_token("nobody")
    with pytest.raises(CommandError, match="inactive"):
        run_token("gone")
    assert not Token.objects.exists()

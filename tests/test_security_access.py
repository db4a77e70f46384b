"""Access: every URL of the console and the API, as every kind of user.

The URL patterns are discovered when the tests are collected, from the project's
resolver: a view added later is walked without touching this file, and a path
parameter this walk cannot fill with a real object fails loudly instead of being
skipped.
"""

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from webhooks_app import services
from webhooks_app.models import Attempt, Delivery, Webhook

CONSOLE, API = "webhooks_app", "webhooks_api"
ROOT = Path(__file__).resolve().parent.parent
API_KEY = "ak_walk_5e4d3c2b1a0f"


@dataclass(frozen=True)
class Endpoint:
    namespace: str
    name: str
    route: str  # the full pattern text, for ids and for choosing path parameters
    params: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.namespace == API

    def __str__(self):
        return f"{self.namespace}:{self.name}"


def _params(pattern) -> list[str]:
    regex = pattern.regex
    return list(regex.groupindex) or ([] if regex.groups == 0 else [f"#{i}" for i in range(regex.groups)])


def discover(patterns=None, prefix="", namespace=None, params=()) -> list[Endpoint]:
    """Every named URL under the console and API namespaces of the root URLconf."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        names = (*params, *_params(entry.pattern))
        if isinstance(entry, URLResolver):
            found += discover(entry.url_patterns, route, entry.namespace or namespace, names)
        elif isinstance(entry, URLPattern) and namespace in (CONSOLE, API):
            if "format" in names:  # DRF format-suffix twins of the same view
                continue
            assert entry.name, f"unnamed URL pattern {route!r}: the walk needs a name to reverse it"
            found.append(Endpoint(namespace, entry.name, route, names))
    return found


ENDPOINTS = discover()
CONSOLE_ENDPOINTS = [e for e in ENDPOINTS if not e.is_api]
API_ENDPOINTS = [e for e in ENDPOINTS if e.is_api]


def _segment_before(route: str, param: str) -> str:
    """The literal path segment just before a parameter: "webhooks" in webhooks/<pk>/."""
    match = re.search(rf"\(\?P<{param}>|<(?:\w+:)?{param}>", route)
    if not match:
        return ""
    segments = [s for s in re.split(r"[/^$]", route[: match.start()]) if s]
    return segments[-1].lower() if segments else ""


def path_value(endpoint: Endpoint, param: str, objects: dict):
    """A real object's key for one path parameter, chosen by its name or the segment before it."""
    hint = (param + " " + _segment_before(endpoint.route, param)).lower()
    for word, key in (
        ("attempt", "attempt"),
        ("deliver", "delivery"),
        ("event-type", "event_type"),
        ("event_type", "event_type"),
        ("event", "event"),
        ("webhook", "webhook"),
    ):
        if word in hint:
            return objects[key]
    pytest.fail(
        f"{endpoint} ({endpoint.route}): no real object for path parameter {param!r}; extend path_value"
    )


def url_of(endpoint: Endpoint, objects: dict) -> str:
    kwargs = {p: path_value(endpoint, p, objects) for p in endpoint.params}
    return reverse(f"{endpoint.namespace}:{endpoint.name}", kwargs=kwargs)


@pytest.fixture
def objects(db):
    """One of everything, with an API key set, for filling path parameters."""
    webhook = services.webhook_create(
        name="Walked", events=["*"], url="http://127.0.0.1:9/hook", api_key=API_KEY
    )
    event = services.event_emit(event_type="contact.updated", data={"id": 1}, webhooks=[webhook])
    delivery = Delivery.objects.get(event_id=event.pk)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.FAILED, attempt_count=1, completed_at=timezone.now(), next_attempt_at=None
    )
    attempt = Attempt.objects.create(
        delivery=delivery,
        number=1,
        request_url=webhook.url,
        request_headers={"X-API-Key": webhook.api_key_hint},
        error_class=Attempt.ErrorClass.CONNECTION,
        error_message="Connection refused.",
    )
    return {
        "webhook": webhook.pk,
        "event": event.pk,
        "delivery": delivery.pk,
        "attempt": attempt.pk,
        "event_type": "contact.updated",
        "secret": webhook.secret,
    }


def make_user(username, *, staff=False, superuser=False, perms=False):
    user = get_user_model().objects.create_user(
        username, f"{username}@example.com", "pw-12345678", is_staff=staff, is_superuser=superuser
    )
    if perms:
        user.user_permissions.set(Permission.objects.filter(content_type__app_label="webhooks_app"))
    return user


ROLES = ("anonymous", "user", "staff-no-permission", "user-with-permissions", "superuser")


def clients() -> dict[str, Client]:
    made = {"anonymous": Client()}
    for role, options in {
        "user": {},
        "staff-no-permission": {"staff": True},
        "user-with-permissions": {"perms": True},
        "superuser": {"staff": True, "superuser": True},
    }.items():
        made[role] = Client()
        made[role].force_login(make_user(role, **options))
    return made


def call(client: Client, method: str, url: str, endpoint: Endpoint):
    if endpoint.is_api and method != "GET":
        return client.generic(method, url, data="{}", content_type="application/json")
    return client.get(url) if method == "GET" else client.generic(method, url)


def methods_of(endpoint: Endpoint) -> tuple[str, ...]:
    return ("GET", "POST", "PUT", "PATCH", "DELETE") if endpoint.is_api else ("GET", "POST")


def login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


# The walk -------------------------------------------------------------------------------


def test_the_walk_finds_every_url_the_design_names():
    console = {e.name for e in CONSOLE_ENDPOINTS}
    assert {
        "webhook-list",
        "webhook-create",
        "webhook-update",
        "webhook-delete",
        "webhook-deliveries",
        "delivery-detail",
    } <= console
    api_routes = {
        re.sub(r"\(\?P<\w+>[^)]*\)", "{id}", e.route).replace("^", "").replace("$", "") for e in API_ENDPOINTS
    }
    for route in [
        "api/webhooks/",
        "api/webhooks/{id}/",
        "api/webhooks/{id}/test/",
        "api/webhooks/{id}/rotate-secret/",
        "api/webhooks/{id}/deliveries/",
        "api/deliveries/{id}/",
        "api/deliveries/{id}/redeliver/",
        "api/event-types/",
        "api/events/",
        "api/schema/",
        "api/docs/",
    ]:
        assert route in api_routes, route
    assert all(e.route.startswith("api/") for e in API_ENDPOINTS)


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_every_url_answers_each_kind_of_user_as_expected(endpoint, objects):
    url = url_of(endpoint, objects)
    users = clients()
    answers = {role: {} for role in ROLES}
    # Every role's GET before anyone's POST or DELETE, which may remove the objects
    # (a DELETE after another admitted user's DELETE answers 404, which is fine).
    for method in methods_of(endpoint):
        for role in ROLES:
            answers[role][method] = call(users[role], method, url, endpoint)

    admitted = answers["superuser"]
    for method, response in admitted.items():
        assert response.status_code not in (401, 403) and response.status_code < 500, (
            f"superuser {method} {url}: {response.status_code}"
        )
    assert admitted["GET"].status_code in (200, 405), f"superuser GET {url}: {admitted['GET'].status_code}"
    supported = {m for m, r in admitted.items() if r.status_code != 405}
    assert supported, f"{url} answers 405 to every method"

    def check(role, expectation, allowed):
        for method, response in answers[role].items():
            if method not in supported and response.status_code == 405:
                continue
            assert allowed(response), f"{role} {method} {url}: {response.status_code}, expected {expectation}"

    if endpoint.is_api:
        check(
            "anonymous",
            "401 with a challenge",
            lambda r: r.status_code == 401 and r.has_header("WWW-Authenticate"),
        )
        check("user", "403", lambda r: r.status_code == 403)
        check("staff-no-permission", "403", lambda r: r.status_code == 403)
        # The API is for automation: model permissions are enough, staff status is not needed.
        check("user-with-permissions", "not 401/403", lambda r: r.status_code not in (401, 403, 500))
    else:
        check("anonymous", "302 to the login page", login_redirect)
        check("user", "403 or 302 to the login page", lambda r: r.status_code == 403 or login_redirect(r))
        check("staff-no-permission", "403", lambda r: r.status_code == 403)
        # The console is for staff: permissions without staff status do not open it.
        check(
            "user-with-permissions",
            "403 or 302 to the login page",
            lambda r: r.status_code == 403 or login_redirect(r),
        )

    # What the admitted users read never carries the API key; the signing secret only
    # where an endpoint exists to show it.
    for role in ("superuser", "user-with-permissions"):
        response = answers[role]["GET"]
        if response.status_code == 200 and not response.streaming:
            body = response.content.decode(errors="replace")
            assert API_KEY not in body, f"{role} GET {url} shows the API key"
            if "secret" not in endpoint.name:
                assert objects["secret"] not in body, f"{role} GET {url} shows the signing secret"


@pytest.mark.django_db
def test_the_walk_reaches_real_objects(objects):
    """A walked detail URL resolves to a page of the object, not to a 404."""
    superuser = clients()["superuser"]
    detail = [e for e in ENDPOINTS if e.params]
    assert detail
    for endpoint in detail:
        response = superuser.get(url_of(endpoint, objects))
        assert response.status_code != 404, endpoint


# CSRF -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", CONSOLE_ENDPOINTS, ids=str)
def test_every_console_post_without_a_csrf_token_is_rejected(endpoint, objects):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("boss", staff=True, superuser=True))
    before = (Webhook.objects.count(), Delivery.objects.count(), Webhook.objects.get().secret)

    response = client.post(url_of(endpoint, objects), {"name": "changed", "enabled": "on"})

    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert (Webhook.objects.count(), Delivery.objects.count(), Webhook.objects.get().secret) == before
    assert Webhook.objects.get().name == "Walked"


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", API_ENDPOINTS, ids=str)
def test_api_writes_with_a_session_but_without_a_csrf_token_are_rejected(endpoint, objects):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("boss", staff=True, superuser=True))
    before = (Webhook.objects.count(), Delivery.objects.count(), Webhook.objects.get().secret)
    url = url_of(endpoint, objects)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = client.generic(method, url, data="{}", content_type="application/json")
        assert response.status_code in (403, 405), (method, url, response.status_code)
        # The user may do everything, so a 403 can only be the CSRF check; JSON answers say so.
        if response.status_code == 403 and response["Content-Type"].startswith("application/json"):
            assert "CSRF" in response.json()["detail"]
    assert (Webhook.objects.count(), Delivery.objects.count(), Webhook.objects.get().secret) == before


@pytest.mark.django_db
def test_a_console_post_with_the_csrf_token_goes_through(objects):
    """The control for the CSRF tests: the same kind of request with a token works."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("boss", staff=True, superuser=True))
    client.get(reverse("webhooks_app:webhook-list"))
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    url = reverse("webhooks_app:webhook-delete", args=[objects["webhook"]])

    response = client.post(url, {"csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert not Webhook.objects.exists()


@pytest.mark.django_db
def test_api_token_requests_need_no_csrf_token(objects):
    from rest_framework.authtoken.models import Token

    user = make_user("robot", perms=True)
    client = Client(
        enforce_csrf_checks=True, headers={"Authorization": f"Token {Token.objects.create(user=user).key}"}
    )
    response = client.post(
        reverse("webhooks_api:webhook-rotate-secret", args=[objects["webhook"]]),
        data="{}",
        content_type="application/json",
    )
    assert response.status_code == 200
    assert Webhook.objects.get().secret != objects["secret"]


# Production settings ----------------------------------------------------------------------

PRODUCTION_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "DJANGO_SETTINGS_MODULE": "config.settings_production",
    "SECRET_KEY": "p7#v$Qx2!mZ9@kLw4^rT8&yB1*eN6(uH3)sJ5_dF0+gC7=aV2-",
    "ALLOWED_HOSTS": "example.com",
}


def run_production(args, **env):
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**PRODUCTION_ENV, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_production_settings():
    assert len(PRODUCTION_ENV["SECRET_KEY"]) >= 50
    result = run_production(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_on_a_weak_secret_key():
    """The control: the same command does report a deployment problem."""
    result = run_production(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], SECRET_KEY="short")
    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout


def test_production_settings_need_a_secret_key_and_allowed_hosts():
    for missing in ("SECRET_KEY", "ALLOWED_HOSTS"):
        result = run_production(["manage.py", "check"], **{missing: ""})
        assert result.returncode != 0
        assert f"needs the {missing} environment variable" in result.stderr


def test_production_settings_secure_the_cookies_and_the_transport():
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in ("
        "'DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', "
        "'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', "
        "'SECURE_HSTS_PRELOAD', 'X_FRAME_OPTIONS')} | {"
        "'engine': s.DATABASES['default']['ENGINE'], 'redis': s.Q_CLUSTER.get('redis'), "
        "'orm': s.Q_CLUSTER.get('orm'), 'allowed': s.WEBHOOKS['ALLOWED_DESTINATIONS'], "
        "'keys': s.WEBHOOKS['ENCRYPTION_KEYS']}))"
    )
    result = run_production(
        ["-c", code],
        DATABASE_URL="postgres://app:pw@db.internal:5432/hooks",
        REDIS_URL="redis://cache.internal:6379/2",
        WEBHOOKS_ENCRYPTION_KEYS="a,b",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and values["SECURE_HSTS_PRELOAD"]
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["redis"] == "redis://cache.internal:6379/2" and values["orm"] is None
    assert values["allowed"] == []  # no private destination unless configured
    assert values["keys"] == ["a", "b"]


def test_the_demo_settings_secure_cookies_whenever_debug_is_off():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)",
        ],
        cwd=ROOT,
        env={"PATH": PRODUCTION_ENV["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["False", "True", "True"], result.stderr


# Issue 18: who may learn what ------------------------------------------------------------


def staff_with(username: str, *codenames: str):
    user = get_user_model().objects.create_user(username, password=None, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="webhooks_app", codename__in=codenames)
    )
    return user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def token_client(user) -> Client:
    from rest_framework.authtoken.models import Token

    return Client(headers={"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"})


STORED_PIN = 4711


def pin_recovered(client: Client) -> int | None:
    """A binary search on "Test filters": the exact stored value when every answer says
    whether {"pin": {"$gte": n}} would have let the recorded event through."""
    url = reverse("webhooks_app:webhook-filters-test")
    low, high = 0, 10_000
    while low < high:
        middle = (low + high + 1) // 2
        response = client.post(url, {"filters": json.dumps({"pin": {"$gte": middle}}), "events": ["*"]})
        if response.status_code != 200:
            return None
        if response.json()["events"][0]["sent"]:
            low = middle
        else:
            high = middle - 1
    return low


@pytest.fixture
def recorded_pin(db):
    webhook = services.webhook_create(name="Hook", events=["*"], url="http://127.0.0.1:9/hook")
    services.event_emit(event_type="contact.updated", data={"pin": STORED_PIN}, webhooks=[webhook])
    return webhook


def test_test_filters_tells_nothing_about_event_data_to_who_may_not_read_it(recorded_pin):
    from webhooks_app import permissions

    # Every webhook permission (the pages with the button need add or change), no view_delivery.
    writer = logged_in(staff_with("writer", "view_webhook", "add_webhook", "change_webhook"))
    response = writer.post(
        reverse("webhooks_app:webhook-filters-test"), {"filters": '{"pin": 4711}', "events": ["*"]}
    )
    assert response.status_code == 403
    assert permissions.denied_message("webhook_filters_test") in response.content.decode()
    assert b"sent" not in response.content
    assert pin_recovered(writer) is None

    # Who may read the events (their deliveries) learns no more than the delivery pages show.
    reader = logged_in(staff_with("reader", "view_delivery"))
    assert pin_recovered(reader) == STORED_PIN


def test_the_test_filters_button_shows_only_to_who_may_use_it(recorded_pin):
    button = b"data-filter-test"
    pages = [
        reverse("webhooks_app:webhook-create"),
        reverse("webhooks_app:webhook-update", args=[recorded_pin.pk]),
    ]
    writer = logged_in(staff_with("writer", "view_webhook", "add_webhook", "change_webhook"))
    both = logged_in(staff_with("both", "view_webhook", "add_webhook", "change_webhook", "view_delivery"))
    for page in pages:
        assert button not in writer.get(page).content, page
        assert button in both.get(page).content, page


API_KEY_STORED = "ak_partner_0f1e2d3c4b5a"
HEADER_STORED = "Bearer partner-9a8b7c6d"


@pytest.fixture
def partner(db, receiver):
    """A webhook that sends an API key and a custom header to its partner's receiver."""
    return services.webhook_create(
        name="Partner",
        events=["*"],
        url=receiver.url,
        api_key=API_KEY_STORED,
        headers={"Authorization": HEADER_STORED},
    )


def deliver_one(webhook):
    event = services.event_emit(event_type="contact.updated", data={"id": 1}, webhooks=[webhook])
    services.delivery_attempt(delivery_id=Delivery.objects.get(event_id=event.pk).pk)


def test_a_new_url_never_carries_the_stored_api_key_or_header_values(partner, receiver):
    from tests.receiver import Receiver

    attacker = Receiver().start()
    try:
        # May change the webhook (and read it), but does not know its API key.
        api = token_client(staff_with("changer", "view_webhook", "change_webhook"))
        for change in ({"url": attacker.url}, {"url": attacker.url, "api_key": "ak_mine_0123456789"}):
            response = api.patch(
                f"/api/webhooks/{partner.pk}/", json.dumps(change), content_type="application/json"
            )
            assert response.status_code == 400, response.content
            assert "url" in response.json()
        assert Webhook.objects.get(pk=partner.pk).url == receiver.url
        deliver_one(partner)
        assert attacker.requests == []
        sent = receiver.wait_for(1)[0].headers
        assert sent["X-API-Key"] == API_KEY_STORED and sent["Authorization"] == HEADER_STORED

        # Entered again (or removed) in the same change, the credentials are the changer's own.
        response = api.patch(
            f"/api/webhooks/{partner.pk}/",
            json.dumps({"url": attacker.url, "api_key": "ak_mine_0123456789", "headers": {}}),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        deliver_one(Webhook.objects.get(pk=partner.pk))
        got = attacker.wait_for(1)[0]
        assert got.headers["X-API-Key"] == "ak_mine_0123456789"
        assert API_KEY_STORED.encode() not in got.body and "Authorization" not in got.headers
    finally:
        attacker.stop()


def test_sending_the_stored_credentials_to_recipients_needs_them_again(partner):
    """recipient_credentials on sends the stored key to every recipient's URL: a new address."""
    api = token_client(staff_with("changer-r", "view_webhook", "change_webhook"))
    url = f"/api/webhooks/{partner.pk}/"
    response = api.patch(url, json.dumps({"recipient_credentials": True}), content_type="application/json")
    assert response.status_code == 400, response.content
    assert "recipient_credentials" in response.json()
    assert Webhook.objects.get(pk=partner.pk).recipient_credentials is False
    # Entered again, or turning it off (nothing goes to a new address), is accepted.
    response = api.patch(
        url,
        json.dumps({"recipient_credentials": True, "api_key": "ak_mine_0123456789", "headers": {}}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    response = api.patch(url, json.dumps({"recipient_credentials": False}), content_type="application/json")
    assert response.status_code == 200, response.content


# Issue 18: responses that carry a secret are never cached ---------------------------------


def no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "secret/"),
        ("POST", "rotate-secret/"),
        ("POST", "expire-previous-secret/"),
        ("POST", "rotate-encryption-key/"),
    ],
)
def test_api_answers_that_carry_a_secret_are_never_cached(db, method, path):
    webhook = services.webhook_create(
        name="Hook", events=["*"], url="http://127.0.0.1:9/hook", payload_encryption="aes-256-gcm"
    )
    api = token_client(make_user("root", staff=True, superuser=True))
    response = api.generic(method, f"/api/webhooks/{webhook.pk}/{path}")
    assert response.status_code == 200
    webhook.refresh_from_db()
    assert webhook.secret in response.content.decode() or webhook.encryption_key in response.content.decode()
    assert no_store(response), response.get("Cache-Control")


def test_the_api_create_answer_carries_the_secret_and_is_never_cached(db):
    api = token_client(make_user("root", staff=True, superuser=True))
    response = api.post(
        "/api/webhooks/",
        json.dumps(
            {
                "name": "New",
                "events": ["*"],
                "url": "http://127.0.0.1:9/h",
                "payload_encryption": "aes-256-gcm",
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["secret"] == Webhook.objects.get().secret
    assert no_store(response), response.get("Cache-Control")


def console_form(**fields) -> dict:
    return {
        "name": "Encrypted",
        "events": ["*"],
        "notification_type": "REST",
        "url": "http://127.0.0.1:9/hook",
        "api_key_header": "X-API-Key",
        "payload_format": "json",
        "filters": "{}",
        "enabled": "on",
        **fields,
    }


def test_console_pages_that_show_a_secret_or_key_are_never_cached(db):
    console = logged_in(make_user("root", staff=True, superuser=True))
    # Created with encryption on: the key is shown once, in the page after the redirect.
    response = console.post(
        reverse("webhooks_app:webhook-create"), console_form(payload_encryption="aes-256-gcm"), follow=True
    )
    webhook = Webhook.objects.get()
    assert webhook.encryption_key in response.content.decode()
    assert no_store(response), response.get("Cache-Control")
    # Switched on by an edit: the same.
    other = services.webhook_create(name="Plain", events=["*"], url="http://127.0.0.1:9/other")
    response = console.post(
        reverse("webhooks_app:webhook-update", args=[other.pk]),
        console_form(name="Plain", url="http://127.0.0.1:9/other", payload_encryption="aes-256-gcm"),
        follow=True,
    )
    other.refresh_from_db()
    assert other.encryption_key and other.encryption_key in response.content.decode()
    assert no_store(response)
    for name in ("webhook-reveal-secret", "webhook-rotate-encryption-key"):
        response = console.post(reverse(f"webhooks_app:{name}", args=[webhook.pk]))
        webhook.refresh_from_db()
        assert webhook.encryption_key in response.content.decode(), name
        assert no_store(response), name

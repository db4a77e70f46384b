"""The permission matrix: every route of the console and the API, as every single-permission user.

Generated, not listed: the routes come from the URL resolvers, what each route and
method does from the views' own declarations (a console view's ``permission_action``,
an API view's ``permission_actions`` / ``permission_action``), and who may do it from
the one permissions table (``webhooks_app.permissions.ACTIONS``). A route added
without an action of the table fails here.

The users: a staff user per Django permission of webhooks_app, a staff user per
action of the table holding exactly its permissions, staff without any permission,
and a superuser. For every request:

- it is allowed exactly when the table says so; a refusal is a 403 or a 404;
- a refused answer carries nothing of the objects (name, URL, event data, secrets);
- an allowed answer carries only what the user may read (READABLE_BY);
- no answer ever carries the API key or a custom header's value (write-only);
- an answer that carries a signing secret or an encryption key is never cached.

Each request runs in a savepoint that is rolled back, so every user meets the same
objects (a DELETE or a rotation by one user does not change what the next one sees).
"""

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from webhooks_app import permissions, services
from webhooks_app.models import Attempt, Delivery, Webhook
from webhooks_app.selectors import sending, subscriptions

pytestmark = pytest.mark.django_db

CONSOLE, API = "webhooks_app", "webhooks_api"

# Values of the objects that a response may or may not show, each findable in a body.
MARK = "Qz7m"
NAME = f"Matrix hook {MARK}"
URL = f"http://127.0.0.1:9/matrix-{MARK}"
EVENT_VALUE = f"leak-{MARK}@example.com"
API_KEY = f"ak-matrix-{MARK}-0123456789"
HEADER_VALUE = f"hv-matrix-{MARK}-9876543210"

# What an allowed answer may show, by the actions of the table that read it: a
# delivery names its webhook and the URL it went to; event data is read with the
# deliveries; signing secrets and encryption keys with webhook_secret. The API key
# and custom header values are read by no one.
READABLE_BY = {
    "webhook": ("webhook_view", "delivery_view"),
    "event data": ("delivery_view",),
    "secret": ("webhook_secret",),
}


# Routes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    namespace: str
    name: str
    pattern: str  # the full pattern text, for choosing path parameters
    params: tuple[str, ...]
    view: Any

    @property
    def is_api(self) -> bool:
        return self.namespace == API

    def __str__(self):
        return f"{self.namespace}:{self.name}"


def routes(patterns=None, prefix="", namespace=None, params=()) -> list[Route]:
    """Every named URL of the console and the API in the project's root URLconf."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        pattern = prefix + str(entry.pattern)
        names = (*params, *entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            found += routes(entry.url_patterns, pattern, entry.namespace or namespace, names)
        elif isinstance(entry, URLPattern) and namespace in (CONSOLE, API) and "format" not in names:
            assert entry.name, f"unnamed URL pattern {pattern!r}"
            found.append(Route(namespace, entry.name, pattern, names, entry.callback))
    return found


ROUTES = routes()


def api_actions(route: Route) -> dict[str, str | None]:
    """Method -> action of the table, from the API view's own declarations."""
    cls = route.view.cls
    declared = getattr(cls, "permission_actions", None) or {}
    fallback = getattr(cls, "permission_action", None)
    viewset_actions = getattr(route.view, "actions", None)
    if viewset_actions:
        found = {m.upper(): declared.get(a, fallback) for m, a in viewset_actions.items() if m != "head"}
    else:
        found = {m.upper(): fallback for m in ("get", "post", "put", "patch", "delete") if hasattr(cls, m)}
    if "options" in cls.http_method_names:
        found["OPTIONS"] = declared.get("metadata", fallback)  # DRF's implicit "metadata" action
    return found


def declared_action(route: Route, method: str) -> str | None:
    if route.is_api:
        return api_actions(route).get(method)
    return getattr(route.view, "permission_action", None)


# The console's views say which methods they take by answering 405; the API's say it.
CASES = [(r, m) for r in ROUTES if r.is_api for m in api_actions(r)] + [
    (r, m) for r in ROUTES if not r.is_api for m in ("GET", "POST")
]


def segment_before(pattern: str, param: str) -> str:
    match = re.search(rf"\(\?P<{param}>|<(?:\w+:)?{param}>", pattern)
    segments = [s for s in re.split(r"[/^$]", pattern[: match.start()]) if s] if match else []
    return segments[-1].lower() if segments else ""


def url_of(route: Route, world: dict) -> str:
    kwargs = {}
    for param in route.params:
        hint = f"{param} {segment_before(route.pattern, param)}"
        if "attempt" in hint:
            kwargs[param] = world["attempt"]
        elif "deliver" in hint:
            kwargs[param] = world["delivery"]
        elif "webhook" in hint:
            kwargs[param] = world["webhook"]
        else:
            pytest.fail(f"{route} ({route.pattern}): no object for the path parameter {param!r}")
    return reverse(f"{route.namespace}:{route.name}", kwargs=kwargs)


# Objects and users ------------------------------------------------------------------------


@pytest.fixture
def world(db):
    """A webhook with every kind of secret, an event with data, a failed delivery with an attempt."""
    webhook = services.webhook_create(
        name=NAME,
        description=f"About {NAME}",
        events=["*"],
        url=URL,
        api_key=API_KEY,
        headers={"X-Tenant": HEADER_VALUE},
        payload_encryption=Webhook.PayloadEncryption.AES_256_GCM,
    )
    event = services.event_emit(
        event_type="contact.updated", data={"id": 7, "email": EVENT_VALUE}, webhooks=[webhook]
    )
    delivery = Delivery.objects.get(event_id=event.pk)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.FAILED, attempt_count=1, completed_at=timezone.now(), next_attempt_at=None
    )
    attempt = Attempt.objects.create(
        delivery=delivery,
        number=1,
        request_url=URL,
        request_headers={"X-API-Key": webhook.api_key_hint},
        error_class=Attempt.ErrorClass.CONNECTION,
        error_message="Connection refused.",
    )
    return {"webhook": webhook.pk, "delivery": delivery.pk, "attempt": attempt.pk}


@dataclass
class Caller:
    label: str
    perms: frozenset[str]  # codenames held
    superuser: bool
    console: Client
    api: Client

    def may(self, action: str) -> bool:
        """What the table says, read from the table itself."""
        return self.superuser or set(permissions.ACTIONS[action].perms) <= self.perms

    def may_read(self, kind: str) -> bool:
        return any(self.may(action) for action in READABLE_BY[kind])


def codenames() -> list[str]:
    return sorted(
        Permission.objects.filter(content_type__app_label=permissions.APP_LABEL).values_list(
            "codename", flat=True
        )
    )


@pytest.fixture
def callers(db) -> list[Caller]:
    sets = [(f"perm:{c}", frozenset({c}), False) for c in codenames()]
    held = {perms for _, perms, _ in sets}
    for action in permissions.ACTIONS.values():  # an action of one permission has its user already
        if frozenset(action.perms) not in held:
            held.add(frozenset(action.perms))
            sets.append((f"action:{action.name}", frozenset(action.perms), False))
    sets += [("staff-no-permission", frozenset(), False), ("superuser", frozenset(), True)]
    made = []
    for number, (label, perms, superuser) in enumerate(sets):
        user = get_user_model().objects.create_user(
            f"u{number}", password=None, is_staff=True, is_superuser=superuser
        )
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label=permissions.APP_LABEL, codename__in=perms)
        )
        console = Client()
        console.force_login(user)
        api = Client(headers={"Authorization": f"Token {Token.objects.create(user=user).key}"})
        made.append(Caller(label, perms, superuser, console, api))
    return made


def superuser_of(callers: list[Caller]) -> Caller:
    return next(c for c in callers if c.superuser)


# One request ------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    text: str  # the body, the messages it queued and the header values
    cache_control: str
    fixture_secrets: list[str]  # the webhook's secrets and key (before and after the request)
    new_secrets: list[str]  # of webhooks the request created


def ask(caller: Caller, route: Route, method: str, url: str, world: dict, before: list[str]) -> Answer:
    """One request in a savepoint rolled back afterwards, with what it showed."""
    client = caller.api if route.is_api else caller.console
    with transaction.atomic():
        if route.is_api and method not in ("GET", "OPTIONS"):
            response = client.generic(method, url, data="{}", content_type="application/json")
        else:
            response = client.generic(method, url)
        parts = [] if response.streaming else [response.content.decode(errors="replace")]
        if response.wsgi_request is not None and hasattr(response.wsgi_request, "_messages"):
            parts += [str(m) for m in get_messages(response.wsgi_request)]
        parts += [str(v) for v in response.headers.values()]
        secrets = {
            pk: [s for s in row if s]
            for pk, *row in Webhook.objects.values_list("pk", "secret", "previous_secret", "encryption_key")
        }
        transaction.set_rollback(True)
    subscriptions.clear()
    sending.clear()
    fixture_pk = world["webhook"]
    return Answer(
        status=response.status_code,
        text="\n".join(parts),
        cache_control=response.headers.get("Cache-Control", ""),
        fixture_secrets=before + secrets.get(fixture_pk, []),
        new_secrets=[s for pk, row in secrets.items() if pk != fixture_pk for s in row],
    )


def fixture_secrets() -> list[str]:
    webhook = Webhook.objects.order_by("pk").first()
    return [s for s in (webhook.secret, webhook.previous_secret, webhook.encryption_key) if s]


# The matrix -------------------------------------------------------------------------------


def test_the_routes_are_found_and_every_action_of_the_table_is_reachable():
    names = {str(r) for r in ROUTES}
    assert {"webhooks_app:webhook-list", "webhooks_app:webhook-filters-test"} <= names
    assert {"webhooks_api:webhook-list", "webhooks_api:webhook-secret", "webhooks_api:schema"} <= names
    reached = {declared_action(r, m) for r, m in CASES}
    assert set(permissions.ACTIONS) <= reached, set(permissions.ACTIONS) - reached


@pytest.mark.parametrize(("route", "method"), CASES, ids=[f"{r} {m}" for r, m in CASES])
def test_each_user_is_allowed_or_refused_as_the_table_says(route, method, world, callers):
    action = declared_action(route, method)
    assert action in permissions.ACTIONS, (
        f"{route} {method}: the view names no action of webhooks_app.permissions.ACTIONS ({action!r})"
    )
    url = url_of(route, world)
    before = fixture_secrets()
    if not route.is_api:
        probe = ask(superuser_of(callers), route, method, url, world, before)
        if probe.status == 405:
            return  # a method this console page does not take (405 for everyone, before any check)

    refused_must_not_show = [NAME, URL, EVENT_VALUE, API_KEY, HEADER_VALUE]
    for caller in callers:
        answer = ask(caller, route, method, url, world, before)
        where = f"{caller.label} {method} {url} ({action}): {answer.status}"
        assert answer.status < 500, where
        shown_secrets = [s for s in answer.fixture_secrets + answer.new_secrets if s in answer.text]

        if not caller.may(action):
            assert answer.status in (403, 404), f"{where}, expected a refusal"
            leaked = [v for v in refused_must_not_show + answer.fixture_secrets if v in answer.text]
            assert not leaked, f"{where}: the refusal shows {leaked}"
            continue

        assert answer.status not in (401, 403, 404), f"{where}, expected it allowed"
        assert API_KEY not in answer.text and HEADER_VALUE not in answer.text, (
            f"{where}: shows a write-only credential"
        )
        if NAME in answer.text or URL in answer.text:
            assert caller.may_read("webhook"), f"{where}: shows the webhook to a user who may not see it"
        if EVENT_VALUE in answer.text:
            assert caller.may_read("event data"), f"{where}: shows event data to a user who may not read it"
        if any(s in answer.text for s in answer.fixture_secrets):
            assert caller.may_read("secret"), f"{where}: shows a secret to a user who may not read it"
        if any(s in answer.text for s in answer.new_secrets):
            assert caller.may("webhook_add"), f"{where}: shows a new webhook's secret"
        if shown_secrets:
            assert "no-store" in answer.cache_control, (
                f"{where}: carries a secret but may be cached (Cache-Control: {answer.cache_control!r})"
            )

"""Parity: each rule through the console, the API and the admin gives one outcome and one message.

Every rule lives once, on the model (field validators, Webhook.clean), in a service
or in the permissions table; the three ways in only translate. Each case does the
same thing through the console's form (Django test client), the API (DRF's
APIClient) and, where it can write, the Django admin, and checks that all refuse
(or all accept) with the same text.
"""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from webhooks_app import permissions, services
from webhooks_app.models import Delivery, Event, Webhook

pytestmark = pytest.mark.django_db

VALID = {
    "name": "CRM sync",
    "events": ["contact.created", "contact.updated"],
    "url": "https://crm.example.com/hooks",
    "api_key_header": "X-API-Key",
    "filters": {},
}


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture(autouse=True)
def source_system_events(settings):
    """Names as the source systems write them, and a system event (issue 10)."""
    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "EVENTS": {
            **settings.WEBHOOKS["EVENTS"],
            "FEEDBACK_SUBMIT": "WebEngage: feedback submitted.",
            "app.installed": {"description": "A system event.", "deliverable": False},
        },
    }


def console_create(user, fields: dict):
    """POST the console's create form; (accepted, {field: [messages]})."""
    client = Client()
    client.force_login(user)
    data = {
        "name": fields["name"],
        "events": fields["events"],
        "notification_type": "REST",
        "url": fields["url"],
        "api_key": "",
        "description": "",
        "api_key_header": fields["api_key_header"],
        "timeout": "",
        "payload_format": "json",
        "filters": json.dumps(fields["filters"]),
        "enabled": "on",
        **{k: fields[k] for k in OPTIONAL if k in fields},
    }
    response = client.post(reverse("webhooks_app:webhook-create"), data)
    if response.status_code == 302:
        return True, {}
    assert response.status_code == 200
    return False, {k: list(v) for k, v in response.context["form"].errors.items()}


def api_create(user, fields: dict):
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/webhooks/", fields, format="json")
    if response.status_code == 201:
        return True, {}
    assert response.status_code == 400, response.content
    errors = {}
    for field, messages in response.json().items():
        # a list field's messages are per item: {"0": [...]}
        errors[field] = (
            [m for ms in messages.values() for m in ms] if isinstance(messages, dict) else messages
        )
    return False, errors


def admin_create(user, fields: dict):
    client = Client()
    client.force_login(user)
    data = {
        "name": fields["name"],
        "description": "",
        "events": json.dumps(fields["events"]),
        "notification_type": "REST",
        "url": fields["url"],
        "api_key_header": fields["api_key_header"],
        "enabled": "on",
        "payload_format": "json",
        "filters": json.dumps(fields["filters"]),
        "timeout": "",
        **{k: fields[k] for k in OPTIONAL if k in fields},
    }
    response = client.post(reverse("admin:webhooks_app_webhook_add"), data)
    if response.status_code == 302:
        return True, {}
    assert response.status_code == 200
    return False, {k: list(v) for k, v in response.context["adminform"].form.errors.items()}


WAYS_IN = {"console": console_create, "api": api_create, "admin": admin_create}
# Fields a case may add; each way in posts them as given (issue 10's request options).
OPTIONAL = ("topic_prefix", "secret_hash_header")

RULES = [
    # (rule, change to VALID, the field blamed, a message every way in shows)
    ("invalid URL", {"url": "not a url"}, "url", "The URL must start with http:// or https://."),
    (
        "private URL",
        {"url": "http://10.1.2.3/hook"},
        "url",
        "10.1.2.3 is a private, loopback or reserved address",
    ),
    ("empty events", {"events": []}, "events", "Choose at least one event, or All events."),
    (
        "unknown event type",
        {"events": ["contact.created", "contact.exploded"]},
        "events",
        '"contact.exploded" is not a declared event type.',
    ),
    (
        "invalid filters",
        {"filters": {"n": {"$gtee": 5}}},
        "filters",
        'Filter "n": unknown operator "$gtee"',
    ),
    (
        "filters nested instead of dotted",
        {"filters": {"address": {"country": "SE"}}},
        "filters",
        'Filter "address": "country" is not an operator (match a nested field with "address.country")',
    ),
    (
        "bad header name",
        {"api_key_header": "Bad Header"},
        "api_key_header",
        "A header name is 1-64 letters, digits or -_. (no spaces or line breaks).",
    ),
    (
        "header the app sets",
        {"api_key_header": "Content-Type"},
        "api_key_header",
        "is set by webhooks_app itself",
    ),
    (
        "secret hash header the app sets",
        {"secret_hash_header": "X-Webhook-Signature"},
        "secret_hash_header",
        "is set by webhooks_app itself",
    ),
    (
        "API key header under the app's prefix",
        {"api_key_header": "X-Webhook-Key"},
        "api_key_header",
        "X-Webhook-Key is set by webhooks_app itself: names starting with X-Webhook- or webhook-",
    ),
    (
        "secret hash header under Standard Webhooks' prefix",
        {"secret_hash_header": "Webhook-Version"},
        "secret_hash_header",
        "Webhook-Version is set by webhooks_app itself",
    ),
    (
        "hop-by-hop API key header",
        {"api_key_header": "Proxy-Authorization"},
        "api_key_header",
        "Proxy-Authorization is about the connection, not the request (a hop-by-hop header)",
    ),
    (
        "hop-by-hop secret hash header",
        {"secret_hash_header": "TE"},
        "secret_hash_header",
        "TE is about the connection, not the request",
    ),
    (
        "secret hash in the API key's header",
        {"secret_hash_header": "x-api-key"},
        "secret_hash_header",
        "x-api-key is already the API key header.",
    ),
    (
        "topic prefix that cannot go into a header",
        {"topic_prefix": "acme corp."},
        "topic_prefix",
        "A topic prefix is up to 100 letters",
    ),
    (
        "system event",
        {"events": ["contact.created", "app.installed"]},
        "events",
        '"app.installed" is a system event: it is never sent to webhooks.',
    ),
]


@pytest.mark.parametrize(("rule", "change", "field", "message"), RULES, ids=[r[0] for r in RULES])
def test_every_way_in_refuses_with_the_same_message(root, rule, change, field, message):
    outcomes = {name: create(root, {**VALID, **change}) for name, create in WAYS_IN.items()}

    for name, (accepted, errors) in outcomes.items():
        assert not accepted, f"{name} accepted {rule}"
        assert field in errors, f"{name}: {errors}"
        assert any(message in m for m in errors[field]), f"{name}: {errors[field]}"
    # Not only the one message: everything said about the field is the same.
    said = {name: sorted(errors[field]) for name, (_, errors) in outcomes.items()}
    assert said["console"] == said["api"] == said["admin"], said
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    ("change", "stored"),
    [
        ({"events": ["contact.created", "*"]}, {"events": ["*"]}),  # "*" wins over single events
        ({"events": ["contact.updated", "contact.created", "contact.updated"]}, {}),  # sorted, once
        ({"filters": {"n": {"$gte": 5}, "$context.source": "api"}}, {}),
        # a resource's wildcard covers its single types
        (
            {"events": ["contact.created", "contact.*", "FEEDBACK_SUBMIT"]},
            {"events": ["FEEDBACK_SUBMIT", "contact.*"]},
        ),
    ],
    ids=["star-wins", "sorted-unique", "operators", "wildcard-covers"],
)
def test_every_way_in_accepts_and_stores_the_same(root, change, stored):
    kept = []
    for name, create in WAYS_IN.items():
        accepted, errors = create(root, {**VALID, **change, "name": name})
        assert accepted, f"{name}: {errors}"
        kept.append(Webhook.objects.values("events", "filters").get(name=name))
    assert kept[0] == kept[1] == kept[2]
    expected = {
        "events": ["contact.created", "contact.updated"],
        "filters": change.get("filters", {}),
        **stored,
    }
    assert kept[0] == expected


def test_undeclared_types_a_webhook_has_are_kept_by_every_way_in(root):
    """A type no longer declared stays until someone removes it: saving back never fails."""
    webhook = services.webhook_create(name="Old", url=VALID["url"], events=["contact.created"])
    Webhook.objects.filter(pk=webhook.pk).update(events=["contact.created", "invoice.paid"])

    console = Client()
    console.force_login(root)
    response = console.post(
        reverse("webhooks_app:webhook-update", args=[webhook.pk]),
        {
            "name": "Old",
            "events": ["contact.created", "invoice.paid"],
            "notification_type": "REST",
            "url": VALID["url"],
            "api_key_header": "X-API-Key",
            "payload_format": "json",
            "filters": "{}",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    api = APIClient()
    api.force_authenticate(root)
    read = api.get(f"/api/webhooks/{webhook.pk}/").json()
    assert api.put(f"/api/webhooks/{webhook.pk}/", read, format="json").status_code == 200
    admin = Client()
    admin.force_login(root)
    response = admin.post(
        reverse("admin:webhooks_app_webhook_change", args=[webhook.pk]),
        {
            "name": "Old",
            "description": "",
            "events": json.dumps(["invoice.paid", "contact.created"]),
            "notification_type": "REST",
            "url": VALID["url"],
            "api_key_header": "X-API-Key",
            "enabled": "on",
            "payload_format": "json",
            "filters": "{}",
            "timeout": "",
        },
    )
    assert response.status_code == 302
    assert Webhook.objects.get(pk=webhook.pk).events == ["contact.created", "invoice.paid"]
    # A new webhook may not pick it.
    accepted, errors = api_create(root, {**VALID, "events": ["invoice.paid"]})
    assert not accepted and errors["events"] == ['"invoice.paid" is not a declared event type.']


# The site's limit on webhooks (WEBHOOKS["MAX_WEBHOOKS"]) ------------------------------------


def test_one_webhook_more_than_max_webhooks_is_refused_the_same_way(root, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "MAX_WEBHOOKS": 2}
    for name in ("One", "Two"):
        services.webhook_create(name=name, url=VALID["url"], events=["*"])
    message = "This site has 2 webhooks and allows at most 2. Delete one before adding another."

    outcomes = {name: create(root, {**VALID, "name": name}) for name, create in WAYS_IN.items()}

    said = {}
    for name, (accepted, errors) in outcomes.items():
        assert not accepted, f"{name} accepted a webhook over the limit"
        # About the whole request, not a field: the API's non_field_errors, the forms' __all__.
        [(key, messages)] = errors.items()
        assert key in ("non_field_errors", "__all__"), f"{name}: {errors}"
        said[name] = messages
    assert said["console"] == said["api"] == said["admin"] == [message], said
    assert Webhook.objects.count() == 2


# Redelivering a delivery still pending ---------------------------------------------------


@pytest.fixture
def pending(db):
    webhook = services.webhook_create(name="Hook", url=VALID["url"], events=["*"])
    event = Event.objects.create(event_type="contact.created", data={"id": 1})
    return Delivery.objects.create(
        webhook=webhook, event=event, event_type=event.event_type, next_attempt_at=timezone.now()
    )


def test_redeliver_of_a_pending_delivery_is_refused_the_same_way(root, pending):
    message = "This delivery is still being attempted; redeliver it once it has finished."

    console = Client()
    console.force_login(root)
    response = console.post(reverse("webhooks_app:delivery-redeliver", args=[pending.pk]), follow=True)
    assert [str(m) for m in response.context["messages"]] == [message]

    api = APIClient()
    api.force_authenticate(root)
    response = api.post(f"/api/deliveries/{pending.pk}/redeliver/")
    assert response.status_code == 409
    assert response.json() == {"detail": message}

    admin = Client()
    admin.force_login(root)
    response = admin.post(
        reverse("admin:webhooks_app_delivery_changelist"),
        {"action": "redeliver", "_selected_action": [pending.pk]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [f"Delivery {pending.pk}: {message}"]

    assert Delivery.objects.count() == 1


def test_redeliver_failed_since_a_future_moment_is_refused_the_same_way(root, pending):
    future = timezone.now() + timedelta(days=1)
    console = Client()
    console.force_login(root)
    response = console.post(
        reverse("webhooks_app:webhook-redeliver-failed", args=[pending.webhook_id]),
        {"since": timezone.localtime(future).strftime("%Y-%m-%dT%H:%M")},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [
        "Redeliver failed deliveries: Choose a moment in the past."
    ]
    api = APIClient()
    api.force_authenticate(root)
    response = api.post(
        f"/api/webhooks/{pending.webhook_id}/redeliver-failed/", {"since": future.isoformat()}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"since": ["Choose a moment in the past."]}


# A permission missing ---------------------------------------------------------------------


def user_without(*missing: str) -> User:
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="webhooks_app").exclude(codename__in=missing)
    )
    return user


def test_a_missing_change_permission_is_refused_the_same_way(pending):
    user = user_without("change_webhook")
    webhook = pending.webhook
    message = permissions.denied_message("webhook_change")
    assert message == (
        "You need the permissions webhooks_app.view_webhook and webhooks_app.change_webhook "
        "to change webhooks."
    )

    console = Client()
    console.force_login(user)
    response = console.post(
        reverse("webhooks_app:webhook-update", args=[webhook.pk]), {"name": "Changed", "events": ["*"]}
    )
    assert response.status_code == 403
    assert message in response.content.decode()

    api = APIClient()
    api.force_authenticate(user)
    response = api.patch(f"/api/webhooks/{webhook.pk}/", {"name": "Changed"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": message}

    admin = Client()
    admin.force_login(user)
    response = admin.post(
        reverse("admin:webhooks_app_webhook_change", args=[webhook.pk]),
        {"name": "Changed", "events": '["*"]'},
    )
    assert response.status_code == 403  # Django's admin says no message of its own

    assert Webhook.objects.get(pk=webhook.pk).name == "Hook"


def test_a_missing_redeliver_permission_is_refused_the_same_way(pending):
    Delivery.objects.filter(pk=pending.pk).update(status=Delivery.Status.FAILED)
    user = user_without("add_delivery")
    message = permissions.denied_message("delivery_redeliver")
    assert message == (
        "You need the permissions webhooks_app.view_delivery and webhooks_app.add_delivery "
        "to redeliver deliveries."
    )

    console = Client()
    console.force_login(user)
    response = console.post(reverse("webhooks_app:delivery-redeliver", args=[pending.pk]))
    assert response.status_code == 403 and message in response.content.decode()

    api = APIClient()
    api.force_authenticate(user)
    response = api.post(f"/api/deliveries/{pending.pk}/redeliver/")
    assert response.status_code == 403 and response.json() == {"detail": message}

    admin = Client()
    admin.force_login(user)
    changelist = reverse("admin:webhooks_app_delivery_changelist")
    assert "redeliver" not in admin.get(changelist).context["cl"].model_admin.get_actions(
        admin.get(changelist).wsgi_request
    )
    response = admin.post(changelist, {"action": "redeliver", "_selected_action": [pending.pk]}, follow=True)
    assert response.status_code == 200  # an action the user may not use is not run

    assert Delivery.objects.count() == 1


# Issue 18: changing a webhook needs seeing it; a new address needs the credentials again ----


def staff_with(*codenames: str) -> User:
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="webhooks_app", codename__in=codenames)
    )
    return user


def test_change_without_view_is_refused_the_same_way_and_shows_nothing(pending):
    user = staff_with("change_webhook")
    webhook = pending.webhook
    message = permissions.denied_message("webhook_change")
    assert message == (
        "You need the permissions webhooks_app.view_webhook and webhooks_app.change_webhook "
        "to change webhooks."
    )
    console = Client()
    console.force_login(user)
    api = APIClient()
    api.force_authenticate(user)
    admin = Client()
    admin.force_login(user)
    answers = {
        "console GET": console.get(reverse("webhooks_app:webhook-update", args=[webhook.pk])),
        "console POST": console.post(reverse("webhooks_app:webhook-update", args=[webhook.pk]), {}),
        "api PATCH": api.patch(f"/api/webhooks/{webhook.pk}/", {}, format="json"),
        "admin GET": admin.get(reverse("admin:webhooks_app_webhook_change", args=[webhook.pk])),
        "admin POST": admin.post(reverse("admin:webhooks_app_webhook_change", args=[webhook.pk]), {}),
    }
    for way, response in answers.items():
        assert response.status_code == 403, way
        assert webhook.name.encode() not in response.content and webhook.url.encode() not in response.content
    assert message in answers["console GET"].content.decode()
    assert answers["api PATCH"].json() == {"detail": message}


STORED_KEY = "ak_stored_5e4d3c2b1a"
STORED_HEADER = "tenant-secret-77"
NEW_URL = "https://elsewhere.example.com/hooks"
REENTER = (
    "Enter the API key and the custom header values again (or remove them) to send them to a new "
    "address: stored credentials never go to an address they were not entered for."
)


@pytest.fixture
def credentialed(db):
    return services.webhook_create(
        name="Hook",
        url=VALID["url"],
        events=["*"],
        api_key=STORED_KEY,
        headers={"X-Tenant": STORED_HEADER},
    )


def console_update(user, webhook, **fields):
    """POST the console's edit form as the page draws it (blank key, stored header's value empty)."""
    client = Client()
    client.force_login(user)
    data = {
        "name": webhook.name,
        "events": webhook.events,
        "notification_type": "REST",
        "url": webhook.url,
        "api_key": "",
        "api_key_header": "X-API-Key",
        "payload_format": "json",
        "filters": "{}",
        "enabled": "on",
        "destination": webhook.destination,
        "headers_name": list(webhook.headers),
        "headers_value": [""] * len(webhook.headers),
        **fields,
    }
    response = client.post(reverse("webhooks_app:webhook-update", args=[webhook.pk]), data)
    if response.status_code == 302:
        return True, {}
    assert response.status_code == 200
    return False, {k: list(v) for k, v in response.context["form"].errors.items()}


def api_update(user, webhook, **fields):
    client = APIClient()
    client.force_authenticate(user)
    response = client.patch(f"/api/webhooks/{webhook.pk}/", fields, format="json")
    if response.status_code == 200:
        return True, {}
    assert response.status_code == 400, response.content
    return False, response.json()


def admin_update(user, webhook, **fields):
    client = Client()
    client.force_login(user)
    data = {
        "name": webhook.name,
        "description": "",
        "events": json.dumps(webhook.events),
        "notification_type": "REST",
        "url": webhook.url,
        "api_key_header": "X-API-Key",
        "enabled": "on",
        "payload_format": "json",
        "filters": "{}",
        "timeout": "",
        "destination": webhook.destination,
        **fields,
    }
    response = client.post(reverse("admin:webhooks_app_webhook_change", args=[webhook.pk]), data)
    if response.status_code == 302:
        return True, {}
    assert response.status_code == 200
    return False, {k: list(v) for k, v in response.context["adminform"].form.errors.items()}


@pytest.mark.parametrize(
    ("field", "value"),
    [("url", NEW_URL), ("destination", "recipient")],
    ids=["url", "destination"],
)
def test_a_new_address_without_the_credentials_again_is_refused_the_same_way(
    root, credentialed, field, value
):
    before = Webhook.objects.values().get(pk=credentialed.pk)
    outcomes = {
        "console": console_update(root, credentialed, **{field: value}),
        "api": api_update(root, credentialed, **{field: value}),
        "admin": admin_update(root, credentialed, **{field: value}),
    }
    for way, (accepted, errors) in outcomes.items():
        assert not accepted, f"{way} moved the credentials to a new address"
        assert errors.get(field) == [REENTER], f"{way}: {errors}"
    assert Webhook.objects.values().get(pk=credentialed.pk) == before


def test_a_new_address_needs_only_the_credentials_the_webhook_has(root, db):
    key_only = services.webhook_create(name="Key", url=VALID["url"], events=["*"], api_key=STORED_KEY)
    accepted, errors = api_update(root, key_only, url=NEW_URL)
    assert not accepted and errors == {
        "url": [
            "Enter the API key again (or remove it) to send it to a new address: a stored API key never "
            "goes to an address it was not entered for."
        ]
    }
    headers_only = services.webhook_create(
        name="Headers", url=VALID["url"], events=["*"], headers={"X-Tenant": STORED_HEADER}
    )
    accepted, errors = console_update(root, headers_only, url=NEW_URL)
    assert not accepted and errors == {
        "url": [
            "Enter the custom header values again (or remove the headers) to send them to a new "
            "address: stored header values never go to an address they were not entered for."
        ]
    }
    plain = services.webhook_create(name="Plain", url=VALID["url"], events=["*"])
    for update in (console_update, api_update, admin_update):
        assert update(root, plain, url=NEW_URL) == (True, {}), update
        plain.refresh_from_db()
        plain.url = VALID["url"]
        plain.save()


def test_a_new_address_with_the_credentials_entered_again_or_removed_is_accepted(root, credentialed):
    accepted, errors = console_update(
        root, credentialed, url=NEW_URL, api_key="ak_typed_again_01", headers_value=["typed-again"]
    )
    assert accepted, errors
    credentialed.refresh_from_db()
    assert (credentialed.url, credentialed.api_key, credentialed.headers) == (
        NEW_URL,
        "ak_typed_again_01",
        {"X-Tenant": "typed-again"},
    )

    accepted, errors = api_update(root, credentialed, url=VALID["url"], api_key="", headers={})
    assert accepted, errors
    credentialed.refresh_from_db()
    assert (credentialed.url, credentialed.api_key, credentialed.headers) == (VALID["url"], "", {})


def test_the_same_address_keeps_the_credentials_without_entering_them(root, credentialed):
    """Saving back what was read, or changing anything but the address, needs nothing again."""
    assert console_update(root, credentialed, name="Renamed") == (True, {})
    assert api_update(root, credentialed, name="Again", url=VALID["url"]) == (True, {})
    assert admin_update(root, credentialed, name="Admin") == (True, {})
    credentialed.refresh_from_db()
    assert (credentialed.api_key, credentialed.headers) == (STORED_KEY, {"X-Tenant": STORED_HEADER})

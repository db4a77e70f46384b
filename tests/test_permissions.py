"""One table of actions and permissions (webhooks_app.permissions) behind the console, the API and the admin."""

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import resolve, reverse

from webhooks_app import permissions

# Each console page and the API operation that does the same thing.
SAME_ACTION = [
    ("webhook-list", (), "GET", "/api/webhooks/"),
    ("webhook-create", (), "POST", "/api/webhooks/"),
    ("webhook-update", (1,), "PATCH", "/api/webhooks/1/"),
    ("webhook-toggle", (1,), "PATCH", "/api/webhooks/1/"),
    ("webhook-delete", (1,), "DELETE", "/api/webhooks/1/"),
    ("webhook-test", (1,), "POST", "/api/webhooks/1/test/"),
    ("webhook-reveal-secret", (1,), "GET", "/api/webhooks/1/secret/"),
    ("webhook-rotate-secret", (1,), "POST", "/api/webhooks/1/rotate-secret/"),
    ("webhook-rotate-encryption-key", (1,), "POST", "/api/webhooks/1/rotate-encryption-key/"),
    ("sending-update", (), "PATCH", "/api/webhook-settings/"),
    ("webhook-deliveries", (1,), "GET", "/api/webhooks/1/deliveries/"),
    ("webhook-redeliver-failed", (1,), "POST", "/api/webhooks/1/redeliver-failed/"),
    ("delivery-detail", (1,), "GET", "/api/deliveries/1/"),
    ("delivery-redeliver", (1,), "POST", "/api/deliveries/1/redeliver/"),
]


def api_action(method: str, path: str) -> str:
    view = resolve(path).func
    viewset_action = view.actions[method.lower()]
    return view.cls.permission_actions[viewset_action]


@pytest.mark.parametrize(("name", "args", "method", "path"), SAME_ACTION, ids=[s[0] for s in SAME_ACTION])
def test_the_console_and_the_api_need_the_same_permissions_for_the_same_action(name, args, method, path):
    console = resolve(reverse(f"webhooks_app:{name}", args=args)).func.permission_action
    assert console == api_action(method, path)


def test_every_action_of_the_table_is_used():
    from webhooks_app.api.views import (
        DocsView,
        EventTypeViewSet,
        EventViewSet,
        SchemaView,
        WebhookSettingsViewSet,
    )

    used = {api_action(method, path) for _, _, method, path in SAME_ACTION}
    used |= set(EventTypeViewSet.permission_actions.values()) | set(EventViewSet.permission_actions.values())
    used |= {SchemaView.permission_action, DocsView.permission_action}
    used |= set(WebhookSettingsViewSet.permission_actions.values())
    # The console's own: "Test filters" of the webhook form (no API operation).
    used |= {resolve(reverse("webhooks_app:webhook-filters-test")).func.permission_action}
    assert used == set(permissions.ACTIONS)


@pytest.mark.django_db
def test_allowed_needs_every_permission_and_an_active_user():
    user = User.objects.create_user("u", password="pw")
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_delivery"]))
    assert permissions.allowed(User.objects.get(pk=user.pk), "delivery_view")
    assert not permissions.allowed(User.objects.get(pk=user.pk), "delivery_redeliver")
    user.user_permissions.add(Permission.objects.get(codename="add_delivery"))
    assert permissions.allowed(User.objects.get(pk=user.pk), "delivery_redeliver")
    user.is_active = False
    user.save()
    assert not permissions.allowed(User.objects.get(pk=user.pk), "delivery_view")
    root = User.objects.create_superuser("root", password="pw")
    assert all(permissions.capabilities(root).values())


def test_the_denied_message_names_every_permission():
    assert permissions.denied_message("webhook_view") == (
        "You need the permission webhooks_app.view_webhook to see webhooks."
    )
    assert permissions.denied_message("webhook_secret") == (
        "You need the permissions webhooks_app.view_webhook and webhooks_app.change_webhook "
        "to read or rotate signing secrets."
    )

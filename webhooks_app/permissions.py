"""Who may do what: one table of actions and the Django permissions each needs.

The console's views, the API's permission class and the admin all ask
``allowed(user, action)``, so one action needs the same permissions whichever
way it is done. The permissions are Django model permissions of webhooks_app
(superusers have them all; give others a group). The console also requires
staff status and the API authentication; neither changes what is needed here.

Reads need the view permission of what they show, writes the permission that
names the write: redelivering *adds* a delivery, sending a test or touching the
signing secret *changes* the webhook (whoever holds the secret can sign as this
site, so reading it needs the change permission too).

Changing or deleting a webhook also needs seeing it: the edit and delete pages
show it, and a write answers with what it wrote, so a permission to change alone
would read it. Who may change a webhook may therefore read its signing secret.
The API key and the custom header values are read by no one; changing where a
webhook sends (``url``, ``destination``) needs them entered again in the same
change (services.webhook_credentials_reentry_errors, the one check of the console,
the API and the admin), so no permission sends them to an address of its choosing.

"Test filters" evaluates filters against recorded events: it needs what reading
their data needs (``view_delivery``, as a delivery's page shows its event), not
what the webhook pages that show the button need.
"""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

APP_LABEL = "webhooks_app"


@dataclass(frozen=True)
class Action:
    name: str
    perms: tuple[str, ...]  # codenames in webhooks_app
    description: str | Promise  # completes "You need ... to <description>."

    @property
    def qualified(self) -> list[str]:
        return [f"{APP_LABEL}.{codename}" for codename in self.perms]


ACTIONS = {
    action.name: action
    for action in (
        Action("webhook_view", ("view_webhook",), _("see webhooks")),
        Action("webhook_add", ("add_webhook",), _("create webhooks")),
        Action("webhook_change", ("view_webhook", "change_webhook"), _("change webhooks")),
        Action("webhook_delete", ("view_webhook", "delete_webhook"), _("delete webhooks")),
        Action("webhook_send_test", ("view_webhook", "change_webhook"), _("send test events")),
        Action("webhook_secret", ("view_webhook", "change_webhook"), _("read or rotate signing secrets")),
        Action("webhook_deliveries", ("view_webhook", "view_delivery"), _("see a webhook's deliveries")),
        Action("delivery_view", ("view_delivery",), _("see deliveries")),
        Action("delivery_redeliver", ("view_delivery", "add_delivery"), _("redeliver deliveries")),
        Action(
            "deliveries_redeliver_failed", ("view_webhook", "add_delivery"), _("redeliver failed deliveries")
        ),
        # The answer says whether each recorded event passes: an oracle on their data.
        Action("webhook_filters_test", ("view_delivery",), _("test filters against recorded events")),
        Action("event_type_list", ("view_webhook",), _("see the event types")),
        Action("event_emit", ("add_event",), _("emit events")),
        Action("schema_view", ("view_webhook",), _("read the API schema")),
        # Whoever sees webhooks sees whether they are sent (every console page says
        # so when sending is off); switching it needs its own permission.
        Action("sending_view", ("view_webhook",), _("see whether webhooks are sent")),
        Action("sending_change", ("change_sending",), _("switch all webhook sending on or off")),
    )
}


def required(action: str) -> list[str]:
    """The qualified permissions (``webhooks_app.<codename>``) an action needs."""
    return ACTIONS[action].qualified


def allowed(user, action: str) -> bool:
    """True when an active user holds every permission the action needs."""
    return bool(user and user.is_active and user.has_perms(required(action)))


def denied_message(action: str) -> str:
    """The message shown, by the console and the API alike, to a user who may not do an action."""
    spec = ACTIONS[action]
    names = (" " + gettext("and") + " ").join(spec.qualified)
    return ngettext(
        "You need the permission %(names)s to %(action)s.",
        "You need the permissions %(names)s to %(action)s.",
        len(spec.perms),
    ) % {"names": names, "action": spec.description}


def capabilities(user) -> dict[str, bool]:
    """Every action and whether the user may do it (for showing only the controls that work)."""
    return {name: allowed(user, name) for name in ACTIONS}

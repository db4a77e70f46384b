"""Who may call the API: the permissions table of webhooks_app.permissions, reads included."""

from rest_framework.permissions import BasePermission

from .. import permissions


class ActionPermissions(BasePermission):
    """Each view names the action of the permissions table it does, per viewset action.

    ``permission_actions`` maps a viewset action ("list", "create", "redeliver" ...,
    and "metadata" for OPTIONS) to a table action; a view with no viewset actions
    names one in ``permission_action``. A view that names none is denied. The 403
    says which permissions are missing, in the console's words.
    """

    message = None

    @staticmethod
    def action_for(view) -> str | None:
        action = getattr(view, "action", None)
        actions = getattr(view, "permission_actions", None) or {}
        if action in actions:
            return actions[action]
        return getattr(view, "permission_action", None)

    def permissions_for(self, view) -> list[str] | None:
        """The qualified permissions a request to this view needs, or None (denied)."""
        action = self.action_for(view)
        return None if action is None else permissions.required(action)

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False  # DRF answers 401 with WWW-Authenticate
        if not hasattr(view, request.method.lower()):
            return True  # a method this URL does not support: DRF answers 405
        action = self.action_for(view)
        if action is None:
            return False
        if not permissions.allowed(user, action):
            self.message = permissions.denied_message(action)
            return False
        return True

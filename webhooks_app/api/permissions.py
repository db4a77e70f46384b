"""Who may call the API: Django model permissions, reads included."""

from rest_framework.permissions import DjangoModelPermissions


def _authenticated(user) -> bool:
    # False makes DRF answer 401 (with WWW-Authenticate) to anonymous requests.
    return bool(user and user.is_authenticated)


class ModelPermissions(DjangoModelPermissions):
    """DjangoModelPermissions that also require the view permission for reads.

    DRF's class lets any authenticated user read; here GET, HEAD and OPTIONS need
    ``view_<model>``. A view may name the permissions of its actions in
    ``action_permissions`` ({action: [perm, ...]}), because "POST" alone does not
    say whether a custom action adds, changes or resends something, and views
    about no model name theirs in ``required_permissions``.
    """

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def permissions_for(self, view, method: str) -> list[str] | None:
        """The permissions a request needs, or None when the view does not say (deny)."""
        action = getattr(view, "action", None)
        action_permissions = getattr(view, "action_permissions", {})
        if action in action_permissions:
            return list(action_permissions[action])
        if getattr(view, "required_permissions", None) is not None:
            return list(view.required_permissions)
        queryset = getattr(view, "queryset", None)
        if queryset is None or method not in self.perms_map:
            return None
        return self.get_required_permissions(method, queryset.model)

    def has_permission(self, request, view):
        if not _authenticated(request.user):
            return False
        perms = self.permissions_for(view, request.method)
        return perms is not None and request.user.has_perms(perms)

"""Throttling of the REST API: per token and scope, and bad or missing tokens per client address.

The rates are ``WEBHOOKS["API_THROTTLE_RATES"]`` (read per request, so they follow
override_settings); the views set these throttles themselves, whatever the host's
REST_FRAMEWORK says. Counts live in Django's default cache, as DRF's own throttles
keep them: with a per-process cache (the default LocMemCache) each process counts
for itself, so a site-wide limit needs a cache the processes share (Redis ...).
"""

from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, Throttled
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from ..conf import app_settings


def scope_rate(scope: str) -> str | None:
    """The rate of a scope ("20/s" ...), or None when the scope is not limited."""
    rates = app_settings.API_THROTTLE_RATES
    return (rates or {}).get(scope)


def client_address(request) -> str:
    """The client's address: the socket's, or X-Forwarded-For's when the host set DRF's NUM_PROXIES.

    DRF's own get_ident() trusts X-Forwarded-For when NUM_PROXIES is unset, so any
    client could name a new address per request and never be limited by address.
    """
    if api_settings.NUM_PROXIES is None:
        return request.META.get("REMOTE_ADDR") or ""
    return BaseThrottle().get_ident(request)


class _RateThrottle(SimpleRateThrottle):
    """A SimpleRateThrottle whose scope and rate are chosen per request, from the app's settings."""

    cache_format = "webhooks_app:throttle:%(scope)s:%(ident)s"

    def __init__(self):
        # The scope depends on the request: the rate is read in allow_request().
        self.rate = None
        self.num_requests = self.duration = None

    def scope_for(self, request, view) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view):
        self.scope = self.scope_for(request, view)
        self.rate = scope_rate(self.scope) if self.scope else None
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def wait(self):
        """Seconds until the window has room again: until the request that fills it leaves.

        DRF's own estimate spreads the wait over the requests left, and has none when
        requests from several processes at once have overfilled the window.
        """
        if len(self.history) < self.num_requests:
            return None
        return max(self.history[self.num_requests - 1] + self.duration - self.now, 1)


class APIScopeThrottle(_RateThrottle):
    """Requests per token (per user: a DRF token belongs to one user) and scope.

    ``emit`` for the view actions that emit (``throttle_scopes`` of the view maps an
    action to its scope), ``reads`` for GET, HEAD and OPTIONS, ``writes`` for the
    other methods.
    """

    def scope_for(self, request, view) -> str:
        scope = (getattr(view, "throttle_scopes", None) or {}).get(getattr(view, "action", None))
        if scope:
            return scope
        return "reads" if request.method in SAFE_METHODS else "writes"

    def get_cache_key(self, request, view):
        user = request.user
        # Anonymous requests do not get here through ActionPermissions (it refuses them first).
        authenticated = user and user.is_authenticated
        ident = f"user:{user.pk}" if authenticated else f"address:{client_address(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AuthFailureThrottle(_RateThrottle):
    """Requests with a bad or missing token, per client address (scope ``auth``).

    Unlike DRF's throttles it counts only failures (``failure_record``), and it is
    checked before authentication (``allow_request``): past the rate every request
    from the address gets 429, a right token included, so a guess that hits is
    not told apart from one that misses.
    """

    def scope_for(self, request, view) -> str:
        return "auth"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": "auth", "ident": f"address:{client_address(request)}"}

    def throttle_success(self):
        return True  # a request is counted when it fails, not when it is let in

    def failure_record(self, request, view) -> None:
        self.scope = "auth"
        self.rate = scope_rate("auth")
        if self.rate is None:
            return
        self.num_requests, self.duration = self.parse_rate(self.rate)
        key = self.get_cache_key(request, view)
        now = self.timer()
        history = [moment for moment in self.cache.get(key, []) if moment > now - self.duration]
        self.cache.set(key, [now, *history], self.duration)


class AuthFailureThrottling:
    """View mixin: answer 429 to an address past its rate of auth failures, and count each failure.

    DRF checks its throttles after authentication and permissions, when a bad token
    has already been answered 401; this check comes before both.
    """

    def initial(self, request, *args, **kwargs):
        throttle = AuthFailureThrottle()
        if not throttle.allow_request(request, self):
            raise Throttled(wait=throttle.wait())
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated | AuthenticationFailed):
            AuthFailureThrottle().failure_record(self.request, self)
        return super().handle_exception(exc)

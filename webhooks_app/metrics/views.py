"""``GET /healthz`` (open: status and reason only) and ``GET /metrics`` (a token, or staff who may see webhooks)."""

import hmac

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .. import permissions
from ..conf import app_settings
from .reads import health_check


@login_not_required
@never_cache
@require_safe
def healthz(request):
    """200 ``{"status": "ok"}``, or 503 ``{"status": "unhealthy", "reason": ...}``.

    Nothing else: no counts, no webhook names, no error text of the database
    (it is logged), so it can be open to anyone who can reach it.
    """
    health = health_check()
    return JsonResponse(health.public(), status=200 if health.ok else 503)


def metrics_tokens() -> list[str]:
    """The bearer tokens WEBHOOKS["METRICS_TOKEN"] accepts (a string, or a list while rotating)."""
    tokens = app_settings.METRICS_TOKEN
    if not tokens:
        return []
    return [tokens] if isinstance(tokens, str) else [t for t in tokens if t]


def _token_matches(given: str) -> bool:
    # Security note: compare_digest against every token, so the time says nothing.
    matched = False
    for token in metrics_tokens():
        matched |= hmac.compare_digest(given.encode(), token.encode())
    return matched


def metrics_refusal(request) -> HttpResponse | None:
    """None when the request may read /metrics; else the 401 or 403 to answer.

    A scraper sends ``Authorization: Bearer <WEBHOOKS["METRICS_TOKEN"]>``; a person
    logged in to the site may read it when staff with the permission to see
    webhooks (webhooks_app.view_webhook).
    """
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        if credentials and _token_matches(credentials.strip()):
            return None
        response = HttpResponse(
            "The bearer token is not valid for /metrics.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics", error="invalid_token"'
        return response
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        response = HttpResponse(
            "/metrics needs a bearer token (WEBHOOKS['METRICS_TOKEN']) or a staff login.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not (user.is_staff and permissions.allowed(user, "webhook_view")):
        return HttpResponse(
            "/metrics is for staff users with the permission webhooks_app.view_webhook.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    return None


@login_not_required
@never_cache
@require_safe
def metrics(request):
    """The Prometheus exposition of webhooks_app.metrics.collector.registry()."""
    refusal = metrics_refusal(request)
    if refusal is not None:
        return refusal
    from .collector import render

    body, content_type = render(request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)

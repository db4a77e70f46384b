"""``GET /healthz`` for load balancers and orchestrators: unauthenticated, status and reason only."""

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .health import health_check


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

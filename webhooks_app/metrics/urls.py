"""``/healthz`` and ``/metrics`` (namespace webhooks_metrics); the demo project mounts them at the root.

``/metrics`` needs the ``metrics`` extra (prometheus-client): without it only
``/healthz`` is served and the system check webhooks_app.E080 says what to
install, instead of an ImportError at request time.
"""

from django.urls import path

from ..checks import metrics_installed
from . import views

app_name = "webhooks_metrics"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
]

if metrics_installed():
    urlpatterns.append(path("metrics", views.metrics, name="metrics"))

"""System checks of the operations settings and URLs (ids webhooks_app.E08x)."""

import sys
import types

import pytest
from django.conf import settings
from django.core.checks import Error
from django.test import override_settings
from django.urls import include, path

from webhooks_app.checks import check_included_urls, check_settings


def ids(**webhooks):
    with override_settings(WEBHOOKS={**settings.WEBHOOKS, **webhooks}):
        return sorted({message.id for message in check_settings()})


def urlconf(*patterns) -> types.ModuleType:
    module = types.ModuleType("host_urls")
    module.urlpatterns = list(patterns)
    return module


METRICS_ONLY = urlconf(path("", include("webhooks_app.metrics.urls")))


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("HEALTH_MAX_LAG", 0, "webhooks_app.E081"),
        ("HEALTH_MAX_LAG", "300", "webhooks_app.E081"),
        ("HEALTH_MAX_LAG", True, "webhooks_app.E081"),
        ("METRICS_TOKEN", "short", "webhooks_app.E082"),
        ("METRICS_TOKEN", "a token with spaces 0123456789", "webhooks_app.E082"),
        ("METRICS_TOKEN", [], "webhooks_app.E082"),
        ("METRICS_TOKEN", ["x" * 30, 42], "webhooks_app.E082"),
        ("METRICS_TOKEN", 12345678901234567890123456, "webhooks_app.E082"),
        ("SUBJECT_PATHS", "email", "webhooks_app.E083"),
        ("SUBJECT_PATHS", ["email", "email"], "webhooks_app.E083"),
        ("SUBJECT_PATHS", ["e'mail"], "webhooks_app.E083"),
        ("SUBJECT_PATHS", ["customer..email"], "webhooks_app.E083"),
        ("SUBJECT_PATHS", ["$context."], "webhooks_app.E083"),
        ("SUBJECT_PATHS", ["$other.id"], "webhooks_app.E083"),
        ("RETENTION_DAYS", {}, "webhooks_app.E084"),
        ("RETENTION_DAYS", {"*": 0}, "webhooks_app.E084"),
        ("RETENTION_DAYS", {"*": "30"}, "webhooks_app.E084"),
        ("RETENTION_DAYS", {"contact.*.*": 7}, "webhooks_app.E084"),
        ("RETENTION_DAYS", {"*": 30, "contact.*": True}, "webhooks_app.E084"),
        ("RETENTION_DAYS", 0, "webhooks_app.E023"),
        ("ALERT_AT_SHARE", 0, "webhooks_app.E085"),
        ("ALERT_AT_SHARE", 1.5, "webhooks_app.E085"),
        ("ALERT_AT_SHARE", "0.8", "webhooks_app.E085"),
        ("SITE_URL", "hooks.example.com", "webhooks_app.E086"),
        ("SITE_URL", "https://hooks.example.com/?x=1", "webhooks_app.E086"),
        ("SITE_URL", None, "webhooks_app.E086"),
    ],
)
def test_bad_values_are_errors(key, value, expected):
    assert ids(**{key: value}) == [expected]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("HEALTH_MAX_LAG", 30),
        ("HEALTH_MAX_LAG", 0.5),
        ("METRICS_TOKEN", None),
        ("METRICS_TOKEN", "x" * 24),
        ("METRICS_TOKEN", ["old-" + "x" * 24, "new-" + "y" * 24]),
        ("SUBJECT_PATHS", []),
        ("SUBJECT_PATHS", ["id", "email", "customer.e-mail", "$context.user_id"]),
        ("RETENTION_DAYS", {"*": 30, "contact.*": 7, "contact.deleted": 400, "FEEDBACK_SUBMIT": 1}),
        ("RETENTION_DAYS", {"contact.*": 7}),
        ("ALERT_AT_SHARE", 1),
        ("SITE_URL", "https://hooks.example.com"),
        ("SITE_URL", "http://127.0.0.1:8000/"),
    ],
)
def test_good_values_pass(key, value):
    assert ids(**{key: value}) == []


def test_metrics_urls_without_the_metrics_extra_are_an_error_not_an_import_error(monkeypatch):
    # None in sys.modules is what Python itself treats as "cannot be imported".
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with override_settings(ROOT_URLCONF=METRICS_ONLY):
        [error] = check_included_urls()
    assert error.id == "webhooks_app.E080" and isinstance(error, Error)
    assert "prometheus-client" in error.msg and 'pip install "webhooks_app[metrics]"' in error.hint


def test_metrics_urls_with_the_extra_pass():
    with override_settings(ROOT_URLCONF=METRICS_ONLY):
        assert check_included_urls() == []

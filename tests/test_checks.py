"""System checks: each misconfiguration of WEBHOOKS or of the host project is reported with its stable id."""

import re
import sys
import types
import warnings
from collections import Counter
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from django.urls import include, path

import webhooks_app.checks
from webhooks_app.checks import check_host_project, check_included_urls, check_settings


def ids(**webhooks):
    """The check ids reported for the test settings with these WEBHOOKS keys replaced."""
    from django.conf import settings

    with override_settings(WEBHOOKS={**settings.WEBHOOKS, **webhooks}):
        return sorted({message.id for message in check_settings()})


def test_the_demo_and_test_settings_pass():
    assert check_settings() == []


def test_no_webhooks_setting_at_all_is_fine():
    with override_settings(WEBHOOKS=None):
        assert check_settings() == []


def test_webhooks_must_be_a_dict():
    with override_settings(WEBHOOKS=["EVENTS"]):
        [error] = check_settings()
    assert error.id == "webhooks_app.E001"
    assert isinstance(error, Error)


def test_an_unknown_key_is_reported_with_the_known_ones():
    with override_settings(WEBHOOKS={"TIMEOUTS": 5}):
        [error] = check_settings()
    assert error.id == "webhooks_app.E002"
    assert "TIMEOUTS" in error.msg and "TIMEOUT" in error.hint


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ("contact.created", ["webhooks_app.E010"]),
        ({"1contact.created": ""}, ["webhooks_app.E011"]),
        ({"contact.créated": ""}, ["webhooks_app.E011"]),
        (["contact.created", "bad name"], ["webhooks_app.E011"]),
        ({"contact.acceptsEmail.changed": "", "FEEDBACK_SUBMIT": "", "journey.published": ""}, []),
        ({"app.installed": {"description": "An app was installed.", "deliverable": False}}, []),
        ({"app.installed": {"deliverable": "no"}}, ["webhooks_app.E012"]),
        ({"app.installed": {"descr": "typo"}}, ["webhooks_app.E012"]),
        ({"app.installed": 3}, ["webhooks_app.E012"]),
        (["contact.created", "invoice.paid"], []),
        ({"invoice.line_item.changed": "A line changed."}, []),
    ],
)
def test_declared_event_types(events, expected):
    assert ids(EVENTS=events) == expected


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        (["contacts.Contact"], ["webhooks_app.E009"]),
        ({"contacts.Nope": {}}, ["webhooks_app.E003"]),
        ({"nolabel": {}}, ["webhooks_app.E003"]),
        ({"contacts.Contact": ["created"]}, ["webhooks_app.E004"]),
        ({"contacts.Contact": {"actions": ["created", "archived"]}}, ["webhooks_app.E005"]),
        ({"contacts.Contact": {"fields": ["accepts_email", "accepts_fax"]}}, ["webhooks_app.E006"]),
        ({"contacts.Contact": {"serializer": "tests.nowhere.serialize"}}, ["webhooks_app.E007"]),
        ({"contacts.Contact": {"resource": "Contact Person"}}, ["webhooks_app.E008"]),
        ({"contacts.Contact": {"resource": "person", "fields": ["email"]}}, []),
    ],
)
def test_watched_models(models, expected):
    assert ids(MODELS=models) == expected


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("TIMEOUT", 0, "webhooks_app.E020"),
        ("TIMEOUT", "10", "webhooks_app.E020"),
        ("RETRY_SCHEDULE", "5,60", "webhooks_app.E021"),
        ("RETRY_SCHEDULE", [5, -1], "webhooks_app.E021"),
        ("RETRY_JITTER", 1.5, "webhooks_app.E022"),
        ("RETRY_JITTER", -0.1, "webhooks_app.E022"),
        ("RETENTION_DAYS", 0, "webhooks_app.E023"),
        ("MAX_RESPONSE_BYTES", "20k", "webhooks_app.E023"),
        ("MAX_PAYLOAD_BYTES", -1, "webhooks_app.E023"),
        ("SWEEP_BATCH", 0, "webhooks_app.E023"),
        ("SWEEP_MINUTES", 0.5, "webhooks_app.E023"),
        ("RETRY_WAKEUP_HORIZON", "10", "webhooks_app.E024"),
        ("SUBSCRIPTION_CACHE_SECONDS", -1, "webhooks_app.E024"),
        ("CONCURRENCY", 0, "webhooks_app.E023"),
        ("DESTINATION_CONCURRENCY", 2.5, "webhooks_app.E023"),
        ("DRAIN_SECONDS", 0, "webhooks_app.E026"),
        ("MAX_RETRY_AFTER", -5, "webhooks_app.E024"),
        ("LEASE_MARGIN", None, "webhooks_app.E024"),
        ("AUTO_DISABLE_AFTER_DAYS", -1, "webhooks_app.E024"),
        ("AUTO_DISABLE_FAILURES", 0, "webhooks_app.E025"),
        ("SECRET_ROTATION_OVERLAP_HOURS", -1, "webhooks_app.E027"),
        ("SECRET_ROTATION_OVERLAP_HOURS", "24", "webhooks_app.E027"),
        ("AUTO_DISABLE_FAILURES", "50", "webhooks_app.E025"),
        ("ALLOWED_DESTINATIONS", "127.0.0.1", "webhooks_app.E030"),
        ("ALLOWED_DESTINATIONS", ["10.0.0.0/33"], "webhooks_app.E031"),
        ("ALLOWED_DESTINATIONS", ["my host"], "webhooks_app.E031"),
        ("ENCRYPTION_KEYS", "key", "webhooks_app.E040"),
        ("ENCRYPTION_KEYS", ["not-a-fernet-key"], "webhooks_app.E041"),
    ],
)
def test_bad_values_are_errors(key, value, expected):
    assert ids(**{key: value}) == [expected]


def test_a_timeout_above_five_minutes_is_an_error_and_outlasts_the_queue_timeout():
    assert ids(TIMEOUT=301) == ["webhooks_app.E020", "webhooks_app.W001"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("RETRY_SCHEDULE", []),
        ("RETRY_SCHEDULE", (5, 60.5)),
        ("RETRY_JITTER", 0),
        ("AUTO_DISABLE_FAILURES", None),
        ("ALLOWED_DESTINATIONS", ["10.0.0.0/8", "::1", "[fd00::1]", "hooks.internal"]),
        ("ENCRYPTION_KEYS", [Fernet.generate_key().decode(), Fernet.generate_key()]),
    ],
)
def test_good_values_pass(key, value):
    assert ids(**{key: value}) == []


def test_a_queue_timeout_shorter_than_a_delivery_is_a_warning(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 8, "retry": 120}
    messages = [m for m in check_settings() if m.id == "webhooks_app.W001"]
    assert len(messages) == 1 and isinstance(messages[0], Warning)
    assert "Q_CLUSTER['timeout']" in messages[0].msg

    # A drain claims for DRAIN_SECONDS, then waits for requests of up to 60 s.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 80, "retry": 200}
    assert ids(DRAIN_SECONDS=5) == []
    assert ids(DRAIN_SECONDS=30) == ["webhooks_app.W001"]


def test_a_queue_retry_not_above_its_timeout_is_a_warning(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 120, "retry": 120}
    assert [m.id for m in check_settings()] == ["webhooks_app.W002"]


def test_several_problems_are_all_reported():
    assert ids(TIMEOUT=-1, RETRY_JITTER=2, EVENTS={"X y": ""}) == [
        "webhooks_app.E011",
        "webhooks_app.E020",
        "webhooks_app.E022",
    ]


def test_manage_py_check_fails_on_an_error():
    from django.conf import settings

    with (
        override_settings(WEBHOOKS={**settings.WEBHOOKS, "TIMEOUT": 0}),
        pytest.raises(SystemCheckError) as info,
    ):
        call_command("check")
    assert "webhooks_app.E020" in str(info.value)


def test_every_check_id_is_unique():
    """One id, one message: ids are looked up by people and silenced by SILENCED_SYSTEM_CHECKS."""
    source = Path(webhooks_app.checks.__file__).read_text()
    used = Counter(re.findall(r"webhooks_app\.[EW]\d{3}", source))
    assert len(used) >= 30
    assert [check_id for check_id, count in used.items() if count > 1] == []
    # ...and each is a string literal given to a message, not a mention in a comment.
    assert Counter(re.findall(r'"(webhooks_app\.[EW]\d{3})"', source)) == used


# The host project: django-q2, the database, the URLs included.


def host_ids(**overrides) -> list[str]:
    with override_settings(**overrides):
        return sorted({m.id for m in check_host_project()})


def url_ids(**overrides) -> list[str]:
    with override_settings(**overrides):
        return sorted({m.id for m in check_included_urls()})


def without(setting: str, *names: str) -> list[str]:
    return [name for name in getattr(django_settings, setting) if name not in names]


def urlconf(*patterns) -> types.ModuleType:
    """A ROOT_URLCONF made on the fly, as a host project's urls.py."""
    module = types.ModuleType("host_urls")
    module.urlpatterns = list(patterns)
    return module


CONSOLE_ONLY = urlconf(
    path("accounts/", include("django.contrib.auth.urls")),  # LOGIN_URL "login"
    path("settings/webhooks/", include("webhooks_app.urls")),
)
API_ONLY = urlconf(path("api/", include("webhooks_app.api.urls")))
NEITHER = urlconf()


def test_the_demo_project_passes_the_host_checks():
    assert host_ids() == []
    assert url_ids() == []


def test_django_q_missing_from_installed_apps():
    assert host_ids(INSTALLED_APPS=without("INSTALLED_APPS", "django_q")) == ["webhooks_app.E050"]


def test_q_cluster_missing(settings):
    del settings.Q_CLUSTER
    [error] = check_host_project()
    assert error.id == "webhooks_app.E051" and isinstance(error, Error)
    assert "Q_CLUSTER" in error.msg and "'orm': 'default'" in error.hint
    settings.Q_CLUSTER = ["not", "a", "dict"]
    assert [m.id for m in check_host_project()] == ["webhooks_app.E051"]


def test_q_cluster_orm_names_an_unknown_database():
    [error] = [
        m for m in _messages(Q_CLUSTER={"name": "x", "orm": "replica"}) if m.id.startswith("webhooks_app.E05")
    ]
    assert error.id == "webhooks_app.E052" and "'replica'" in error.msg


def test_q_cluster_without_a_broker_is_a_warning():
    assert host_ids(Q_CLUSTER={"name": "x", "timeout": 120}) == ["webhooks_app.W053"]
    assert host_ids(Q_CLUSTER={"name": "x", "redis": "redis://127.0.0.1:6379/0"}) == []


def _messages(**overrides):
    with override_settings(**overrides):
        return check_host_project()


def sqlite(options: dict) -> dict:
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": "x.sqlite3", "OPTIONS": options}


@pytest.mark.parametrize(
    ("databases", "expected"),
    [
        ({"default": sqlite({})}, ["webhooks_app.W054"]),
        ({"default": sqlite({"transaction_mode": "DEFERRED", "timeout": 20})}, ["webhooks_app.W054"]),
        ({"default": sqlite({"transaction_mode": "IMMEDIATE"})}, []),
        ({"default": sqlite({"transaction_mode": "immediate"})}, []),
        # The broker's alias is checked too.
        ({"default": sqlite({"transaction_mode": "IMMEDIATE"}), "queue": sqlite({})}, ["webhooks_app.W054"]),
        ({"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "app"}}, []),
    ],
)
def test_sqlite_without_immediate_transactions_is_a_warning(databases, expected):
    q_cluster = {"name": "x", "orm": "queue" if "queue" in databases else "default"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Overriding setting DATABASES can lead to unexpected behavior"
        assert host_ids(DATABASES=databases, Q_CLUSTER=q_cluster) == expected


def test_console_without_the_messages_framework():
    assert url_ids(INSTALLED_APPS=without("INSTALLED_APPS", "django.contrib.messages")) == [
        "webhooks_app.E060"
    ]
    middleware = without("MIDDLEWARE", "django.contrib.messages.middleware.MessageMiddleware")
    assert url_ids(MIDDLEWARE=middleware) == ["webhooks_app.E061"]


def test_console_without_authentication_middleware():
    middleware = without("MIDDLEWARE", "django.contrib.auth.middleware.AuthenticationMiddleware")
    assert url_ids(MIDDLEWARE=middleware) == ["webhooks_app.E062"]


def test_console_checks_only_when_the_console_is_included():
    apps = without("INSTALLED_APPS", "django.contrib.messages")
    assert url_ids(ROOT_URLCONF=NEITHER, INSTALLED_APPS=apps) == []
    assert url_ids(ROOT_URLCONF=API_ONLY, INSTALLED_APPS=apps) == []
    assert url_ids(ROOT_URLCONF=CONSOLE_ONLY, INSTALLED_APPS=apps) == ["webhooks_app.E060"]


@pytest.mark.parametrize(
    ("login_url", "expected"),
    [
        ("/accounts/login/", []),  # the demo's login view
        ("login", []),  # a URL name
        ("admin:login", []),
        ("/accounts/login/?next=", []),
        ("https://sso.example.com/login", []),  # another site: not checked
        ("/nowhere/", ["webhooks_app.W063"]),
        ("no-such-name", ["webhooks_app.W063"]),
    ],
)
def test_login_url_that_leads_nowhere_is_a_warning(login_url, expected):
    assert url_ids(LOGIN_URL=login_url) == expected


def test_base_template_that_cannot_be_loaded(settings):
    assert url_ids(WEBHOOKS={**settings.WEBHOOKS, "BASE_TEMPLATE": "base.html"}) == []  # the demo's layout
    with override_settings(WEBHOOKS={**settings.WEBHOOKS, "BASE_TEMPLATE": "mysite/layout.html"}):
        [error] = check_included_urls()
    assert error.id == "webhooks_app.E064" and isinstance(error, Error)
    assert "'mysite/layout.html'" in error.msg and "title, extra_head, content and extra_js" in error.hint
    # Checked too when the console is not included, since the setting names it.
    assert url_ids(
        ROOT_URLCONF=NEITHER, WEBHOOKS={**settings.WEBHOOKS, "BASE_TEMPLATE": "mysite/layout.html"}
    ) == ["webhooks_app.E064"]
    # Not included and not set: an API-only host need not have templates at all.
    assert url_ids(ROOT_URLCONF=API_ONLY, TEMPLATES=[]) == []


def test_base_template_with_a_syntax_error(settings):
    templates = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [
                    ("django.template.loaders.locmem.Loader", {"mysite/layout.html": "{% block content %}"}),
                    "django.template.loaders.app_directories.Loader",
                ],
            },
        }
    ]
    with override_settings(
        TEMPLATES=templates, WEBHOOKS={**settings.WEBHOOKS, "BASE_TEMPLATE": "mysite/layout.html"}
    ):
        [error] = check_included_urls()
    assert error.id == "webhooks_app.E065" and "endblock" in error.msg


def test_api_included_without_the_api_extra(monkeypatch):
    # None in sys.modules is what Python itself treats as "cannot be imported".
    monkeypatch.setitem(sys.modules, "rest_framework", None)
    with override_settings(ROOT_URLCONF=API_ONLY):
        [error] = check_included_urls()
    assert error.id == "webhooks_app.E070" and isinstance(error, Error)
    assert "djangorestframework" in error.msg and 'pip install "webhooks_app[api]"' in error.hint
    # Console only: nothing about the API.
    assert url_ids(ROOT_URLCONF=CONSOLE_ONLY) == []


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ("rest_framework", ["webhooks_app.E071"]),
        ("rest_framework.authtoken", ["webhooks_app.E072"]),
        ("drf_spectacular", ["webhooks_app.E073"]),
    ],
)
def test_api_included_without_its_apps(app, expected):
    assert url_ids(INSTALLED_APPS=without("INSTALLED_APPS", app)) == expected
    assert url_ids(ROOT_URLCONF=CONSOLE_ONLY, INSTALLED_APPS=without("INSTALLED_APPS", app)) == []


@pytest.mark.parametrize("schema_class", [None, "rest_framework.schemas.openapi.AutoSchema"])
def test_the_api_asks_nothing_of_the_hosts_schema_class(settings, schema_class):
    """The API's views carry their schema class (the retired E074 asked for drf-spectacular's)."""
    rest_framework = {k: v for k, v in settings.REST_FRAMEWORK.items() if k != "DEFAULT_SCHEMA_CLASS"}
    if schema_class:
        rest_framework["DEFAULT_SCHEMA_CLASS"] = schema_class  # None: DRF's own default
    assert url_ids(REST_FRAMEWORK=rest_framework) == []


def test_a_broken_urlconf_is_left_to_djangos_own_check():
    broken = types.ModuleType("broken_urls")  # no urlpatterns at all
    assert url_ids(ROOT_URLCONF=broken) == []

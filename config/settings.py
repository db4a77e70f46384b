"""Settings of the demo project; a host project or a test may import and override them.

Read from the environment: DATABASE_URL (default: SQLite file db.sqlite3), REDIS_URL
(when set, django-q2 uses the Redis broker, else the ORM broker), SECRET_KEY, DEBUG
(off unless DEBUG=1), SECURE_COOKIES, ALLOWED_HOSTS, WEBHOOKS_ALLOWED_DESTINATIONS,
WEBHOOKS_RETENTION_DAYS, Q_WORKERS.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import webhooks_app

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    return [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]


def database_from_url(url: str) -> dict:
    """A DATABASES entry from sqlite:///path or postgres://user:pass@host:port/name."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else parts.path
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path or BASE_DIR / "db.sqlite3",
            # IMMEDIATE transactions and a busy timeout: workers and web requests
            # would otherwise hit "database is locked" (see the README).
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")) or "postgres",
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    raise ValueError(f"DATABASE_URL scheme {parts.scheme!r} is not supported (sqlite, postgres)")


# Off unless asked for (DEBUG=1): Django's DEBUG pages show settings, code and the
# request to anyone who can make a request fail, a too-large body included.
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "django-insecure-demo-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served locally, no CDN
    "django_q",
    "webhooks_app",
    "config.contacts",
    "axes",  # the demo's login throttling (the host's choice, not the app's)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The console in the browser's language (Accept-Language), English by default.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webhooks_app.middleware.EventContextMiddleware",
    # django-axes turns a lockout into its 429 page; it must come last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL", "sqlite:///db.sqlite3"))}
if DATABASES["default"]["ENGINE"].endswith("sqlite3") and not os.path.isabs(
    str(DATABASES["default"]["NAME"])
):
    DATABASES["default"]["NAME"] = BASE_DIR / str(DATABASES["default"]["NAME"])

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

# Login throttling (django-axes): the console and the admin log in through Django's
# authenticate(), which AxesStandaloneBackend guards. After AXES_FAILURE_LIMIT failed
# logins for one username from one address, that username cannot log in from that
# address, the right password included (429), until AXES_COOLOFF_TIME has passed; a
# successful login clears its failures. Per username and address, so that nobody
# elsewhere can lock a staff member out. Attempts are rows in the database, shared
# by every web process. The client address is REMOTE_ADDR: behind a reverse proxy,
# set AXES_IPWARE_META_PRECEDENCE_ORDER and AXES_IPWARE_PROXY_COUNT to read the
# header the proxy sets (a forged X-Forwarded-For is never trusted by default).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

LANGUAGE_CODE = "en-us"
# The languages the console is translated into (webhooks_app/locale/).
LANGUAGES = [("en", "English"), ("sv", "Svenska")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "webhooks_app:webhook-list"
LOGOUT_REDIRECT_URL = "login"

# HTTPS-only cookies whenever DEBUG is off; `make run` (rundemo) serves plain HTTP
# and says SECURE_COOKIES=0 for its web server, else a browser on another machine
# could not log in.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)

# Request bodies: Django's default (2.5 MiB) said out loud. The largest body the API
# takes is an event of WEBHOOKS["MAX_PAYLOAD_BYTES"] (256 KiB by default); a larger
# body is a 413 (the API's JSON one, config.errors for the rest of the site).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

REDIS_URL = os.environ.get("REDIS_URL", "")

# django-q2. The database is the source of truth for deliveries; the queue only
# wakes a worker. retry stays well above timeout plus the queue wait, so a slow
# task is not run twice by the ORM broker; the app's own leases make a second
# run harmless anyway.
Q_CLUSTER = {
    "name": os.environ.get("Q_CLUSTER_NAME", "webhooks"),
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": 120,
    "retry": 300,
    "max_attempts": 1,
    "ack_failures": True,
    "queue_limit": 4,
    "bulk": 1,
    "save_limit": 100,
    "catch_up": False,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# webhooks_app's API views set their own authentication (token, then session),
# permissions (Django model permissions, reads included) and schema class; these
# are the demo project's defaults for any other DRF view. Token first: DRF answers
# anonymous requests with 401 only when the first authenticator can challenge.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.DjangoModelPermissions"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}

# /api/schema/ brings its own settings (webhooks_app.api.schema.SCHEMA_SETTINGS);
# these make `manage.py spectacular` and the deploy check generate the same schema.
SPECTACULAR_SETTINGS = {
    "TITLE": "webhooks_app API",
    "DESCRIPTION": "Configure outgoing webhooks, emit events and read the delivery log.",
    "VERSION": webhooks_app.__version__,  # the version lives in webhooks_app/__init__.py only
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["webhooks_app.api.schema.only_this_api"],
    "ENUM_NAME_OVERRIDES": {
        "DeliveryStatusEnum": "webhooks_app.models.Delivery.Status",
        "NotificationTypeEnum": "webhooks_app.models.Webhook.NotificationType",
        "PayloadFormatEnum": "webhooks_app.models.Webhook.PayloadFormat",
        "AttemptErrorClassEnum": "webhooks_app.models.Attempt.ErrorClass",
    },
}

WEBHOOKS = {
    "EVENTS": {
        "contact.created": "A contact was created.",
        "contact.updated": "A contact was updated.",
        "contact.deleted": "A contact was deleted.",
        "contact.accepts_email.changed": "An existing contact's email consent changed.",
        "contact.accepts_sms.changed": "An existing contact's SMS consent changed.",
        "contact.accepts_postal.changed": "An existing contact's postal consent changed.",
    },
    "MODELS": {
        "contacts.Contact": {
            "resource": "contact",
            "actions": ["created", "updated", "deleted"],
            "fields": ["accepts_email", "accepts_sms", "accepts_postal"],
        },
    },
    "TIMEOUT": 10,
    "ALLOWED_DESTINATIONS": env_list("WEBHOOKS_ALLOWED_DESTINATIONS", "127.0.0.1,::1,localhost"),
    "RETENTION_DAYS": int(os.environ.get("WEBHOOKS_RETENTION_DAYS", "30")),
    # Webhooks whose destination is "Recipient's URL" send each contact's events to
    # the contact's own webhook_url (set in the admin or PATCH /api/contacts/{id}/webhook-url/).
    "RECIPIENT_URL": "config.contacts.webhooks.recipient_url",
    # Where a contact appears in events, for `manage.py webhooks_erase --subject email=...`
    # and POST /api/erasures/ (indexed by migrate).
    "SUBJECT_PATHS": ["id", "email", "$context.user_id"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"webhooks_app": {"handlers": ["console"], "level": "INFO"}},
}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

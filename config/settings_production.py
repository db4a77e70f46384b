"""An example of production settings for the demo project (and a template for a host).

Use it with DJANGO_SETTINGS_MODULE=config.settings_production. Everything secret or
specific to a deployment comes from the environment:

- SECRET_KEY (required): 50+ random characters, e.g. from
  ``python -c "from django.core.management.utils import get_random_secret_key as k; print(k())"``.
  SECRET_KEY_FALLBACKS (comma separated) keeps old keys valid while rotating.
- ALLOWED_HOSTS (required): comma separated host names served.
- DATABASE_URL: PostgreSQL, default postgres://webhooks@127.0.0.1:5432/webhooks.
- REDIS_URL: the django-q2 broker, default redis://127.0.0.1:6379/0.
- CACHE_URL: Django's cache, shared by the web processes (the API's throttle
  counts), default REDIS_URL.
- WEBHOOKS_ENCRYPTION_KEYS: comma separated Fernet keys for secrets at rest (the
  first encrypts, all decrypt; see docs/security/index.md for rotation). Empty: a key
  derived from SECRET_KEY.
- WEBHOOKS_ALLOWED_DESTINATIONS: private hosts or networks deliveries may reach
  (default none: only public addresses).
- SECURE_PROXY_SSL_HEADER: set to ``HTTP_X_FORWARDED_PROTO`` behind a proxy that
  terminates TLS and sets X-Forwarded-Proto.

``python manage.py check --deploy --fail-level WARNING`` is clean with these settings
(tests/test_security_access.py runs it).
"""

import os

from django.core.exceptions import ImproperlyConfigured

from config.settings import *  # noqa: F403
from config.settings import Q_CLUSTER, WEBHOOKS, database_from_url, env_list


def required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"config.settings_production needs the {name} environment variable.")
    return value


DEBUG = False
SECRET_KEY = required("SECRET_KEY")
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
ALLOWED_HOSTS = [host.strip() for host in required("ALLOWED_HOSTS").split(",") if host.strip()]

DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL", "postgres://webhooks@127.0.0.1:5432/webhooks")
    )
}

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
Q_CLUSTER = {key: value for key, value in Q_CLUSTER.items() if key not in ("orm", "redis")}
Q_CLUSTER["redis"] = REDIS_URL

# One cache for every web process: the API's throttles count in it, so a rate is
# site-wide (with the default per-process cache each gunicorn worker would count
# for itself, and the limit would be the rate times the workers).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("CACHE_URL", REDIS_URL),
    }
}

# HTTPS only: redirect plain HTTP, tell browsers to stay on HTTPS for a year, and
# send cookies over HTTPS only.
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (os.environ["SECURE_PROXY_SSL_HEADER"], "https")

WEBHOOKS = {
    **WEBHOOKS,
    "ALLOWED_DESTINATIONS": env_list("WEBHOOKS_ALLOWED_DESTINATIONS"),
    "ENCRYPTION_KEYS": env_list("WEBHOOKS_ENCRYPTION_KEYS"),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"webhooks_app": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")

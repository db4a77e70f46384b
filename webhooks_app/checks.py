"""System checks (ids webhooks_app.E0xx / W0xx): the WEBHOOKS setting and the host project.

Ids are stable and unique: a test parses this file and fails on an id used for
two different messages. Ranges: E001-E009 the setting and its models, E01x event
types, E02x numbers, E03x destinations, E04x encryption keys, E05x/W05x django-q2
and the database, E06x/W06x the console, E07x the REST API.

Retired ids, never to be given to another message: E074 (REST_FRAMEWORK's
DEFAULT_SCHEMA_CLASS had to be drf-spectacular's; the API's views carry their
schema class themselves now).
"""

import importlib.util
import ipaddress
import re

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from .conf import DEFAULTS, app_settings
from .events import EVENT_NAME_RE, MODEL_ACTIONS


def _user_settings():
    return getattr(settings, "WEBHOOKS", None)


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    errors = []
    raw = _user_settings()
    if raw is None:
        return errors
    if not isinstance(raw, dict):
        return [Error("WEBHOOKS must be a dict.", id="webhooks_app.E001")]
    for key in raw:
        if key not in DEFAULTS:
            errors.append(
                Error(
                    f"WEBHOOKS has an unknown key {key!r}.",
                    hint="Known keys: " + ", ".join(sorted(DEFAULTS)),
                    id="webhooks_app.E002",
                )
            )
    errors += _check_events(raw.get("EVENTS", {}))
    errors += _check_models(raw.get("MODELS", {}))
    errors += _check_numbers()
    errors += _check_destinations()
    errors += _check_encryption()
    errors += _check_api_throttle_rates()
    return errors


def _check_events(events):
    if isinstance(events, list | tuple):
        events = {n: "" for n in events}
    if not isinstance(events, dict):
        return [
            Error(
                "WEBHOOKS['EVENTS'] must map event type names to descriptions.",
                id="webhooks_app.E010",
            )
        ]
    errors = [
        Error(
            f"WEBHOOKS['EVENTS'] has an invalid event type name {name!r}.",
            hint="A name is 1-100 letters, digits, '_', '.' or '-', starting with a letter: "
            "'contact.created', 'contact.acceptsEmail.changed', 'FEEDBACK_SUBMIT'.",
            id="webhooks_app.E011",
        )
        for name in events
        if not isinstance(name, str) or not EVENT_NAME_RE.match(name)
    ]
    for name, value in events.items():
        if value is None or isinstance(value, str):
            continue
        if (
            not isinstance(value, dict)
            or set(value) - {"description", "label", "deliverable"}
            or not all(isinstance(value.get(k, ""), str) for k in ("description", "label"))
            or not isinstance(value.get("deliverable", True), bool)
        ):
            errors.append(
                Error(
                    f"WEBHOOKS['EVENTS'][{name!r}] must be a description, or a dict of "
                    "'description' (text), 'label' (text) and 'deliverable' (true or false).",
                    id="webhooks_app.E012",
                )
            )
    return errors


def _check_models(models):
    errors = []
    if not isinstance(models, dict):
        return [Error("WEBHOOKS['MODELS'] must map model labels to watch options.", id="webhooks_app.E009")]
    for label, spec in models.items():
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            errors.append(
                Error(
                    f"WEBHOOKS['MODELS'] names {label!r}, which is not an installed model.",
                    hint="Use 'app_label.ModelName'.",
                    id="webhooks_app.E003",
                )
            )
            continue
        if not isinstance(spec, dict):
            errors.append(Error(f"WEBHOOKS['MODELS'][{label!r}] must be a dict.", id="webhooks_app.E004"))
            continue
        for action in spec.get("actions", MODEL_ACTIONS):
            if action not in MODEL_ACTIONS:
                errors.append(
                    Error(
                        f"WEBHOOKS['MODELS'][{label!r}] has an unknown action {action!r}.",
                        hint="Actions are created, updated and deleted; declare other state changes "
                        "(published ...) in 'transitions': {'published': {'field': 'status', 'value': 'published'}}.",
                        id="webhooks_app.E005",
                    )
                )
        transitions = spec.get("transitions", {})
        for action, when in transitions.items() if isinstance(transitions, dict) else [(None, None)]:
            field_ok = isinstance(when, dict) and {"field", "value"} <= set(when)
            if field_ok:
                try:
                    model._meta.get_field(when["field"])
                except Exception:  # noqa: BLE001
                    field_ok = False
            if not field_ok or not isinstance(action, str) or not EVENT_NAME_RE.match(action):
                errors.append(
                    Error(
                        f"WEBHOOKS['MODELS'][{label!r}]['transitions'] has an invalid entry {action!r}.",
                        hint="Map an action name to {'field': <a field of the model>, 'value': <its value>}.",
                        id="webhooks_app.E013",
                    )
                )
        for fname in spec.get("fields", ()):
            try:
                model._meta.get_field(fname)
            except Exception:  # noqa: BLE001
                errors.append(
                    Error(
                        f"WEBHOOKS['MODELS'][{label!r}] watches {fname!r}, which {label} does not have.",
                        id="webhooks_app.E006",
                    )
                )
        fields = spec.get("fields", ())
        for fname, part in fields.items() if isinstance(fields, dict) else ():
            if not isinstance(part, str) or not EVENT_NAME_RE.match(f"x.{part}.changed") or "." in part:
                errors.append(
                    Error(
                        f"WEBHOOKS['MODELS'][{label!r}]['fields'][{fname!r}] is not a valid event name part.",
                        hint="Letters, digits, '_' or '-', e.g. 'acceptsEmail' for contact.acceptsEmail.changed.",
                        id="webhooks_app.E014",
                    )
                )
        serializer = spec.get("serializer")
        if isinstance(serializer, str):
            try:
                import_string(serializer)
            except ImportError as exc:
                errors.append(
                    Error(
                        f"WEBHOOKS['MODELS'][{label!r}]['serializer'] cannot be imported: {exc}",
                        id="webhooks_app.E007",
                    )
                )
        resource = spec.get("resource") or model._meta.model_name
        if not EVENT_NAME_RE.match(f"{resource}.created"):
            errors.append(
                Error(
                    f"WEBHOOKS['MODELS'][{label!r}]['resource'] {resource!r} is not a valid name.",
                    id="webhooks_app.E008",
                )
            )
    return errors


def _check_numbers():
    errors = []
    timeout = app_settings.TIMEOUT
    if not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        errors.append(
            Error(
                "WEBHOOKS['TIMEOUT'] must be a number of seconds between 0 and 300.",
                id="webhooks_app.E020",
            )
        )
    schedule = app_settings.RETRY_SCHEDULE
    if not isinstance(schedule, list | tuple) or not all(
        isinstance(d, int | float) and d >= 0 for d in schedule
    ):
        errors.append(
            Error(
                "WEBHOOKS['RETRY_SCHEDULE'] must be a list of delays in seconds (>= 0).",
                id="webhooks_app.E021",
            )
        )
    jitter = app_settings.RETRY_JITTER
    if not isinstance(jitter, int | float) or not 0 <= jitter < 1:
        errors.append(
            Error("WEBHOOKS['RETRY_JITTER'] must be a share between 0 and 1.", id="webhooks_app.E022")
        )
    for key in (
        "RETENTION_DAYS",
        "MAX_RESPONSE_BYTES",
        "MAX_PAYLOAD_BYTES",
        "SWEEP_BATCH",
        "SWEEP_MINUTES",
        "CONCURRENCY",
        "DESTINATION_CONCURRENCY",
    ):
        value = getattr(app_settings, key)
        if not isinstance(value, int) or value < 1:
            errors.append(Error(f"WEBHOOKS['{key}'] must be a positive integer.", id="webhooks_app.E023"))
    for key in (
        "RETRY_WAKEUP_HORIZON",
        "MAX_RETRY_AFTER",
        "LEASE_MARGIN",
        "SUBSCRIPTION_CACHE_SECONDS",
        "AUTO_DISABLE_AFTER_DAYS",
    ):
        if not _is_number(getattr(app_settings, key)) or getattr(app_settings, key) < 0:
            errors.append(
                Error(
                    f"WEBHOOKS['{key}'] must be a number of seconds or days (>= 0).", id="webhooks_app.E024"
                )
            )
    failures = app_settings.AUTO_DISABLE_FAILURES
    if failures is not None and (not isinstance(failures, int) or isinstance(failures, bool) or failures < 1):
        errors.append(
            Error(
                "WEBHOOKS['AUTO_DISABLE_FAILURES'] must be a positive integer, or None to turn auto-disable off.",
                id="webhooks_app.E025",
            )
        )
    overlap = app_settings.SECRET_ROTATION_OVERLAP_HOURS
    if not _is_number(overlap) or not 0 <= overlap <= 24 * 30:
        errors.append(
            Error(
                "WEBHOOKS['SECRET_ROTATION_OVERLAP_HOURS'] must be a number of hours from 0 to 720.",
                id="webhooks_app.E027",
            )
        )
    limit = app_settings.MAX_WEBHOOKS
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        errors.append(
            Error(
                "WEBHOOKS['MAX_WEBHOOKS'] must be a positive integer, or None for no limit.",
                id="webhooks_app.E028",
            )
        )
    drain = app_settings.DRAIN_SECONDS
    if not _is_number(drain) or drain <= 0:
        errors.append(
            Error("WEBHOOKS['DRAIN_SECONDS'] must be a number of seconds above 0.", id="webhooks_app.E026")
        )
    q = getattr(settings, "Q_CLUSTER", {}) or {}
    q_timeout, q_retry = q.get("timeout"), q.get("retry", 60)
    # A drain claims for DRAIN_SECONDS, then waits for its last requests: at most the
    # longest timeout a webhook may set (60 s) or the default, whichever is longer.
    request = max(float(timeout if _is_number(timeout) else 10), 60.0)
    longest = float(drain if _is_number(drain) else 30) + request + 10
    if q_timeout is not None and q_timeout < longest:
        errors.append(
            Warning(
                f"Q_CLUSTER['timeout'] ({q_timeout}) is shorter than a drain task may take ({longest:.0f} s).",
                hint="Raise Q_CLUSTER['timeout'] or lower WEBHOOKS['DRAIN_SECONDS'].",
                id="webhooks_app.W001",
            )
        )
    if q_timeout is not None and q_retry is not None and q_retry <= q_timeout:
        errors.append(
            Warning(
                "Q_CLUSTER['retry'] must be well above Q_CLUSTER['timeout'], or the ORM broker runs a "
                "slow task twice.",
                id="webhooks_app.W002",
            )
        )
    return errors


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_destinations():
    entries = app_settings.ALLOWED_DESTINATIONS
    if not isinstance(entries, list | tuple):
        return [
            Error(
                "WEBHOOKS['ALLOWED_DESTINATIONS'] must be a list of hosts, addresses or networks.",
                id="webhooks_app.E030",
            )
        ]
    errors = []
    for entry in entries:
        text = str(entry).strip()
        try:
            network = ipaddress.ip_network(text.strip("[]"), strict=False)
        except ValueError:
            if not text or "/" in text or " " in text:
                errors.append(
                    Error(
                        f"WEBHOOKS['ALLOWED_DESTINATIONS'] has an invalid entry {entry!r}.",
                        id="webhooks_app.E031",
                    )
                )
            continue
        # Wider than 10.0.0.0/8 (IPv4) or fc00::/7 (IPv6) spans several kinds of
        # private address at once: 0.0.0.0/0 or ::/0 turns the SSRF guard off.
        if network.prefixlen < (8 if network.version == 4 else 7):
            errors.append(
                Warning(
                    f"WEBHOOKS['ALLOWED_DESTINATIONS'] entry {entry!r} opens {network.num_addresses:,} "
                    "addresses: deliveries may then reach loopback, cloud metadata or internal services.",
                    hint="List only the hosts or networks your receivers are on.",
                    id="webhooks_app.W030",
                )
            )
    return errors


def _check_encryption():
    from cryptography.fernet import Fernet

    errors = []
    keys = app_settings.ENCRYPTION_KEYS
    if not isinstance(keys, list | tuple):
        return [Error("WEBHOOKS['ENCRYPTION_KEYS'] must be a list of Fernet keys.", id="webhooks_app.E040")]
    for i, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"WEBHOOKS['ENCRYPTION_KEYS'][{i}] is not a valid Fernet key.",
                    hint="Generate one with cryptography.fernet.Fernet.generate_key().",
                    id="webhooks_app.E041",
                )
            )
    return errors


# A DRF rate: requests per second, minute, hour or day (DRF reads only the period's
# first letter; the check accepts the spellings its documentation uses).
THROTTLE_RATE_RE = re.compile(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)")


def _check_api_throttle_rates():
    # The scopes are those of the default (api.throttling needs DRF, this check does not).
    scopes = tuple(DEFAULTS["API_THROTTLE_RATES"])
    rates = app_settings.API_THROTTLE_RATES
    if rates is None:
        return []
    # A rate DRF cannot parse fails every request of its scope; a misspelt scope limits nothing.
    if not isinstance(rates, dict) or not all(
        scope in scopes and (rate is None or (isinstance(rate, str) and THROTTLE_RATE_RE.fullmatch(rate)))
        for scope, rate in rates.items()
    ):
        return [
            Error(
                f"WEBHOOKS['API_THROTTLE_RATES'] must map throttle scopes to rates, or be None: {rates!r}.",
                hint="Scopes: "
                + ", ".join(scopes)
                + '. A rate is "<requests>/<period>" with a period of s, min, hour or day (e.g. '
                '"20/s"); None or a scope left out is not limited.',
                id="webhooks_app.E075",
            )
        ]
    return []


# The host project: what the README's "Install into an existing project" asks for.
# Each is a mistake a newcomer can make that would otherwise surface as a crash at
# request time, a delivery that never leaves, or "database is locked".

# django-q2's broker keys (django_q.conf.Conf); without any, it uses Redis on localhost.
Q_BROKER_KEYS = ("orm", "redis", "django_redis", "disque_nodes", "iron_mq", "sqs", "mongo", "broker_class")
CONSOLE_URLCONF = "webhooks_app.urls"
API_URLCONF = "webhooks_app.api.urls"
# What the [api] extra installs, by import name.
API_PACKAGES = {"rest_framework": "djangorestframework", "drf_spectacular": "drf-spectacular"}


@register(Tags.compatibility)
def check_host_project(app_configs=None, **kwargs):
    """django-q2 and the database: installed, configured, and usable by several processes."""
    errors = []
    if not apps.is_installed("django_q"):
        errors.append(
            Error(
                "'django_q' is not in INSTALLED_APPS: deliveries are sent by django-q2 tasks, "
                "whose tables and schedules it provides.",
                hint="Add 'django_q' to INSTALLED_APPS and run `python manage.py qcluster`.",
                id="webhooks_app.E050",
            )
        )
    q_cluster = getattr(settings, "Q_CLUSTER", None)
    if not isinstance(q_cluster, dict):
        errors.append(
            Error(
                "The Q_CLUSTER setting is missing." if q_cluster is None else "Q_CLUSTER must be a dict.",
                hint="Set Q_CLUSTER, e.g. {'name': 'webhooks', 'orm': 'default', 'timeout': 120, "
                "'retry': 300} (see the README's install section).",
                id="webhooks_app.E051",
            )
        )
        q_cluster = {}
    orm = q_cluster.get("orm")
    if orm is not None and orm not in settings.DATABASES:
        errors.append(
            Error(
                f"Q_CLUSTER['orm'] is {orm!r}, which is not a database alias in DATABASES.",
                hint="Name a key of DATABASES, usually 'default'.",
                id="webhooks_app.E052",
            )
        )
    if q_cluster and not any(q_cluster.get(key) for key in Q_BROKER_KEYS):
        errors.append(
            Warning(
                "Q_CLUSTER names no broker, so django-q2 uses Redis on localhost:6379.",
                hint="Set Q_CLUSTER['orm'] = 'default' (no server needed) or Q_CLUSTER['redis'].",
                id="webhooks_app.W053",
            )
        )
    for alias in dict.fromkeys(["default", orm if isinstance(orm, str) else "default"]):
        database = settings.DATABASES.get(alias) or {}
        mode = str((database.get("OPTIONS") or {}).get("transaction_mode", "")).upper()
        if database.get("ENGINE", "").endswith("sqlite3") and mode != "IMMEDIATE":
            errors.append(
                Warning(
                    f"DATABASES[{alias!r}] is SQLite without OPTIONS['transaction_mode'] = 'IMMEDIATE': "
                    "a qcluster and the web server writing at once get 'database is locked'.",
                    hint="Set DATABASES[...]['OPTIONS'] = {'transaction_mode': 'IMMEDIATE', 'timeout': 20}.",
                    id="webhooks_app.W054",
                )
            )
    return errors


@register(Tags.urls)
def check_included_urls(app_configs=None, **kwargs):
    """What the console's and the API's URLs need, when the host includes them."""
    included = included_urlconfs()
    errors = []
    if CONSOLE_URLCONF in included:
        errors += _check_console()
    if CONSOLE_URLCONF in included or "BASE_TEMPLATE" in (_user_settings() or {}):
        errors += _check_base_template()
    if API_URLCONF in included:
        errors += _check_api()
    return errors


def included_urlconfs() -> set[str]:
    """Module names of every URLconf the project's ROOT_URLCONF includes (itself too)."""
    from django.urls import URLResolver, get_resolver

    found: set[str] = set()

    def walk(resolver, depth=0):
        try:
            module = resolver.urlconf_module
            patterns = resolver.url_patterns
        except Exception:  # noqa: BLE001 - a broken URLconf is reported by Django's own URL check
            return
        if getattr(module, "__name__", None):
            found.add(module.__name__)
        for pattern in patterns:
            if isinstance(pattern, URLResolver) and depth < 20:
                walk(pattern, depth + 1)

    if getattr(settings, "ROOT_URLCONF", None):
        walk(get_resolver())
    return found


def _check_console():
    errors = []
    if not apps.is_installed("django.contrib.messages"):
        errors.append(
            Error(
                "The console's URLs are included but 'django.contrib.messages' is not in INSTALLED_APPS: "
                "every change in the console ends with a message.",
                hint="Add 'django.contrib.messages' to INSTALLED_APPS, its middleware to MIDDLEWARE and "
                "its context processor to TEMPLATES.",
                id="webhooks_app.E060",
            )
        )
    if "django.contrib.messages.middleware.MessageMiddleware" not in settings.MIDDLEWARE:
        errors.append(
            Error(
                "The console's URLs are included but MessageMiddleware is not in MIDDLEWARE: every "
                "change in the console would fail with MessageFailure.",
                hint="Add 'django.contrib.messages.middleware.MessageMiddleware' to MIDDLEWARE, after "
                "SessionMiddleware.",
                id="webhooks_app.E061",
            )
        )
    if "django.contrib.auth.middleware.AuthenticationMiddleware" not in settings.MIDDLEWARE:
        errors.append(
            Error(
                "The console's URLs are included but AuthenticationMiddleware is not in MIDDLEWARE: "
                "the console is for logged-in staff only.",
                hint="Add 'django.contrib.auth.middleware.AuthenticationMiddleware' to MIDDLEWARE.",
                id="webhooks_app.E062",
            )
        )
    errors += _check_login_url()
    return errors


def _check_login_url():
    """Anonymous visitors of the console are sent to LOGIN_URL: it should lead somewhere."""
    from django.urls import NoReverseMatch, Resolver404, resolve, reverse

    login_url = str(settings.LOGIN_URL)
    if "://" in login_url or login_url.startswith("//"):
        return []  # another site (single sign-on): nothing to check here
    try:
        if login_url.startswith("/"):
            resolve(login_url.split("?", 1)[0])
        else:
            reverse(login_url)
    except (Resolver404, NoReverseMatch):
        return [
            Warning(
                f"LOGIN_URL is {login_url!r}, which no URL pattern of this project matches: anonymous "
                "visitors of the console are sent to a page that does not exist.",
                hint="Route a login view there (e.g. path('accounts/', include('django.contrib.auth.urls'))) "
                "or set LOGIN_URL to your login page, e.g. 'admin:login'.",
                id="webhooks_app.W063",
            )
        ]
    except Exception:  # noqa: BLE001 - a broken URLconf is reported by Django's own URL check
        return []
    return []


def _check_base_template():
    from django.template import TemplateDoesNotExist, TemplateSyntaxError
    from django.template.loader import get_template

    name = app_settings.BASE_TEMPLATE
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return [
            Error(
                f"WEBHOOKS['BASE_TEMPLATE'] is {name!r}, which no template loader finds: every console "
                "page would fail.",
                hint="Name a template of your project (it must define the blocks title, extra_head, "
                "content and extra_js), or leave the key out to use 'webhooks_app/base.html'.",
                id="webhooks_app.E064",
            )
        ]
    except (TemplateSyntaxError, TypeError, ValueError) as exc:
        return [
            Error(
                f"WEBHOOKS['BASE_TEMPLATE'] {name!r} cannot be loaded: {exc}",
                id="webhooks_app.E065",
            )
        ]
    return []


def api_packages_missing() -> list[str]:
    """The packages of the [api] extra that cannot be imported (their pip names)."""

    def importable(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False

    return [package for module, package in API_PACKAGES.items() if not importable(module)]


def _check_api():
    missing = api_packages_missing()
    if missing:
        return [
            Error(
                "webhooks_app.api.urls is included but the REST API's packages are not installed: "
                + ", ".join(missing)
                + ". Its URLs are left out until they are.",
                hint='pip install "webhooks_app[api]", or remove include("webhooks_app.api.urls").',
                id="webhooks_app.E070",
            )
        ]
    errors = [
        Error(
            f"webhooks_app.api.urls is included but {app!r} is not in INSTALLED_APPS: {why}.",
            hint=f"Add {app!r} to INSTALLED_APPS{then}.",
            id=check_id,
        )
        for app, why, then, check_id in (
            ("rest_framework", "Django REST Framework runs the API", "", "webhooks_app.E071"),
            (
                "rest_framework.authtoken",
                "the API authenticates with tokens (Authorization: Token <key>)",
                " and run migrate",
                "webhooks_app.E072",
            ),
            ("drf_spectacular", "it serves the API's schema and docs", "", "webhooks_app.E073"),
        )
        if not apps.is_installed(app)
    ]
    return errors

"""System checks for the WEBHOOKS setting (ids webhooks_app.E0xx / W0xx)."""

import ipaddress

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
    return [
        Error(
            f"WEBHOOKS['EVENTS'] has an invalid event type name {name!r}.",
            hint="Use lower-case dotted names such as 'contact.created' or 'contact.email.changed'.",
            id="webhooks_app.E011",
        )
        for name in events
        if not isinstance(name, str) or not EVENT_NAME_RE.match(name)
    ]


def _check_models(models):
    errors = []
    if not isinstance(models, dict):
        return [Error("WEBHOOKS['MODELS'] must map model labels to watch options.", id="webhooks_app.E003")]
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
                        hint="Actions are created, updated and deleted.",
                        id="webhooks_app.E005",
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
    ):
        value = getattr(app_settings, key)
        if not isinstance(value, int) or value < 1:
            errors.append(Error(f"WEBHOOKS['{key}'] must be a positive integer.", id="webhooks_app.E023"))
    for key in (
        "INLINE_RETRY_MAX_DELAY",
        "MAX_RETRY_AFTER",
        "LEASE_MARGIN",
        "REQUEUE_AFTER",
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
    q = getattr(settings, "Q_CLUSTER", {}) or {}
    q_timeout, q_retry = q.get("timeout"), q.get("retry", 60)
    inline = app_settings.INLINE_RETRY_MAX_DELAY
    longest = float(timeout if _is_number(timeout) else 10) * 2 + float(inline if _is_number(inline) else 0)
    if q_timeout is not None and q_timeout < longest:
        errors.append(
            Warning(
                f"Q_CLUSTER['timeout'] ({q_timeout}) is shorter than a delivery task may take ({longest:.0f} s).",
                hint="Raise Q_CLUSTER['timeout'] or lower WEBHOOKS['TIMEOUT'] / INLINE_RETRY_MAX_DELAY.",
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

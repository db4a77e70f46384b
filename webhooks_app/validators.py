"""Validators of the Webhook model's fields: the console form, the API and the admin run these.

Each raises a WebhookValidationError (a Django ValidationError) with a message
that names what is wrong, so every way in shows the same text.
"""

import json
import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, URLValidator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .destinations import literal_host_problem
from .events import ALL_EVENTS, registry, resource_of, wildcard_resource
from .exceptions import InvalidEventData, WebhookValidationError

# \Z, not $: $ also matches before a trailing newline ("X-Key\n").
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}\Z")
# Headers webhooks_app sets on every request itself (services.deliveries.delivery_request).
APP_HEADERS = frozenset({"content-type", "user-agent"})
# Every name under these prefixes is the app's: Standard Webhooks' webhook-id,
# -timestamp, -signature and the X-Webhook-* ones today, and whatever is added later.
APP_HEADER_PREFIXES = ("x-webhook-", "webhook-")
# Headers about one connection or the framing of the body, not about the request
# (RFC 9110 7.6.1 and 9112): the HTTP client writes them, a proxy drops or rewrites
# them, and a static value would break the request (Content-Length, Transfer-Encoding,
# Expect: 100-continue) or never reach the receiver (Proxy-*, Connection, Keep-Alive).
HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "host",
        "content-length",
    }
)
HOP_BY_HOP_PREFIXES = ("proxy-",)


# The longest URL a webhook, a delivery or an attempt holds (their columns' max_length).
# Django's URLValidator alone allows 2,048: a recipient URL is checked against this too.
URL_MAX_LENGTH = 2000


def validate_recipient_url(value) -> None:
    """A URL that WEBHOOKS["RECIPIENT_URL"] returned: a webhook URL's rules, its length included.

    It goes into Delivery.url unchecked by any form; too long, it failed the insert
    (PostgreSQL) and with it the host's own save.
    """
    if isinstance(value, str):
        MaxLengthValidator(URL_MAX_LENGTH)(value)
    URLValidator(schemes=["http", "https"])(value)  # refuses what is not a string, too
    validate_webhook_url(value)


def validate_webhook_url(value: str) -> None:
    """http(s) only, a host, no credentials, and no private address literal."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(
            gettext("Enter a valid URL (%(error)s).") % {"error": exc}, code="invalid"
        ) from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError(gettext("The URL must start with http:// or https://."), code="scheme")
    if not parts.hostname:
        raise ValidationError(gettext("The URL must name a host."), code="invalid")
    if parts.username or parts.password:
        raise ValidationError(
            gettext("Put credentials in the API Key field, not in the URL."), code="credentials"
        )
    if port == 0:
        raise ValidationError(gettext("Enter a valid port."), code="invalid")
    if any(c <= " " or c == "\x7f" for c in value):
        raise ValidationError(
            gettext("The URL may not contain spaces, line breaks or control characters."), code="invalid"
        )
    problem = literal_host_problem(parts.hostname)
    if problem:
        raise ValidationError(problem, code="destination")


def validate_header_name(value: str) -> None:
    """A request header name a webhook may set: an HTTP token that is not reserved.

    The one rule for the API key header, the secret hash header and the custom
    headers' names (the model runs it for each; the console, the API and the admin
    show its message). Reserved, case-insensitively: the names the app sets itself,
    every ``X-Webhook-*`` and ``webhook-*`` name, and the hop-by-hop and framing
    headers (HOP_BY_HOP_HEADERS, ``Proxy-*``).
    """
    if not isinstance(value, str) or not HEADER_NAME_RE.match(value):
        raise ValidationError(
            gettext("A header name is 1-64 letters, digits or -_. (no spaces or line breaks)."),
            code="header_name",
        )
    lower = value.lower()
    if lower in APP_HEADERS:
        raise ValidationError(
            gettext("%(name)s is set by webhooks_app itself.") % {"name": value}, code="header_reserved"
        )
    if lower.startswith(APP_HEADER_PREFIXES):
        raise ValidationError(
            gettext(
                "%(name)s is set by webhooks_app itself: names starting with X-Webhook- or webhook- "
                "are reserved for its own headers."
            )
            % {"name": value},
            code="header_reserved",
        )
    if lower in HOP_BY_HOP_HEADERS or lower.startswith(HOP_BY_HOP_PREFIXES):
        raise ValidationError(
            gettext(
                "%(name)s is about the connection, not the request (a hop-by-hop header): "
                "the HTTP client sets it, a webhook cannot."
            )
            % {"name": value},
            code="header_reserved",
        )


def validate_header_value(value: str) -> None:
    """A value that goes into a request header exactly as written.

    No line breaks (header injection), no other control characters, printable
    ASCII only (HTTP sends header values as Latin-1, and requests refuses leading
    whitespace), and no surrounding spaces (receivers strip them, so the key
    would not match). The messages never repeat the value: it is often a secret.
    """
    value = value or ""
    if any(c in value for c in "\r\n"):
        raise ValidationError(gettext("Line breaks are not allowed here."), code="header_value")
    if any(not " " <= c <= "~" for c in value):
        raise ValidationError(
            gettext("Use printable ASCII characters only (no control characters or accented letters)."),
            code="header_value",
        )
    if value != value.strip():
        raise ValidationError(gettext("Remove the spaces at the start or end."), code="header_value")


# Event subscriptions ------------------------------------------------------------

EVENTS_REQUIRED = _("Choose at least one event, or All events.")


def validate_event_list(value) -> None:
    """A list of event type names, or ``["*"]`` (an empty list is the field's blank error)."""
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise WebhookValidationError(
            gettext('Webhook events are a list of event type names, or ["*"] for all events.'),
            field="events",
            code="events",
        )


def events_normalize(events: list[str]) -> list[str]:
    """The stored form of a subscription, sorted, each name once.

    ``*`` alone wins over everything (it includes every type); a ``resource.*``
    wins over the single types of its resource.
    """
    if ALL_EVENTS in events:
        return [ALL_EVENTS]
    groups = {r for r in map(wildcard_resource, events) if r}
    return sorted({n for n in events if wildcard_resource(n) or resource_of(n) not in groups})


def validate_event_types(events: list[str], *, kept=()) -> None:
    """Every name is a declared deliverable event type, ``*``, ``resource.*``, or one of ``kept``.

    ``resource.*`` is every type of that resource, including types declared later,
    so the resource need not have a type yet. A type declared ``deliverable=False``
    (a system event) is refused: it is never sent. ``kept`` are the types the webhook
    already subscribes to: a type that is no longer declared stays until someone
    removes it, so that saving a webhook back as it was read never fails. Each
    error's ``index`` param is the position of the name in ``events``, for the API's
    per-item messages.
    """
    errors = []
    for index, name in enumerate(events):
        if name == ALL_EVENTS or name in kept or wildcard_resource(name):
            continue
        params = {"index": index, "name": name}
        if not registry.is_declared(name):
            errors.append(
                ValidationError(
                    gettext('"%(name)s" is not a declared event type.'),
                    code="unknown_event_type",
                    params=params,
                )
            )
        elif not registry.is_deliverable(name):
            errors.append(
                ValidationError(
                    gettext('"%(name)s" is a system event: it is never sent to webhooks.'),
                    code="not_deliverable",
                    params=params,
                )
            )
    if errors:
        raise WebhookValidationError(errors, field="events")


# Per-webhook request options ----------------------------------------------------

MAX_CUSTOM_HEADERS = 20
HEADERS_NOT_AN_OBJECT = _('Headers are a JSON object of name -> value, e.g. {"X-Tenant": "acme"}.')
MAX_HEADER_VALUE = 1000
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 500
TOPIC_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.:/-]{0,100}\Z")


def validate_custom_headers(value) -> None:
    """Static extra headers: an object of at most 20 name -> text, each valid as a header.

    Names follow the API key header's rule (and the names the app sets itself are
    refused); values follow the API key's. A name given twice in different case
    would be one header on the wire, so it is refused too. Messages name the
    header, never its value (often a credential).
    """
    if value in (None, ""):
        return
    if not isinstance(value, dict):
        raise WebhookValidationError(str(HEADERS_NOT_AN_OBJECT), field="headers", code="headers")
    if len(value) > MAX_CUSTOM_HEADERS:
        raise WebhookValidationError(
            gettext("At most %(max)d headers; there are %(count)d.")
            % {"max": MAX_CUSTOM_HEADERS, "count": len(value)},
            field="headers",
            code="headers",
        )
    errors, seen = [], set()
    for name, header_value in value.items():
        try:
            validate_header_name(name)
        except ValidationError as exc:
            errors.append(
                ValidationError(
                    gettext("Header %(name)s: %(problem)s")
                    % {"name": repr(str(name)[:64]), "problem": " ".join(exc.messages)},
                    code="headers",
                )
            )
            continue
        if name.lower() in seen:
            errors.append(
                ValidationError(
                    gettext("Header %(name)s is given twice.") % {"name": repr(name)}, code="headers"
                )
            )
        seen.add(name.lower())
        if not isinstance(header_value, str) or not header_value or len(header_value) > MAX_HEADER_VALUE:
            errors.append(
                ValidationError(
                    gettext("Header %(name)s: the value is a text of 1-%(max)d characters.")
                    % {"name": repr(name), "max": MAX_HEADER_VALUE},
                    code="headers",
                )
            )
            continue
        try:
            validate_header_value(header_value)
        except ValidationError as exc:
            errors.append(
                ValidationError(
                    gettext("Header %(name)s: %(problem)s")
                    % {"name": repr(name), "problem": " ".join(exc.messages)},
                    code="headers",
                )
            )
    if errors:
        raise WebhookValidationError(errors, field="headers")


def validate_secret(value: str) -> None:
    """A signing secret: 16-500 printable characters without spaces; a ``whsec_`` one must be base64.

    ``whsec_<base64>`` is used as Standard Webhooks defines it (the key is the decoded
    bytes); any other text signs with its UTF-8 bytes. Messages never repeat it.
    """
    from .signing import SECRET_PREFIX

    value = value or ""
    if not MIN_SECRET_LENGTH <= len(value) <= MAX_SECRET_LENGTH:
        raise WebhookValidationError(
            gettext("A secret is %(min)d-%(max)d characters long.")
            % {"min": MIN_SECRET_LENGTH, "max": MAX_SECRET_LENGTH},
            field="secret",
            code="secret",
        )
    if any(not "!" <= c <= "~" for c in value):
        raise WebhookValidationError(
            gettext("Use printable ASCII characters without spaces in a secret."),
            field="secret",
            code="secret",
        )
    if value.startswith(SECRET_PREFIX):
        import base64
        import binascii

        try:
            key = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) < MIN_SECRET_LENGTH:
            raise WebhookValidationError(
                gettext(
                    "A whsec_ secret is whsec_ followed by the base64 of at least %(min)d bytes "
                    "(or leave out the whsec_ prefix to sign with the text itself)."
                )
                % {"min": MIN_SECRET_LENGTH},
                field="secret",
                code="secret",
            )


def validate_topic_prefix(value: str) -> None:
    if not TOPIC_PREFIX_RE.match(value or ""):
        raise WebhookValidationError(
            gettext("A topic prefix is up to 100 letters, digits or _ . : / - (it goes into a header)."),
            field="topic_prefix",
            code="topic_prefix",
        )


# Filters ------------------------------------------------------------------------
# The language (docs/events.md, "Filters"): a key is a dotted path into the event's
# data, or "$context.<path>" into its current_context; a value is a literal
# (equals), a list (one of) or an object of operators; "$or"/"$and" take a list
# of filters; keys at one level are ANDed. selectors.webhook_filters_match runs it.

FILTER_OPERATORS = ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$contains")
FILTER_COMBINATORS = ("$or", "$and")
CONTEXT_PREFIX = "$context."
MAX_FILTER_CONDITIONS = 50
MAX_FILTER_VALUES = 100
MAX_FILTER_NESTING = 4
MAX_FILTER_PATH = 200
MAX_FILTERS_CHARS = 10_000
SCALARS = (str, int, float, bool, type(None))


def _filter_error(message: str) -> WebhookValidationError:
    return WebhookValidationError(message, field="filters", code="filters")


def validate_filters(value) -> None:
    """Filters in the language above, within the limits; the message names the key at fault."""
    if not isinstance(value, dict):
        raise _filter_error(gettext('Filters are a JSON object, for example {"accepts_email": true}.'))
    from .payloads import to_jsonable

    try:
        to_jsonable(value, what="filters JSON", field="filters")
    except InvalidEventData as exc:
        raise _filter_error(str(exc)) from None
    if len(json.dumps(value)) > MAX_FILTERS_CHARS:
        raise _filter_error(
            gettext("Filters are at most %(max)d characters of JSON.") % {"max": MAX_FILTERS_CHARS}
        )
    count = _filter_check(value, depth=0)
    if count > MAX_FILTER_CONDITIONS:
        raise _filter_error(
            gettext("Filters hold at most %(max)d conditions; these have %(count)d.")
            % {"max": MAX_FILTER_CONDITIONS, "count": count}
        )


def _filter_check(filters: dict, *, depth: int) -> int:
    """Check one filter object; return how many conditions it holds."""
    count = 0
    for key, expected in filters.items():
        if key in FILTER_COMBINATORS:
            count += _combinator_check(key, expected, depth=depth)
        else:
            _path_check(key)
            count += _condition_check(key, expected)
    return count


def _combinator_check(key: str, filters, *, depth: int) -> int:
    if depth >= MAX_FILTER_NESTING:
        raise _filter_error(
            gettext('Filter "%(key)s": $or and $and nest at most %(max)d levels deep.')
            % {"key": key, "max": MAX_FILTER_NESTING}
        )
    if not isinstance(filters, list) or not filters:
        raise _filter_error(
            gettext(
                'Filter "%(key)s": expected a list of filters, for example {"%(key)s": [{"a": 1}, {"b": 2}]}.'
            )
            % {"key": key}
        )
    if not all(isinstance(item, dict) and item for item in filters):
        raise _filter_error(
            gettext('Filter "%(key)s": each item of the list is a filter object with conditions.')
            % {"key": key}
        )
    return sum(_filter_check(item, depth=depth + 1) for item in filters)


def _path_check(key: str) -> None:
    if not key or len(key) > MAX_FILTER_PATH:
        raise _filter_error(
            gettext("Each filter key is a field path of 1-%(max)d characters.") % {"max": MAX_FILTER_PATH}
        )
    path = key.removeprefix(CONTEXT_PREFIX)
    if key.startswith("$") and path == key:
        raise _filter_error(
            gettext(
                'Filter "%(key)s": not a field path; use a path into the data ("address.country"), '
                '"$context.<path>", "$or" or "$and".'
            )
            % {"key": key}
        )
    if any(not part or part.startswith("$") for part in path.split(".")):
        raise _filter_error(
            gettext('Filter "%(key)s": a path is field names separated by single dots.') % {"key": key}
        )


def _condition_check(key: str, expected) -> int:
    if isinstance(expected, list):
        _values_check(key, None, expected)
        return 1
    if not isinstance(expected, dict):
        return 1  # a literal: the field must equal it
    if not expected:
        raise _filter_error(
            gettext('Filter "%(key)s": an object of operators needs at least one operator.') % {"key": key}
        )
    for operator, operand in expected.items():
        if operator not in FILTER_OPERATORS:
            message = (
                gettext('Filter "%(key)s": unknown operator "%(operator)s"; the operators are %(operators)s.')
                if operator.startswith("$")
                else gettext(
                    'Filter "%(key)s": "%(operator)s" is not an operator (match a nested field with '
                    '"%(key)s.%(operator)s"); the operators are %(operators)s.'
                )
            )
            raise _filter_error(
                message % {"key": key, "operator": operator, "operators": ", ".join(FILTER_OPERATORS)}
            )
        _operand_check(key, operator, operand)
    return len(expected)


def _operand_check(key: str, operator: str, operand) -> None:
    where = {"key": key, "operator": operator}
    if operator in ("$in", "$nin"):
        _values_check(key, operator, operand)
    elif operator == "$exists":
        if not isinstance(operand, bool):
            raise _filter_error(gettext('Filter "%(key)s": %(operator)s takes true or false.') % where)
    elif operator in ("$gt", "$gte", "$lt", "$lte"):
        if isinstance(operand, bool) or not isinstance(operand, int | float | str):
            raise _filter_error(
                gettext('Filter "%(key)s": %(operator)s compares with a number or a text.') % where
            )
    elif not isinstance(operand, SCALARS):
        raise _filter_error(
            gettext('Filter "%(key)s": %(operator)s takes a value (text, number, true, false or null).')
            % where
        )


def _values_check(key: str, operator: str | None, values) -> None:
    """A literal list (operator None) or the operand of $in/$nin: 1-MAX_FILTER_VALUES values."""
    if (
        not isinstance(values, list)
        or not 0 < len(values) <= MAX_FILTER_VALUES
        or not all(isinstance(item, SCALARS) for item in values)
    ):
        message = (
            gettext(
                'Filter "%(key)s": %(operator)s takes 1-%(max)d values (text, number, true, false or null).'
            )
            if operator
            else gettext(
                'Filter "%(key)s": a list of accepted values holds 1-%(max)d values (text, number, true, false or null).'
            )
        )
        raise _filter_error(message % {"key": key, "operator": operator, "max": MAX_FILTER_VALUES})

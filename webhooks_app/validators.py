"""Validators shared by the model, the console form and the API."""

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from .destinations import literal_host_problem

# \Z, not $: $ also matches before a trailing newline ("X-Key\n").
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}\Z")
RESERVED_HEADERS = {
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-webhook-signature",
    "x-webhook-event",
    "x-webhook-attempt",
    "transfer-encoding",
    "connection",
}


def validate_webhook_url(value: str) -> None:
    """http(s) only, a host, no credentials, and no private address literal."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"Enter a valid URL ({exc}).", code="invalid") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError("The URL must start with http:// or https://.", code="scheme")
    if not parts.hostname:
        raise ValidationError("The URL must name a host.", code="invalid")
    if parts.username or parts.password:
        raise ValidationError("Put credentials in the API Key field, not in the URL.", code="credentials")
    if port == 0:
        raise ValidationError("Enter a valid port.", code="invalid")
    if any(c <= " " or c == "\x7f" for c in value):
        raise ValidationError(
            "The URL may not contain spaces, line breaks or control characters.", code="invalid"
        )
    problem = literal_host_problem(parts.hostname)
    if problem:
        raise ValidationError(problem, code="destination")


def validate_header_name(value: str) -> None:
    if not HEADER_NAME_RE.match(value or ""):
        raise ValidationError(
            "A header name is 1-64 letters, digits or -_. (no spaces or line breaks).",
            code="header_name",
        )
    if value.lower() in RESERVED_HEADERS:
        raise ValidationError(f"{value} is set by webhooks_app itself.", code="header_reserved")


def validate_header_value(value: str) -> None:
    """A value that goes into a request header exactly as written.

    No line breaks (header injection), no other control characters, printable
    ASCII only (HTTP sends header values as Latin-1, and requests refuses leading
    whitespace), and no surrounding spaces (receivers strip them, so the key
    would not match). The messages never repeat the value: it is often a secret.
    """
    value = value or ""
    if any(c in value for c in "\r\n"):
        raise ValidationError("Line breaks are not allowed here.", code="header_value")
    if any(not " " <= c <= "~" for c in value):
        raise ValidationError(
            "Use printable ASCII characters only (no control characters or accented letters).",
            code="header_value",
        )
    if value != value.strip():
        raise ValidationError("Remove the spaces at the start or end.", code="header_value")

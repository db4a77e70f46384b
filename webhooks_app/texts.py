"""The engine's texts: stored in English with a code and parameters, shown in the reader's language.

The engine writes what happened (an attempt's error, a delivery's last error, why a
webhook was disabled) in English, for the API, the logs and the admin, and beside it a
code and its parameters (``Attempt.error_code``/``error_params``,
``Delivery.last_error_code``/``last_error_params``, ``Webhook.disabled_code``/
``disabled_params``). The console renders the code in the reader's language; a row
without a code (written before codes, or a text with no code such as a blocked
destination's) shows its stored text.
"""

from django.utils.translation import gettext, gettext_noop

TEXTS = {
    # transport: what one POST produced
    "dns": gettext_noop("The host name could not be resolved (DNS)."),
    "invalid_header": gettext_noop("A request header name or value is invalid (the value is not shown)."),
    "tls": gettext_noop("TLS handshake failed: %(detail)s"),
    "connect_timeout": gettext_noop("Timed out while connecting."),
    "read_timeout": gettext_noop("Timed out waiting for the response."),
    "broken_read": gettext_noop("The connection broke while reading the response: %(detail)s"),
    "connection_refused": gettext_noop("Connection refused."),
    "closed": gettext_noop("The receiver closed the connection: %(detail)s"),
    "connection_failed": gettext_noop("Connection failed: %(detail)s"),
    "redirect": gettext_noop("HTTP %(status)s: redirects are not followed (Location: %(location)s)."),
    # the engine
    "interrupted": gettext_noop("The worker stopped during the request (task timeout or shutdown)."),
    "webhook_disabled": gettext_noop("The webhook is disabled."),
    "unattemptable": gettext_noop("The delivery could not be attempted: %(detail)s"),
    "cancelled_by_user": gettext_noop("Cancelled by a user."),
    # why a webhook was disabled
    "gone": gettext_noop("The receiver answered 410 Gone on %(when)s UTC."),
    "failures": gettext_noop("%(count)s deliveries in a row failed since %(since)s UTC."),
    "disabled_by_user": gettext_noop("Disabled by a user."),
}


def english(code: str, **params) -> str:
    """The English text of a code, as stored beside it."""
    return TEXTS[code] % params


def shown(code: str, params: dict | None, stored: str) -> str:
    """The text of a code in the current language, or ``stored`` when the row has no (known) code."""
    template = TEXTS.get(code or "")
    if template is None:
        return stored
    try:
        return gettext(template) % (params or {})
    except (KeyError, TypeError, ValueError):
        return stored

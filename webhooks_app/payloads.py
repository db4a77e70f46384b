"""Payload bodies: the event envelope and its renderers (JSON, XML)."""

import base64
import json
import re
from datetime import UTC
from xml.etree import ElementTree as ET

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from . import crypto_payload
from .exceptions import ImproperlyConfiguredWebhooks, InvalidEventData


class WebhookJSONEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder (dates, decimals, UUIDs, lazy strings) plus files, sets, bytes."""

    def default(self, o):
        if isinstance(o, FieldFile):
            return o.name or None
        if isinstance(o, set | frozenset):
            return sorted(o, key=str)
        if isinstance(o, bytes | bytearray):
            return base64.b64encode(bytes(o)).decode()
        return super().default(o)


# json.dumps writes a NUL character as \u0000; an escaped backslash before "u0000"
# (an even number of backslashes) is ordinary text.
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

# Objects and lists inside one another at most this deep. Every renderer (the XML
# one recurses) and every receiver's parser can take it; Python's own limit
# depends on the stack the worker happens to be on.
MAX_DEPTH = 32


def to_jsonable(value, *, what: str = "event data", field: str | None = None):
    """value as strict JSON types, or InvalidEventData saying what is wrong with it.

    Strict: no NaN or Infinity, no NUL character, no lone surrogate, and at most
    MAX_DEPTH levels of nesting. Databases refuse the first three in JSON columns
    and receivers' parsers in bodies, so they are caught at emit time with a
    message instead of a database error. This is the one strict-JSON check of the
    app: emit(), the API's JSON fields and the filters validator use it.

    ``what`` names the value in the message; the error's ``field`` is ``field``,
    or else the last word of ``what`` ("event context" -> "context").
    """
    field = field or what.rsplit(" ", 1)[-1]
    try:
        text = json.dumps(value, cls=WebhookJSONEncoder, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except RecursionError:
        raise _too_deep(what, field) from None
    except UnicodeEncodeError:
        raise InvalidEventData(
            f"The {what} contains a lone surrogate, which is not valid text.", field=field
        ) from None
    except ValueError as exc:
        if "compliant" in str(exc):
            raise InvalidEventData(
                f"The {what} contains NaN or Infinity, which JSON cannot carry; send null or a string.",
                field=field,
            ) from None
        raise InvalidEventData(f"The {what} cannot be serialized to JSON: {exc}", field=field) from exc
    except TypeError as exc:
        raise InvalidEventData(f"The {what} cannot be serialized to JSON: {exc}", field=field) from exc
    if _ESCAPED_NUL.search(text):
        raise InvalidEventData(
            f"The {what} contains a NUL character, which JSON columns cannot store.", field=field
        )
    result = json.loads(text)
    if _depth(result) > MAX_DEPTH:
        raise _too_deep(what, field)
    return result


def _too_deep(what: str, field: str) -> InvalidEventData:
    return InvalidEventData(
        f"The {what} is nested too deeply: at most {MAX_DEPTH} levels of objects and lists.", field=field
    )


def _depth(value) -> int:
    """How many objects and lists are inside one another at most (iterative: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in item)
    return deepest


def envelope(event) -> dict:
    """The payload fields every format carries."""
    moment = event.created_at
    if timezone.is_naive(moment):  # a host project with USE_TZ = False stores local time
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    moment = moment.astimezone(UTC)  # the "Z" below promises UTC
    return {
        "id": event.id,
        "event_type": event.event_type,
        "event_time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "current_context": event.context or {},
        "data": event.data if event.data is not None else {},
    }


def render_json(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


# XML 1.0 carries tab, line feed, carriage return and the characters from U+0020
# on, except surrogates and U+FFFE/U+FFFF. Text holding any other character (the
# C0 controls such as "\x01") is written as base64 of its UTF-8 bytes in an
# element with encoding="base64"; a dictionary key holding one goes into
# key="<base64>" with key-encoding="base64". A carriage return is written as the
# character reference &#13;, because parsers turn a raw one into a line feed.
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# An element name: ASCII letters, digits, "_", "-" and ".", not starting with a
# digit, "-", "." or "xml" (reserved). Parsers disagree on which other letters a
# name may hold (expat follows XML 1.0's 4th edition tables), and ":" would be
# read as a namespace prefix; every other key becomes <entry key="...">.
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _xml_text(value: str, element, attribute: str = "encoding") -> str:
    """value as XML can carry it, marking ``element`` when it had to be base64-encoded."""
    if _NOT_XML.search(value):
        element.set(attribute, "base64")
        return base64.b64encode(value.encode("utf-8")).decode("ascii")
    return value


def _xml_fill(element, value):
    if isinstance(value, dict):
        for key, item in value.items():
            key = str(key)
            if _XML_NAME.fullmatch(key) and not key.lower().startswith("xml"):
                child = ET.SubElement(element, key)
            else:
                child = ET.SubElement(element, "entry")
                child.set("key", _xml_text(key, child, "key-encoding"))
            _xml_fill(child, item)
    elif isinstance(value, list):
        for item in value:
            _xml_fill(ET.SubElement(element, "item"), item)
    elif value is None:
        element.set("null", "true")
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif isinstance(value, float):
        element.text = json.dumps(value)  # the same digits as the JSON body
    else:
        element.text = _xml_text(str(value), element)


def render_xml(payload: dict) -> str:
    """The payload as XML 1.0: ``<event>`` with one element per field, lists as ``<item>``.

    Accepts whatever render_json accepts (see _NOT_XML for the characters XML
    cannot carry raw).
    """
    root = ET.Element("event")
    _xml_fill(root, payload)
    # ElementTree escapes carriage returns in attributes but writes them raw in
    # text, where a parser would read a line feed: only text holds a raw one here.
    body = ET.tostring(root, encoding="unicode").replace("\r", "&#13;")
    return '<?xml version="1.0" encoding="UTF-8"?>' + body


RENDERERS = {
    "json": ("application/json", render_json),
    "xml": ("application/xml", render_xml),
}


def render(event, payload_format: str, *, webhook=None) -> tuple[str, str]:
    """(content type, body) of an event in a webhook's payload format.

    With ``webhook``, its per-webhook payload options apply (see request_options).
    """
    content_type, renderer = RENDERERS.get(payload_format, RENDERERS["json"])
    return content_type, renderer(envelope_for(event, webhook))


def envelope_for(event, webhook=None) -> dict:
    """The envelope as one webhook receives it: its payload options applied."""
    payload = envelope(event)
    # Per-webhook options (topic prefix, payload encryption) are applied here.
    if webhook is not None and getattr(webhook, "topic_prefix", ""):
        payload["event_type"] = webhook.topic_prefix + payload["event_type"]
    if webhook is not None and getattr(webhook, "payload_encryption", "none") == crypto_payload.ALGORITHM:
        if not webhook.encryption_key:
            # Never fall back to sending the data in clear.
            raise ImproperlyConfiguredWebhooks(
                f"Webhook {webhook.pk} encrypts its payloads but has no encryption key; rotate it."
            )
        payload = crypto_payload.envelope_encrypt(payload, key=webhook.encryption_key)
    return payload


def body_cache_key(event, webhook) -> tuple:
    """What makes two webhooks receive the same body for an event: a batch renders
    each distinct key once. Extend it with every option envelope_for reads."""
    return (
        event.pk,
        webhook.payload_format,
        webhook.topic_prefix or "",
        # An encrypted body is the webhook's own (its key, a fresh nonce).
        webhook.pk if getattr(webhook, "payload_encryption", "none") == crypto_payload.ALGORITHM else None,
    )

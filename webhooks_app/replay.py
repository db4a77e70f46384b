"""An attempt as a curl command, to replay it by hand ("Copy as curl" in the console).

The attempt's stored request (URL, headers with secrets redacted, body) is the one sent;
the signatures are made again over the same body with a timestamp of now, so that a
receiver's timestamp tolerance (five minutes in Standard Webhooks) accepts the replay.
Only who may read the signing secret gets them (whoever holds a valid signature can
send it as this site); anyone else gets the command with the signature headers left
for them to fill. Values the log keeps masked (the API key, custom headers, the secret
hash) stay masked: a comment says which.
"""

import shlex
import time

from django.utils import timezone

from . import signing
from .models import Attempt
from .signing import MASK_BULLET

SIGNATURE_HEADER_NAMES = ("webhook-signature", "x-webhook-signature")


def attempt_curl(*, attempt: Attempt, signed: bool, now: int | None = None) -> str:
    """The curl command that sends attempt's request again."""
    delivery = attempt.delivery
    webhook = delivery.webhook
    timestamp = int(time.time()) if now is None else now
    body = attempt.request_body or ""
    headers = dict(attempt.request_headers or {})
    masked = [name for name, value in headers.items() if isinstance(value, str) and MASK_BULLET in value]
    for name in list(headers):
        lowered = name.lower()
        if lowered == "webhook-timestamp":
            headers[name] = str(timestamp)
        elif lowered in SIGNATURE_HEADER_NAMES:
            headers[name] = (
                _signature(lowered, webhook=webhook, msg_id=delivery.event_id, timestamp=timestamp, body=body)
                if signed
                else "<signature: only who may read the signing secret gets it>"
            )
    lines = []
    if masked:
        lines.append(
            "# Masked in the delivery log, fill them in: " + ", ".join(sorted(masked, key=str.lower))
        )
    if not signed:
        lines.append("# The signature headers need the signing secret (Reveal it on the webhook's page).")
    command = ["curl", "-X", "POST", attempt.request_url]
    parts = [" ".join(shlex.quote(p) for p in command)]
    parts += [f"-H {shlex.quote(f'{name}: {value}')}" for name, value in headers.items()]
    parts.append(f"--data-raw {shlex.quote(body)}")
    lines.append(" \\\n  ".join(parts))
    return "\n".join(lines) + "\n"


def _signature(name: str, *, webhook, msg_id: str, timestamp: int, body: str) -> str:
    # As services.deliveries.delivery_request signs: during a rotation's overlap both secrets.
    keys = [webhook.secret]
    if webhook.previous_secret and (webhook.previous_secret_expires_at or timezone.now()) > timezone.now():
        keys.append(webhook.previous_secret)
    if name == "webhook-signature":
        return signing.standard_signature(secrets_=keys, msg_id=msg_id, timestamp=timestamp, body=body)
    return signing.body_signatures(secrets_=keys, body=body.encode())

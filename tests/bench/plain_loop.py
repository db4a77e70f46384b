"""One process of the plain loop (section 1): ``requests.Session().post`` in a loop, the limit.

    python -m tests.bench.plain_loop URL N START_AT

Waits until the Unix time START_AT (so that the processes start together), then
POSTs N times the JSON envelope the app sends, with the headers it sends (a fresh
webhook-id, the Standard Webhooks and hex signatures computed per request), and
prints ``{"n", "ok", "start", "end"}`` as JSON.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time

import requests

from tests.bench.common import envelope_body, sleep_until

KEY = b"0123456789abcdef0123456789abcdef"


def main() -> int:
    url, n, start_at = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    session = requests.Session()
    prefix = f"evt_{os.getpid():08x}"
    ok = 0
    sleep_until(start_at)
    start = time.time()
    for i in range(n):
        event_id = f"{prefix}{i:024x}"
        body = envelope_body("bench.drain", event_id)
        timestamp = str(int(time.time()))
        signed = f"{event_id}.{timestamp}.{body}".encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "webhooks_app/bench",
            "webhook-id": event_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1,"
            + base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode(),
            "X-Webhook-Signature": hmac.new(KEY, body.encode(), hashlib.sha256).hexdigest(),
            "X-Webhook-Event": "bench.drain",
            "X-Webhook-Attempt": "1",
        }
        response = session.post(url, data=body.encode(), headers=headers, timeout=10)
        ok += 200 <= response.status_code < 300
    end = time.time()
    print(json.dumps({"n": n, "ok": ok, "start": start, "end": end}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A tiny webhook receiver for the demo: verifies signatures and prints events."""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError


def make_handler(secret: str | None, out=sys.stdout):
    verifier = StandardWebhook(secret) if secret else None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            verdict = "unsigned check skipped"
            if verifier is not None:
                try:
                    verifier.verify(body, dict(self.headers), json_parse=False)
                    verdict = "signature OK"
                except WebhookVerificationError as exc:
                    verdict = f"signature INVALID ({exc})"
            try:
                event = json.loads(body)
                summary = f"{event.get('event_type')} {event.get('id')} data={json.dumps(event.get('data'))}"
            except ValueError:
                summary = body[:200].decode(errors="replace")
            out.write(f"[demo receiver] {summary} - {verdict}\n")
            out.flush()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"received": true}')

        def log_message(self, *args):
            pass

    return Handler


def serve(host: str, port: int, secret: str | None) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(secret))

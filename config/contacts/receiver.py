"""A tiny webhook receiver for the demo: verifies each request with its webhook's secret and prints it.

Every webhook of the demo that points at the receiver (any path on its host and port)
is checked with its own signing secret (and the previous one during a rotation's
overlap): the line printed says which webhook's secret verified the request, or which
secrets were tried.
"""

import json
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

# (name, secret) pairs to check a request to a path with.
Secrets = Callable[[str], list[tuple[str, str]]]


def webhook_secrets(base_url: str) -> Secrets:
    """The secrets of the demo's webhooks whose URL is on ``base_url`` (scheme, host and port):
    those of the webhooks at the request's exact URL first."""

    def secrets_for(path: str) -> list[tuple[str, str]]:
        from django.db import close_old_connections
        from django.utils import timezone

        from webhooks_app.models import Webhook

        close_old_connections()  # this thread's connection, as a request's would be
        url = base_url.rstrip("/") + path
        hooks = sorted(
            Webhook.objects.filter(url__startswith=base_url.rstrip("/") + "/"),
            key=lambda w: (w.url != url, w.name),
        )
        found = []
        for hook in hooks:
            found.append((hook.name, hook.secret))
            if hook.previous_secret and (hook.previous_secret_expires_at or timezone.now()) > timezone.now():
                found.append((f"{hook.name} (previous secret)", hook.previous_secret))
        return found

    return secrets_for


def verdict_of(body: bytes, headers: dict, candidates: list[tuple[str, str]]) -> str:
    if not candidates:
        return "no webhook of this site points here: signature not checked"
    for name, secret in candidates:
        try:
            StandardWebhook(secret).verify(body, headers, json_parse=False)
        except WebhookVerificationError:
            continue
        return f"signature OK ({name})"
    return "signature INVALID (checked with the secrets of " + ", ".join(name for name, _ in candidates) + ")"


def make_handler(secrets: Secrets | str | None, out=sys.stdout):
    """A request handler that checks signatures with ``secrets(path)``; a plain secret checks
    every request with it."""
    if isinstance(secrets, str):
        fixed = [("the given secret", secrets)]
        secrets = lambda path: fixed  # noqa: E731 - a one-line adapter
    elif secrets is None:
        secrets = lambda path: []  # noqa: E731

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                verdict = verdict_of(body, dict(self.headers), secrets(self.path))
            except Exception as exc:  # noqa: BLE001 - the demo keeps receiving
                verdict = f"signature not checked ({type(exc).__name__}: {exc})"
            try:
                event = json.loads(body)
                summary = f"{event.get('event_type')} {event.get('id')} data={json.dumps(event.get('data'))}"
            except ValueError:
                summary = body[:200].decode(errors="replace")
            out.write(f"[demo receiver] {self.path} {summary} - {verdict}\n")
            out.flush()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"received": true}')

        def log_message(self, *args):
            pass

    return Handler


def serve(host: str, port: int, secrets: Secrets | str | None, out=sys.stdout) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(secrets, out=out))

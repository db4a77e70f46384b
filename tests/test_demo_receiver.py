"""The demo receiver (config/contacts/receiver.py) checks each webhook's requests with that
webhook's own secret, and says which."""

import io
import socket
import threading

import pytest
from django.utils import timezone

from config.contacts.receiver import serve, webhook_secrets
from webhooks_app import emit, services
from webhooks_app.models import Delivery


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_receiver(transactional_db):
    port = free_port()
    out = io.StringIO()
    server = serve("127.0.0.1", port, webhook_secrets(f"http://127.0.0.1:{port}"), out=out)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", out
    server.shutdown()
    server.server_close()


def lines(out) -> list[str]:
    return [line for line in out.getvalue().splitlines() if line.startswith("[demo receiver]")]


def send_all():
    """Try every pending delivery now, through the engine."""
    for delivery in Delivery.objects.filter(status=Delivery.Status.PENDING):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        services.delivery_attempt(delivery_id=delivery.pk)


def test_each_webhook_is_verified_with_its_own_secret(demo_receiver):
    base, out = demo_receiver
    services.webhook_create(name="Demo receiver", events=["*"], url=f"{base}/webhooks")
    services.webhook_create(name="Second hook", events=["contact.created"], url=f"{base}/second")
    emit("contact.created", data={"id": 1})
    send_all()  # what the emit's commit did not send already
    printed = lines(out)
    assert len(printed) == 2, out.getvalue()
    assert any("/webhooks " in line and "signature OK (Demo receiver)" in line for line in printed), printed
    assert any("/second " in line and "signature OK (Second hook)" in line for line in printed), printed
    assert not any("INVALID" in line for line in printed)


def test_a_request_no_secret_verifies_says_which_secrets_were_tried(demo_receiver):
    import json
    import urllib.request

    base, out = demo_receiver
    services.webhook_create(name="Demo receiver", events=["*"], url=f"{base}/webhooks")
    body = json.dumps({"id": "evt_forged", "event_type": "contact.created", "data": {}}).encode()
    request = urllib.request.Request(
        f"{base}/webhooks",
        data=body,
        headers={
            "webhook-id": "evt_forged",
            "webhook-timestamp": str(int(timezone.now().timestamp())),
            "webhook-signature": "v1,Zm9yZ2Vk",
            "Content-Type": "application/json",
        },
    )
    urllib.request.urlopen(request, timeout=5).read()
    (line,) = lines(out)
    assert "signature INVALID (checked with the secrets of Demo receiver)" in line

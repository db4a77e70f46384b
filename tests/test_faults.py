"""The fault matrix: a real qcluster subprocess delivers to real local receivers that misbehave.

Every case ends in the right final state with a readable Attempt error. The cluster
runs with a network guard (a ``sitecustomize`` on its PYTHONPATH): it refuses and
logs any connect to an address outside 127.0.0.0/8 and ::1, and answers "name not
known" for names under the reserved ``.invalid`` TLD (RFC 6761) without asking the
system resolver, so no test packet leaves the machine. Retries are picked up by
``services.deliveries_sweep()`` called from the test process, as the periodic sweep
would do.
"""

import datetime as dt
import ipaddress
import re
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.cluster import attempts, emit_one, settle, wait_until
from tests.receiver import Receiver, Reply
from webhooks_app.models import Delivery

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def test_500_then_200_succeeds_on_the_second_attempt(start_cluster, make_webhook, receiver):
    receiver.script = [Reply(500, body=b"boom")]
    webhook = make_webhook(receiver.url)
    cluster = start_cluster()

    event = emit_one()
    (delivery,) = settle([Delivery.objects.get(event=event).pk], cluster=cluster)

    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempt_count == 2
    first, second = attempts(delivery)
    assert (first.response_status, first.error_class) == (500, "http_status")
    assert first.error_message == "HTTP 500 Internal Server Error"
    assert first.response_body == "boom"
    assert (second.response_status, second.error_class, second.error_message) == (200, "", "")
    sent = receiver.requests
    assert [r.headers["X-Webhook-Attempt"] for r in sent] == ["1", "2"]
    assert {r.headers["webhook-id"] for r in sent} == {event.pk}
    for request in sent:
        request.verify(webhook.secret)
    # The retry came after the schedule's first delay (1 s), not at once.
    assert sent[1].at - sent[0].at >= 1.0


def test_a_receiver_hanging_past_the_timeout_is_a_timeout_then_a_success(
    start_cluster, make_webhook, receiver
):
    receiver.script = [Reply(delay=4)]
    make_webhook(receiver.url, timeout=1)
    cluster = start_cluster()

    event = emit_one()
    (delivery,) = settle([Delivery.objects.get(event=event).pk], cluster=cluster)

    assert delivery.status == Delivery.Status.SUCCEEDED
    first, second = attempts(delivery)
    assert first.error_class == "timeout"
    assert first.error_message == "Timed out waiting for the response."
    assert first.response_status is None
    assert 900 <= first.duration_ms < 3000  # the webhook's 1 s, not the receiver's 4 s
    assert second.response_status == 200


def test_a_receiver_that_always_hangs_ends_failed_with_timeouts(start_cluster, make_webhook, receiver):
    receiver.default = Reply(delay=3)
    make_webhook(receiver.url, timeout=1)
    cluster = start_cluster(overrides={"RETRY_SCHEDULE": [0.2, 0.2]})

    event = emit_one()
    (delivery,) = settle([Delivery.objects.get(event=event).pk], cluster=cluster)

    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempt_count == 3
    assert [a.error_class for a in attempts(delivery)] == ["timeout"] * 3
    assert delivery.last_error == "Timed out waiting for the response."


def test_a_connection_closed_without_an_answer_is_interrupted_then_retried(
    start_cluster, make_webhook, receiver
):
    receiver.script = [Reply(close=True)]
    make_webhook(receiver.url)
    cluster = start_cluster()

    event = emit_one()
    (delivery,) = settle([Delivery.objects.get(event=event).pk], cluster=cluster)

    assert delivery.status == Delivery.Status.SUCCEEDED
    first, second = attempts(delivery)
    assert first.error_class == "interrupted"
    assert first.error_message.startswith("The receiver closed the connection:")
    assert "Remote end closed connection without response" in first.error_message
    assert first.response_status is None
    assert second.response_status == 200


class PartialResponder:
    """A raw HTTP server: the first answer promises 1000 bytes, sends 7 and closes."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                match = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
                while match and len(body) < int(match.group(1)):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                self.requests += 1
                if self.requests == 1:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def close(self):
        self.sock.close()


def test_a_connection_closed_in_the_middle_of_the_body_is_interrupted(start_cluster, make_webhook):
    server = PartialResponder()
    try:
        make_webhook(server.url)
        cluster = start_cluster()

        event = emit_one()
        (delivery,) = settle([Delivery.objects.get(event=event).pk], cluster=cluster)
    finally:
        server.close()

    assert delivery.status == Delivery.Status.SUCCEEDED
    first, second = attempts(delivery)
    # A 200 whose body broke off is not taken as a success: the receiver may not
    # have finished; at-least-once delivery sends it again.
    assert first.error_class == "interrupted"
    assert first.error_message.startswith("The connection broke while reading the response:")
    assert "IncompleteRead" in first.error_message
    assert second.response_status == 200 and second.error_class == ""
    assert server.requests == 2


def test_a_50_mb_response_is_capped_and_not_read_to_the_end(start_cluster, make_webhook, receiver):
    receiver.default = Reply(stream_bytes=50_000_000)
    make_webhook(receiver.url)
    cluster = start_cluster()

    event = emit_one()
    (delivery,) = settle([Delivery.objects.get(event=event).pk], cluster=cluster)

    assert delivery.status == Delivery.Status.SUCCEEDED
    (attempt,) = attempts(delivery)
    assert attempt.response_status == 200
    assert attempt.response_truncated is True
    assert attempt.response_body == "x" * 20_000  # MAX_RESPONSE_BYTES
    assert attempt.duration_ms < 2000
    wait_until(lambda: receiver.streamed, 10, message="the receiver to notice the closed connection")
    # The worker closed the connection: the receiver could not write the 50 MB
    # (at most what fits in the socket buffers went out).
    assert receiver.streamed[0] < 20_000_000


def test_a_redirect_to_a_private_address_is_not_followed(start_cluster, make_webhook, receiver):
    receiver.default = Reply(302, headers={"Location": "http://10.0.0.1/"}, body=b"")
    make_webhook(receiver.url)
    cluster = start_cluster(overrides={"RETRY_SCHEDULE": [0.2, 0.2]})

    event = emit_one()
    (delivery,) = settle([Delivery.objects.get(event=event).pk], cluster=cluster)

    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempt_count == 3
    for attempt in attempts(delivery):
        assert attempt.response_status == 302
        assert attempt.error_class == "redirect"
        assert attempt.error_message == ("HTTP 302: redirects are not followed (Location: http://10.0.0.1/).")
    # Three POSTs reached the receiver and nothing else was tried (the network
    # guard would have logged a connect to 10.0.0.1; the fixture checks it).
    assert len(receiver.requests) == 3
    assert {r.path for r in receiver.requests} == {"/hook"}


def test_429_with_retry_after_waits_at_least_that_long(start_cluster, make_webhook, receiver):
    receiver.script = [Reply(429, headers={"Retry-After": "3"}, body=b"slow down")]
    make_webhook(receiver.url)
    cluster = start_cluster()

    event = emit_one()
    (delivery,) = settle([Delivery.objects.get(event=event).pk], cluster=cluster)

    assert delivery.status == Delivery.Status.SUCCEEDED
    first, _second = attempts(delivery)
    assert (first.response_status, first.error_class) == (429, "http_status")
    assert first.error_message == "HTTP 429 Too Many Requests"
    assert first.response_headers["Retry-After"] == "3"
    gap = receiver.requests[1].at - receiver.requests[0].at
    # Retry-After (3 s) wins over the schedule's first delay (1 s) and is kept.
    assert 3.0 <= gap < 8.0, gap


def self_signed_certificate(path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = path / "cert.pem", path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_a_tls_endpoint_with_a_self_signed_certificate_is_a_tls_error(start_cluster, make_webhook, tmp_path):
    cert_file, key_file = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = Receiver()
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    server.start()
    try:
        # The certificate matches the address; only its issuer is unknown.
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            client = ssl.create_default_context(cafile=str(cert_file))
            with client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.version()
        make_webhook(f"https://127.0.0.1:{server.port}/hook")
        cluster = start_cluster(overrides={"RETRY_SCHEDULE": [0.2, 0.2]})

        event = emit_one()
        (delivery,) = settle([Delivery.objects.get(event=event).pk], cluster=cluster)
    finally:
        server.stop()

    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempt_count == 3
    for attempt in attempts(delivery):
        assert attempt.error_class == "tls"
        assert attempt.error_message.startswith("TLS handshake failed:")
        assert "CERTIFICATE_VERIFY_FAILED" in attempt.error_message
        assert attempt.response_status is None
    assert server.requests == []  # nothing was sent over the untrusted connection


@pytest.mark.parametrize("allowed_by_name", [False, True], ids=["guard-resolves", "allowed-by-name"])
def test_a_name_that_does_not_resolve_is_a_dns_error(start_cluster, make_webhook, allowed_by_name):
    # Not allowed by name, the SSRF guard resolves the name itself; allowed by name,
    # the guard steps aside and urllib3 resolves it. Both end as a DNS error.
    overrides = {"RETRY_SCHEDULE": [0.2, 0.2]}
    if allowed_by_name:
        overrides["ALLOWED_DESTINATIONS"] = ["127.0.0.1", "::1", "nothing.invalid"]
    make_webhook("http://nothing.invalid/hook")
    cluster = start_cluster(overrides=overrides)

    event = emit_one()
    (delivery,) = settle([Delivery.objects.get(event=event).pk], cluster=cluster)

    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempt_count == 3
    for attempt in attempts(delivery):
        assert attempt.error_class == "dns"
        assert attempt.error_message == "The host name could not be resolved (DNS)."
    assert start_cluster.dns_log.read_text().split() == ["nothing.invalid"] * 3


def test_faults_from_many_webhooks_at_once_each_end_in_their_own_state(start_cluster, make_webhook):
    # One cluster, several misbehaving receivers at the same time: a hanging
    # receiver does not hold up the others, and every delivery ends right.
    ok, flaky, slow, gone = (Receiver().start() for _ in range(4))
    try:
        flaky.script = [Reply(503), Reply(500)]
        slow.default = Reply(delay=3)
        gone.default = Reply(410, body=b"")
        hooks = {
            "ok": make_webhook(ok.url, name="ok"),
            "flaky": make_webhook(flaky.url, name="flaky"),
            "slow": make_webhook(slow.url, name="slow", timeout=1),
            "gone": make_webhook(gone.url, name="gone"),
        }
        cluster = start_cluster(overrides={"RETRY_SCHEDULE": [0.5, 0.5]})
        started = time.monotonic()
        events = [emit_one({"id": i}) for i in range(5)]
        ids = list(Delivery.objects.filter(event__in=events).values_list("pk", flat=True))
        settle(ids, timeout=60, cluster=cluster)
        elapsed = time.monotonic() - started
    finally:
        for r in (ok, flaky, slow, gone):
            r.stop()

    by_hook = {
        name: sorted(Delivery.objects.filter(webhook=hook).values_list("status", flat=True))
        for name, hook in hooks.items()
    }
    assert by_hook["ok"] == ["succeeded"] * 5
    assert by_hook["flaky"] == ["succeeded"] * 5
    assert by_hook["slow"] == ["failed"] * 5
    # 410 Gone fails the delivery and disables the webhook; what was still
    # pending for it is cancelled, not sent.
    gone_statuses = by_hook["gone"]
    assert gone_statuses.count("failed") >= 1
    assert set(gone_statuses) <= {"failed", "cancelled"}
    hooks["gone"].refresh_from_db()
    assert hooks["gone"].enabled is False
    assert "410 Gone" in hooks["gone"].disabled_reason
    assert len(ok.requests) == 5
    assert len(gone.requests) == gone_statuses.count("failed")
    # 5 slow deliveries x 3 attempts x 1 s over 2 workers alone take 7.5 s.
    assert elapsed < 45

"""transport.post against a real receiver: what a Result says for each kind of answer."""

import socket
import time

import pytest

import webhooks_app
from tests.receiver import Reply
from webhooks_app import transport

MAX = 20_000


def post(url, *, timeout=2.0, max_bytes=MAX, headers=None, body=b'{"id":"evt_1"}'):
    return transport.post(
        url,
        body=body,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=timeout,
        max_bytes=max_bytes,
    )


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_2xx_answer_is_a_success_with_the_response_recorded(receiver):
    receiver.script = [Reply(202, headers={"X-Trace": "t-1"}, body=b"accepted")]

    result = post(receiver.url, headers={"X-Webhook-Event": "contact.created"})

    assert result.ok
    assert (result.status, result.body, result.truncated) == (202, "accepted", False)
    assert result.headers["X-Trace"] == "t-1"
    assert result.error_class == "" and result.error_message == ""
    assert 0 <= result.duration_ms < 2000
    [request] = receiver.requests
    assert request.method == "POST"
    assert request.body == b'{"id":"evt_1"}'
    assert request.headers["User-Agent"] == f"webhooks_app/{webhooks_app.__version__}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Webhook-Event"] == "contact.created"


def test_an_empty_204_is_a_success(receiver):
    receiver.script = [Reply(204, body=b"")]

    result = post(receiver.url)

    assert result.ok and result.status == 204 and result.body == ""


@pytest.mark.parametrize(("status", "reason"), [(400, "Bad Request"), (404, "Not Found"), (500, "Internal")])
def test_other_statuses_are_http_status_failures(receiver, status, reason):
    receiver.script = [Reply(status, body=b"details")]

    result = post(receiver.url)

    assert not result.ok
    assert result.status == status
    assert result.error_class == "http_status"
    assert result.error_message.startswith(f"HTTP {status} {reason}")
    assert result.body == "details"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_never_followed(receiver, status):
    receiver.script = [Reply(status, headers={"Location": receiver.url + "/moved"})]

    result = post(receiver.url)

    assert len(receiver.requests) == 1
    assert not result.ok
    assert result.status == status
    assert result.error_class == "redirect"
    assert "/hook/moved" in result.error_message


def test_a_response_slower_than_the_timeout_is_a_timeout(receiver):
    receiver.script = [Reply(delay=2)]
    started = time.monotonic()

    result = post(receiver.url, timeout=0.5)

    assert time.monotonic() - started < 1.5
    assert not result.ok
    assert result.status is None
    assert result.error_class == "timeout"


def test_connection_refused():
    result = post(f"http://127.0.0.1:{closed_port()}/hook")

    assert not result.ok
    assert (result.status, result.error_class, result.error_message) == (
        None,
        "connection",
        "Connection refused.",
    )


def test_a_connection_closed_without_an_answer(receiver):
    receiver.script = [Reply(close=True)]

    result = post(receiver.url)

    assert not result.ok and result.status is None
    assert result.error_class in ("interrupted", "connection")


def test_an_unresolvable_host_is_a_dns_error():
    result = post("http://no-such-host.invalid/hook")

    assert not result.ok
    assert result.error_class == "dns"


def test_a_large_body_is_read_only_up_to_the_cap(receiver):
    receiver.script = [Reply(200, stream_bytes=5 * 1024 * 1024)]
    started = time.monotonic()

    result = post(receiver.url, max_bytes=MAX)

    assert time.monotonic() - started < 2
    assert result.ok
    assert result.truncated is True
    assert result.body == "x" * MAX


def test_a_body_of_exactly_the_cap_is_not_truncated(receiver):
    receiver.script = [Reply(200, body=b"y" * 100)]

    result = post(receiver.url, max_bytes=100)

    assert result.ok and result.truncated is False and result.body == "y" * 100


def test_a_loopback_receiver_not_allowed_is_blocked_before_anything_is_sent(receiver, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_DESTINATIONS": []}

    result = post(receiver.url)

    assert not result.ok
    assert result.error_class == "blocked"
    assert "Nothing was sent" in result.error_message
    assert receiver.requests == []


def test_proxies_from_the_environment_are_ignored(receiver, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "")

    result = post(receiver.url)

    assert result.ok
    assert len(receiver.requests) == 1


def test_the_session_is_reused_within_a_process(receiver):
    assert transport.session() is transport.session()
    post(receiver.url)
    post(receiver.url)
    assert len(receiver.requests) == 2

"""The SSRF guard: which addresses deliveries may reach, at validation and at connect time.

Real traffic goes only to loopback on this machine. Every other private or public
address is exercised through the address rules alone, or through the transport with
``socket.getaddrinfo`` replaced; ``socket.socket.connect`` is replaced too, so a
non-loopback connect is recorded and refused instead of made, whatever the code
under test does.
"""

import datetime
import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import override_settings

from tests.receiver import Receiver, Reply
from webhooks_app import services, transport
from webhooks_app.destinations import address_allowed, is_public, literal_address, literal_host_problem
from webhooks_app.exceptions import DestinationNotAllowed
from webhooks_app.models import Attempt, Delivery, Webhook


def allowing(*entries):
    """override_settings with WEBHOOKS['ALLOWED_DESTINATIONS'] set to entries."""
    return override_settings(WEBHOOKS={**settings.WEBHOOKS, "ALLOWED_DESTINATIONS": list(entries)})


@pytest.fixture
def nothing_allowed():
    with allowing():
        yield


@pytest.fixture
def connects(monkeypatch):
    """Every socket connect of the test, recorded; only loopback ones are really made."""
    calls = []
    real_connect = socket.socket.connect

    def connect(sock, address):
        calls.append(address)
        if ipaddress.ip_address(address[0].split("%", 1)[0]).is_loopback:
            return real_connect(sock, address)
        raise ConnectionRefusedError(f"test guard: no connect to {address[0]}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    return calls


@pytest.fixture
def resolve(monkeypatch):
    """resolve(name, *addresses): make ``name`` resolve to these addresses."""
    table, lookups = {}, []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in table:
            lookups.append(host)
            port = int(port or 80)
            infos = []
            for address in table[host]:
                if ":" in address:
                    infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
                else:
                    infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
            return infos
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def add(name, *addresses):
        table[name] = addresses

    add.lookups = lookups
    return add


def post(url, **kwargs):
    return transport.post(url, body=b"{}", headers=kwargs.pop("headers", {}), timeout=3, max_bytes=1000)


def deliver(webhook):
    """One event to one webhook, attempted in-process; returns (delivery, attempts)."""
    event = services.event_emit(event_type="contact.updated", data={"id": 1}, webhooks=[webhook])
    delivery = Delivery.objects.get(event_id=event.pk, webhook=webhook)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery, list(delivery.attempts.all())


# The address rules -----------------------------------------------------------------

BLOCKED = {
    "loopback": ["127.0.0.1", "127.255.255.254", "::1"],
    "rfc1918": ["10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.1.1"],
    "link-local": ["169.254.169.254", "169.254.0.1", "fe80::1", "fe80::1%1"],
    "cgnat": ["100.64.0.1", "100.127.255.254"],
    "multicast": ["224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1"],
    "reserved": ["240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "2001:db8::1", "100::1"],
    "unspecified": ["0.0.0.0", "0.1.2.3", "::"],
    "ipv6-ula": ["fc00::1", "fd12:3456:789a::1", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    "ipv6-site-local": ["fec0::1"],
    "ipv4-mapped": ["::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0:7f00:1"],
    "ipv4-compatible": ["::127.0.0.1", "::10.0.0.1"],
    "6to4": ["2002:7f00:1::", "2002:a00:1::1", "2002:a9fe:a9fe::"],
    "nat64": ["64:ff9b::7f00:1", "64:ff9b::10.0.0.1", "64:ff9b::169.254.169.254", "64:ff9b:1::a00:1"],
    "teredo": ["2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2"],
}
BLOCKED_CASES = [pytest.param(a, id=f"{kind}:{a}") for kind, addresses in BLOCKED.items() for a in addresses]

SPELLINGS = {
    "2130706433": "127.0.0.1",
    "0x7f000001": "127.0.0.1",
    "0X7F000001": "127.0.0.1",
    "0x7f.1": "127.0.0.1",
    "0x7f.0.0.1": "127.0.0.1",
    "0177.0.0.1": "127.0.0.1",
    "017700000001": "127.0.0.1",
    "127.1": "127.0.0.1",
    "127.0.0.1.": "127.0.0.1",
    "0": "0.0.0.0",
    "167772161": "10.0.0.1",
    "012.0.0.1": "10.0.0.1",
    "0xa9.0xfe.0xa9.0xfe": "169.254.169.254",
    "2852039166": "169.254.169.254",
    "[::1]": "::1",
    "[::ffff:127.0.0.1]": "::ffff:7f00:1",
}

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.1",  # just above CGNAT
    "172.32.0.1",  # just above 172.16/12
    "2606:4700:4700::1111",
    "2a00:1450:4001:82b::200e",
    "::ffff:8.8.8.8",
    "2002:808:808::1",  # 6to4 of a public address
    "64:ff9b::8.8.8.8",  # NAT64 of a public address
]


@pytest.mark.parametrize("text", BLOCKED_CASES)
def test_private_and_special_addresses_are_not_public(text, nothing_allowed):
    address = literal_address(text)
    assert address is not None
    assert not is_public(address)
    assert not address_allowed(address)


@pytest.mark.parametrize("text", BLOCKED_CASES)
def test_private_and_special_literals_are_refused_as_url_hosts(text, nothing_allowed):
    problem = literal_host_problem(text)
    assert problem and "deliveries may not reach it" in problem


@pytest.mark.parametrize(("spelling", "meaning"), SPELLINGS.items())
def test_every_spelling_of_an_address_is_read_as_that_address(spelling, meaning, nothing_allowed):
    assert literal_address(spelling) == ipaddress.ip_address(meaning)
    assert literal_host_problem(spelling), spelling


@pytest.mark.parametrize("name", ["example.com", "hooks.example.test", "1.2.3.4.5", "0x7g.1"])
def test_names_are_not_mistaken_for_addresses(name):
    assert literal_address(name) is None
    assert literal_host_problem(name) is None  # checked when resolved, at connect time


@pytest.mark.parametrize("name", ["localhost", "LOCALHOST", "localhost.", "api.localhost"])
def test_localhost_names_are_refused_without_resolving(name, nothing_allowed):
    assert "loopback name" in literal_host_problem(name)


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_are_allowed(text, nothing_allowed):
    address = literal_address(text)
    assert is_public(address)
    assert address_allowed(address)
    assert literal_host_problem(text) is None


def test_allowed_networks_open_exactly_those_networks():
    with allowing("10.0.0.0/8", "fd00::/8", "192.168.1.7"):
        for text in ["10.0.0.1", "10.200.3.4", "::ffff:10.0.0.1", "fd00::5", "192.168.1.7"]:
            assert address_allowed(literal_address(text)), text
            assert literal_host_problem(text) is None, text
        for text in ["192.168.1.8", "172.16.0.1", "127.0.0.1", "fc00::1", "169.254.169.254"]:
            assert not address_allowed(literal_address(text)), text
            assert literal_host_problem(text), text


def test_allowed_host_names_are_honoured_case_insensitively():
    with allowing("hooks.internal", "localhost"):
        assert literal_host_problem("hooks.internal") is None
        assert literal_host_problem("HOOKS.internal.") is None
        assert literal_host_problem("localhost") is None
        assert literal_host_problem("other.localhost")
        assert literal_host_problem("10.0.0.1")


# IPv6 forms that carry an IPv4 address but reach it through a relay or a translator
# (6to4, NAT64, Teredo) or not at all (IPv4-compatible): another host than the address
# they embed, so an IPv4 allow entry never lets them through.
EMBEDDED_LOOPBACK = [
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:7f00:1:ffff::1",
    "64:ff9b::7f00:1",  # NAT64 (RFC 6052)
    "64:ff9b::127.0.0.1",
    "64:ff9b:1::7f00:1",  # local-use NAT64 (RFC 8215)
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
]


@pytest.mark.parametrize("text", EMBEDDED_LOOPBACK)
def test_an_embedded_spelling_of_an_allowed_loopback_address_is_not_that_address(text):
    # tests/settings.py allows 127.0.0.1 and ::1.
    address = literal_address(text)
    assert not address_allowed(address), text
    problem = literal_host_problem(text)
    assert problem and "deliveries may not reach it" in problem, text
    with pytest.raises(ValidationError):
        Webhook(name="Relay", events=["*"], url=f"http://[{text}]:8080/hook").clean_fields()


def test_an_embedded_address_is_judged_by_the_ipv4_rules_but_never_allowed_by_an_ipv4_entry():
    with allowing("10.0.0.0/8", "127.0.0.1"):
        # The IPv4-mapped form is the IPv4 address itself (a dual-stack socket
        # connects to it): allowed with it.
        assert address_allowed(literal_address("::ffff:10.0.0.1"))
        assert address_allowed(literal_address("::ffff:127.0.0.1"))
        for text in ("2002:a00:1::", "64:ff9b::10.0.0.1", "2002:7f00:1::", "64:ff9b::7f00:1"):
            assert not address_allowed(literal_address(text)), text
    # The embedded address decides what is blocked: 6to4 / NAT64 of a public address is public.
    with allowing():
        assert address_allowed(literal_address("2002:808:808::1"))
        assert address_allowed(literal_address("64:ff9b::8.8.8.8"))
    # An IPv6 entry for the relay's own prefix is the operator's explicit choice.
    with allowing("2002::/16"):
        assert address_allowed(literal_address("2002:7f00:1::"))


@pytest.mark.parametrize("text", EMBEDDED_LOOPBACK)
def test_a_name_resolving_to_an_embedded_loopback_address_is_refused_before_connecting(
    text, resolve, connects
):
    resolve("relay.example.test", str(ipaddress.ip_address(text)))

    result = post("http://relay.example.test:8080/hook")

    assert result.error_class == "blocked", result
    assert "Nothing was sent" in result.error_message
    assert connects == []


def test_the_test_settings_allow_loopback_addresses_only_as_listed():
    # tests/settings.py lists 127.0.0.1 and ::1: one address each, not 127/8.
    assert literal_host_problem("127.0.0.1") is None
    assert literal_host_problem("::1") is None
    assert literal_host_problem("127.0.0.2")
    assert literal_host_problem("localhost")


# Validation: a webhook with a literal private URL is refused -------------------------

REFUSED_URLS = [
    "http://10.0.0.5/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.1.1/",
    "http://[::ffff:10.0.0.1]/",
    "http://[fd00::1]:8080/hook",
    "http://[fe80::1%25eth0]/",
    "http://0.0.0.0:8000/",
    "http://[::]/",
    "http://127.0.0.1/",
    "http://127.0.0.1./",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "https://localhost:8443/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", REFUSED_URLS)
def test_a_webhook_with_a_literal_private_url_is_refused_with_a_clear_message(url, nothing_allowed):
    webhook = Webhook(name="Internal", events=["*"], url=url)
    with pytest.raises(ValidationError) as caught:
        webhook.full_clean()
    messages = caught.value.message_dict["url"]
    assert any("may not reach it" in m and "ALLOWED_DESTINATIONS" in m for m in messages) or any(
        "loopback name" in m for m in messages
    ), messages

    with pytest.raises(ValidationError) as caught:
        services.webhook_create(name="Internal", events=["*"], url=url)
    assert "url" in caught.value.message_dict
    assert not Webhook.objects.exists()


@pytest.mark.django_db
def test_the_same_url_is_accepted_once_its_network_is_allowed():
    with allowing("10.0.0.0/8"):
        webhook = services.webhook_create(name="Internal", events=["*"], url="http://10.0.0.5/hook")
    assert webhook.pk


@pytest.mark.django_db
def test_a_public_url_or_a_name_passes_validation_without_any_lookup(resolve, connects, nothing_allowed):
    resolve("never-resolved.example.test")  # would record the lookup
    for url in ["https://93.184.215.14/hook", "https://never-resolved.example.test/hook"]:
        Webhook(name="Public", events=["*"], url=url).full_clean()
    assert resolve.lookups == [] and connects == []


def test_the_url_field_carries_the_validator_that_forms_and_serializers_reuse():
    # ModelForm and the API's ModelSerializer-based validation run the model field's
    # validators; their own tests cover the layers, this pins the shared piece.
    from webhooks_app.validators import validate_webhook_url

    assert validate_webhook_url in Webhook._meta.get_field("url").validators


# Transport: resolve, check, connect to the checked address -----------------------------


@pytest.mark.parametrize(
    "addresses",
    [
        ("10.0.0.5",),
        ("169.254.169.254",),
        ("100.64.0.7",),
        ("::ffff:10.0.0.1",),
        ("fd00::1",),
        ("10.0.0.5", "fd00::1", "169.254.169.254"),
        ("127.0.0.2",),  # loopback, but only 127.0.0.1 is allowed
    ],
    ids=lambda a: "+".join(a),
)
def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(addresses, resolve, connects):
    resolve("internal.example.test", *addresses)

    with pytest.raises(DestinationNotAllowed):
        transport.session().post("http://internal.example.test/hook", data=b"{}", timeout=2)
    result = post("https://internal.example.test/hook")

    assert result.error_class == "blocked"
    assert result.status is None
    for address in addresses:
        assert str(ipaddress.ip_address(address)) in result.error_message
    assert "Nothing was sent" in result.error_message
    assert connects == []


def test_a_public_address_passes_the_guard(resolve, connects):
    # The connect is refused by the test's guard: nothing leaves this machine.
    resolve("public.example.test", "93.184.215.14")
    result = post("http://public.example.test/hook")
    assert result.error_class == "connection"
    assert [c[0] for c in connects] == ["93.184.215.14"]


def test_only_the_checked_addresses_are_connected_to_and_the_name_is_resolved_once(
    receiver, resolve, connects
):
    resolve("mixed.example.test", "10.0.0.5", "169.254.169.254", "127.0.0.1")
    url = f"http://mixed.example.test:{receiver.port}/hook"

    first, second = post(url), post(url)

    assert first.ok and second.ok, (first, second)
    assert {c[0] for c in connects} == {"127.0.0.1"}
    # One lookup per new connection, by the guard; urllib3 itself only sees the
    # checked address, so a second answer (DNS rebinding) cannot slip in.
    assert resolve.lookups == ["mixed.example.test"] * len(connects)
    # The connection keeps the name: Host is the name on every request.
    assert [r.headers["Host"] for r in receiver.wait_for(2)] == [f"mixed.example.test:{receiver.port}"] * 2


def test_a_name_listed_in_allowed_destinations_is_reached(receiver, resolve, connects):
    resolve("hooks.internal", "127.0.0.1")
    with allowing("hooks.internal"):
        result = post(f"http://hooks.internal:{receiver.port}/hook")
        blocked = post(f"http://127.0.0.1:{receiver.port}/hook")
    assert result.ok
    assert blocked.error_class == "blocked"
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_a_delivery_to_a_name_resolving_to_the_metadata_address_is_a_blocked_attempt(resolve, connects):
    webhook = services.webhook_create(name="Cloud", events=["*"], url="http://metadata.example.test/")
    resolve("metadata.example.test", "169.254.169.254")

    delivery, attempts = deliver(webhook)

    assert len(attempts) == 1
    attempt = attempts[0]
    assert attempt.error_class == Attempt.ErrorClass.BLOCKED
    assert "169.254.169.254" in attempt.error_message and "Nothing was sent" in attempt.error_message
    assert attempt.response_status is None
    assert delivery.last_error.startswith("metadata.example.test resolves to 169.254.169.254")
    assert connects == []


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_real_loopback_delivery_is_blocked_when_not_allowed(host, receiver, connects, resolve):
    resolve("localhost", "127.0.0.1")  # whatever /etc/hosts says
    with allowing("127.0.0.1", "localhost"):
        webhook = services.webhook_create(
            name="Loopback", events=["*"], url=f"http://{host}:{receiver.port}/hook", api_key="k-123456789"
        )
    with allowing():
        delivery, attempts = deliver(webhook)

    assert [a.error_class for a in attempts] == [Attempt.ErrorClass.BLOCKED]
    assert "private, loopback or reserved" in attempts[0].error_message
    assert "Nothing was sent" in attempts[0].error_message
    assert delivery.status == Delivery.Status.PENDING  # retried later, like any failure
    assert connects == []
    assert receiver.requests == []


@pytest.mark.django_db
def test_real_ipv6_loopback_delivery_is_blocked_when_not_allowed(connects):
    try:
        receiver = Receiver("::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        webhook = services.webhook_create(name="Loopback6", events=["*"], url=receiver.url)
        with allowing():
            _, attempts = deliver(webhook)
        assert [a.error_class for a in attempts] == [Attempt.ErrorClass.BLOCKED]
        assert connects == [] and receiver.requests == []
        # and the same delivery goes through when ::1 is allowed (the guard is the cause)
        _, attempts = deliver(webhook)
        assert attempts[-1].response_status == 200 and len(receiver.requests) == 1
    finally:
        receiver.stop()


@pytest.mark.django_db
def test_redirects_are_never_followed(receiver):
    second = Receiver().start()
    try:
        receiver.default = Reply(status=302, headers={"Location": second.url})
        webhook = services.webhook_create(name="Redirecting", events=["*"], url=receiver.url)

        _, attempts = deliver(webhook)

        assert len(receiver.wait_for(1)) == 1
        assert second.requests == []
        assert attempts[0].error_class == Attempt.ErrorClass.REDIRECT
        assert attempts[0].response_status == 302
        assert "not followed" in attempts[0].error_message and second.url in attempts[0].error_message
    finally:
        second.stop()


@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_no_redirect_status_is_followed(status, receiver):
    second = Receiver().start()
    try:
        receiver.default = Reply(status=status, headers={"Location": second.url})
        result = post(receiver.url)
        assert result.error_class == "redirect" and result.status == status
        assert second.requests == []
    finally:
        second.stop()


def test_cookies_set_by_a_receiver_are_not_sent_back(receiver):
    receiver.default = Reply(headers={"Set-Cookie": "session=abc; Path=/"})
    assert post(receiver.url).ok and post(receiver.url).ok
    assert [r.headers.get("Cookie") for r in receiver.wait_for(2)] == [None, None]


# HTTPS to a name: the certificate is checked against the name, not the address ----------


def _certificates(tmp_path, name):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject, issuer, key, sign_key, ca, san=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            # Key identifiers: Python 3.13's default context verifies strictly (X509_STRICT)
            # and refuses a chain without them, as it would a real CA's certificate.
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(sign_key.public_key()), critical=False
            )
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        return builder.sign(sign_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("webhooks test CA", "webhooks test CA", ca_key, ca_key, True)
    leaf = build(name, "webhooks test CA", key, ca_key, False, san=name)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp_path / "ca.pem", tmp_path / "leaf.pem", tmp_path / "leaf.key"


def test_https_to_a_checked_name_verifies_the_certificate_of_the_name(
    tmp_path, resolve, connects, monkeypatch
):
    ca, cert, key = _certificates(tmp_path, "secure.example.test")
    seen = {"sni": [], "host": []}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen["host"].append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        resolve("secure.example.test", "127.0.0.1")
        monkeypatch.setattr(transport.session(), "verify", str(ca))
        url = f"https://secure.example.test:{server.server_address[1]}/hook"

        results = [post(url), post(url)]

        assert [r.status for r in results] == [200, 200], results
        assert seen["sni"] and set(seen["sni"]) == {"secure.example.test"}
        assert seen["host"] == [f"secure.example.test:{server.server_address[1]}"] * 2
        assert {c[0] for c in connects} == {"127.0.0.1"}
    finally:
        server.shutdown()
        server.server_close()


# Configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["0.0.0.0/0"], ["webhooks_app.W030"]),
        (["::/0"], ["webhooks_app.W030"]),
        (["0.0.0.0/1", "10.0.0.0/8"], ["webhooks_app.W030"]),
        (["10.0.0.0/8", "fc00::/7", "127.0.0.1", "::1", "hooks.internal"], []),
        (["10.0.0.0/8/8"], ["webhooks_app.E031"]),
        (["bad name"], ["webhooks_app.E031"]),
    ],
)
def test_allowed_destinations_that_open_everything_or_are_invalid_are_reported(entries, expected):
    from webhooks_app.checks import check_settings

    with allowing(*entries):
        ids = [e.id for e in check_settings() if e.id.startswith(("webhooks_app.W03", "webhooks_app.E03"))]
    assert ids == expected

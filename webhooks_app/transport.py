"""The one module that speaks HTTP: a reused session, timeouts, limits, the SSRF guard.

Every request goes through a connection that resolves the host itself, checks each
address against the destination rules and connects to the checked address, so a
name that resolves to a private address is refused before any packet is sent.
Redirects are never followed.
"""

import http.cookiejar
import ipaddress
import os
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError

from . import __version__, texts
from .conf import app_settings
from .destinations import address_allowed, allowed_rules, host_allowed_by_name
from .exceptions import DestinationNotAllowed

USER_AGENT = f"webhooks_app/{__version__}"
CHUNK = 8192


class _GuardedConnectionMixin:
    """Resolve, check every address, then connect to a permitted one.

    The checked address is used for the socket connect only: the connection keeps
    the URL's host name, so the Host header, TLS SNI and the certificate check all
    use the name (urllib3's ``host`` reads ``_dns_host``, which is therefore
    restored after connecting). The name is resolved once per connection, so a
    second lookup (DNS rebinding) cannot swap in an unchecked address.
    """

    def _new_conn(self):
        name = self._dns_host
        if host_allowed_by_name(self.host):
            return super()._new_conn()
        try:
            infos = socket.getaddrinfo(name, self.port, 0, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        networks = allowed_rules()[1]
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))
        permitted = [a for a in addresses if address_allowed(a, networks)]
        if not permitted:
            shown = ", ".join(sorted({str(a) for a in addresses}))
            raise DestinationNotAllowed(
                f"{self.host} resolves to {shown}: a private, loopback or reserved "
                "address that deliveries may not reach (WEBHOOKS['ALLOWED_DESTINATIONS'] "
                "lists exceptions). Nothing was sent."
            )
        error = None
        for address in permitted:
            self._dns_host = str(address)
            try:
                return super()._new_conn()
            except Exception as exc:  # noqa: BLE001 - try the next checked address
                error = exc
            finally:
                self._dns_host = name
        raise error


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }


_session: tuple[int, requests.Session] | None = None


def session() -> requests.Session:
    """One session per process (a forked worker gets its own), reused across tasks."""
    global _session
    if _session is None or _session[0] != os.getpid():
        s = requests.Session()
        s.trust_env = False  # no proxies or .netrc from the environment
        # The session is shared by every webhook: a receiver's Set-Cookie must not be
        # replayed to it (or to another webhook on the same host) later.
        s.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        # Connections kept per destination: as many as a worker sends to one at once.
        per_destination = max(int(app_settings.DESTINATION_CONCURRENCY), 1)
        adapter = GuardedAdapter(pool_connections=64, pool_maxsize=per_destination, max_retries=0)
        s.mount("http://", adapter)
        s.mount("https://", adapter)
        s.headers.clear()
        _session = (os.getpid(), s)
    return _session[1]


def destination(url: str) -> str:
    """What per-destination limits count: the endpoint, i.e. the URL without its query.

    Two webhooks on one host with different paths are two destinations: one that
    hangs does not hold up the other (receivers are isolated per endpoint, as
    hosted webhook services do).
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}{parts.path or '/'}"


@dataclass
class Result:
    """What one POST produced: a response, or an error class and message."""

    status: int | None = None
    headers: dict = field(default_factory=dict)
    body: str = ""
    truncated: bool = False
    duration_ms: int = 0
    error_class: str = ""
    error_message: str = ""
    # The message as a code of webhooks_app.texts and its parameters ("" when it has none),
    # so that the console can show it in the reader's language.
    error_code: str = ""
    error_params: dict = field(default_factory=dict)

    def error_set(self, error_class: str, code: str, **params) -> None:
        self.error_class, self.error_code, self.error_params = error_class, code, params
        self.error_message = texts.english(code, **params)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.error_class


def _classify(exc: BaseException, result: Result) -> None:
    """Put an error class (Attempt.ErrorClass value) and a readable message on ``result``."""
    chain, seen = [], exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, DestinationNotAllowed):
        result.error_class, result.error_message = "blocked", str(exc)
    elif any(isinstance(e, NameResolutionError | socket.gaierror) for e in chain):
        result.error_set("dns", "dns")
    elif isinstance(exc, requests.exceptions.InvalidHeader):
        # requests' message repeats the header value, which may be the API key.
        result.error_set("other", "invalid_header")
    elif isinstance(exc, requests.exceptions.SSLError):
        result.error_set("tls", "tls", detail=_short(exc))
    elif isinstance(exc, requests.exceptions.ConnectTimeout):
        result.error_set("timeout", "connect_timeout")
    elif isinstance(exc, requests.exceptions.Timeout):
        result.error_set("timeout", "read_timeout")
    elif isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        result.error_set("interrupted", "broken_read", detail=_short(exc))
    elif isinstance(exc, requests.exceptions.ConnectionError):
        text = _short(exc)
        if "refused" in text.lower():
            result.error_set("connection", "connection_refused")
        elif "aborted" in text.lower() or "closed" in text.lower() or "reset" in text.lower():
            result.error_set("interrupted", "closed", detail=text)
        else:
            result.error_set("connection", "connection_failed", detail=text)
    else:
        result.error_class, result.error_message = "other", f"{type(exc).__name__}: {_short(exc)}"


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def post(url: str, *, body: bytes, headers: dict, timeout: float, max_bytes: int) -> Result:
    """POST body to url; never raises for network trouble, returns a Result.

    ``timeout`` bounds the whole exchange (connect, response headers and the part
    of the body that is read); at most ``max_bytes`` of the body are read.
    """
    result = Result()
    started = time.monotonic()
    deadline = started + timeout
    response = None
    try:
        response = session().post(
            url,
            data=body,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
        result.status = response.status_code
        result.headers = dict(response.headers)
        chunks, size = [], 0
        for chunk in response.iter_content(CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                result.truncated = True
                break
            if time.monotonic() > deadline:
                raise requests.exceptions.ReadTimeout("total timeout reached while reading the body")
        raw = b"".join(chunks)[:max_bytes]
        result.body = raw.decode(response.encoding or "utf-8", errors="replace")
        if 300 <= response.status_code < 400:
            location = response.headers.get("Location", "")
            result.error_set("redirect", "redirect", status=response.status_code, location=location[:300])
        elif not 200 <= response.status_code < 300:
            result.error_class = "http_status"
            result.error_message = f"HTTP {response.status_code} {response.reason or ''}".strip()
    except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded Attempt
        _classify(exc, result)
    finally:
        if response is not None:
            # Closing instead of draining: an oversized body is not read to the end.
            response.close()
        result.duration_ms = int((time.monotonic() - started) * 1000)
    return result

"""A real HTTP receiver on 127.0.0.1 for delivery tests, scripted per request."""

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook as StandardWebhook


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when the request was read

    def json(self):
        return json.loads(self.body)

    def verify(self, secret: str):
        """Check the Standard Webhooks signature exactly as a receiver would."""
        return StandardWebhook(secret).verify(self.body, self.headers)


@dataclass
class Reply:
    """How the receiver answers one request."""

    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes = b'{"ok": true}'
    delay: float = 0.0  # seconds before answering
    close: bool = False  # close the connection without an answer
    stream_bytes: int = 0  # send this many bytes of body (large responses)


class Receiver:
    """Records every request; answers with scripted replies, then with ``default``."""

    def __init__(self, host: str = "127.0.0.1"):
        self.requests: list[Received] = []
        self.streamed: list[int] = []  # body bytes written per stream_bytes reply
        self.script: list[Reply] = []
        self.default = Reply()
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The status line and headers go out in one write and the body in
            # another: with Nagle's algorithm the body waited for the client's
            # delayed ACK, adding 40 ms to every request on a kept-alive connection.
            disable_nagle_algorithm = True

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Received("POST", self.path, {k: v for k, v in self.headers.items()}, body)
                    )
                    reply = receiver.script.pop(0) if receiver.script else receiver.default
                    receiver._lock.notify_all()
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.close:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.stream_bytes:
                    self.send_header("Content-Length", str(reply.stream_bytes))
                    self.end_headers()
                    chunk = b"x" * 65536
                    sent = 0
                    try:
                        while sent < reply.stream_bytes:
                            n = min(len(chunk), reply.stream_bytes - sent)
                            self.wfile.write(chunk[:n])
                            sent += n
                    except OSError:
                        pass  # the client stopped reading, as it should
                    with receiver._lock:
                        receiver.streamed.append(sent)
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args):
                pass

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

        self.server = Server((host, 0), Handler)
        self.host = host
        self.port = self.server.server_address[1]
        # A short poll interval: shutdown() waits for the serving loop to notice,
        # which with the default 0.5 s added half a second to every test.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/hook"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` requests arrived; returns them (fails on timeout)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver got {len(self.requests)} requests, expected {count}")
                self._lock.wait(left)
            return list(self.requests)

"""The benchmark's receiver: a raw ASGI callable that only counts and answers (served by uvicorn).

    uvicorn tests.bench.receiver_app:app --host 127.0.0.1 --port 0 --http httptools \\
        --loop uvloop --no-access-log --log-level warning

It must never be what the benchmark measures (issue 19): no framework, no parsing of
the body (it is read, then dropped), a fixed answer. ``POST /ok/<name>``, every
delivery the benchmark sends, costs one scan of the headers for ``webhook-id``, one
``time.time()`` and one ``list.append``; the counting happens later, when ``GET
/stats`` folds the new entries into the counters (the harness prints this server's
ceiling under a load generator in the same run).

The path selects the behaviour, the last segment names a counter:
- ``POST /ok/<name>``: 200 at once;
- ``POST /hang/<name>``: 200 after 10 s (``asyncio.sleep``, the event loop stays free);
- ``POST /fail-first/<name>``: 500 the first time a ``webhook-id`` is seen (per name), 200 after.

Per name it keeps the number of requests, of unique webhook-ids, of webhook-ids
answered 2xx (``delivered``), of requests for a webhook-id already answered 2xx
(``duplicates``), of non-2xx answers (``failures``), the receive time
(``time.time()``) of the first request, of the last request, of the last first
receipt of a webhook-id (``last_new_at``), and of the first receipt of each
webhook-id (``first``).

``GET /stats`` returns them as JSON: ``{name: {...}}``; ``?names=a,b`` keeps only
those names, ``?prefix=fan-`` the names that start with it, ``&merge=1`` adds them up
into one counter named by the prefix (the per-id map is then left out);
``?times=0`` leaves out the per-id ``first`` map (large after a long run).
``POST /reset`` clears everything.
"""

import asyncio
import json
from time import time
from urllib.parse import parse_qs

HANG_SECONDS = 10.0


class Counter:
    __slots__ = (
        "duplicates",
        "failures",
        "first",
        "first_at",
        "last_at",
        "last_new_at",
        "ok",
        "requests",
    )

    def __init__(self):
        self.requests = 0
        self.first: dict[str, float] = {}  # webhook-id -> time of its first receipt
        self.ok: set[str] = set()  # webhook-ids answered 2xx
        self.duplicates = 0
        self.failures = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.last_new_at: float | None = None

    def seen(self, webhook_id: str, now: float) -> bool:
        """Count a request; True when its webhook-id was seen before."""
        self.requests += 1
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        if webhook_id in self.first:
            return True
        self.first[webhook_id] = now
        self.last_new_at = now
        return False

    def answered(self, webhook_id: str) -> None:
        """Count a 2xx answer."""
        if webhook_id in self.ok:
            self.duplicates += 1
        else:
            self.ok.add(webhook_id)

    def as_dict(self, times: bool) -> dict:
        out = {
            "requests": self.requests,
            "unique": len(self.first),
            "delivered": len(self.ok),
            "duplicates": self.duplicates,
            "failures": self.failures,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "last_new_at": self.last_new_at,
        }
        if times:
            out["first"] = self.first
        return out


COUNTERS: dict[str, Counter] = {}
# (name, webhook-id, receive time) of each /ok/ request not yet counted: the hot path
# only appends here, GET /stats (or any other path) folds it into COUNTERS.
RECEIVED: list[tuple[str, bytes, float]] = []

OK_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"12")],
}
OK_BODY = {"type": "http.response.body", "body": b'{"ok": true}'}


def counter_of(name: str) -> Counter:
    counter = COUNTERS.get(name)
    if counter is None:
        counter = COUNTERS[name] = Counter()
    return counter


def fold() -> None:
    """Count the /ok/ requests received since the last fold (the event loop runs one
    callback at a time: nothing is appended meanwhile)."""
    if not RECEIVED:
        return
    entries = RECEIVED[:]
    RECEIVED.clear()
    for name, raw_id, now in entries:
        counter = counter_of(name)
        webhook_id = raw_id.decode("latin-1")
        counter.seen(webhook_id, now)
        counter.answered(webhook_id)


def merged(name: str, counters: list[Counter]) -> dict:
    firsts = [c.first_at for c in counters if c.first_at is not None]
    lasts = [c.last_at for c in counters if c.last_at is not None]
    news = [c.last_new_at for c in counters if c.last_new_at is not None]
    return {
        "names": len(counters),
        "requests": sum(c.requests for c in counters),
        "unique": sum(len(c.first) for c in counters),
        "delivered": sum(len(c.ok) for c in counters),
        "duplicates": sum(c.duplicates for c in counters),
        "failures": sum(c.failures for c in counters),
        "first_at": min(firsts) if firsts else None,
        "last_at": max(lasts) if lasts else None,
        "last_new_at": max(news) if news else None,
    }


async def _read_body(receive) -> bool:
    """Read the whole request body; False when the client went away."""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        more = message.get("more_body", False)
    return True


async def _answer(send, status: int, payload: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _webhook_id(scope) -> bytes:
    for key, value in scope["headers"]:
        if key == b"webhook-id":
            return value
    return b""


async def app(scope, receive, send):
    if scope["type"] == "http":
        path = scope["path"]
        if path.startswith("/ok/") and scope["method"] == "POST":
            # The hot path: read the body, note the receipt, answer a fixed 200.
            message = await receive()
            while message.get("more_body"):
                message = await receive()
            RECEIVED.append((path[4:], _webhook_id(scope), time()))
            await send(OK_START)
            await send(OK_BODY)
            return
        await _other(scope, receive, send)
        return
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _other(scope, receive, send) -> None:
    if not await _read_body(receive):
        return
    now = time()
    fold()
    method, path = scope["method"], scope["path"]

    if path == "/stats" and method == "GET":
        query = parse_qs(scope.get("query_string", b"").decode())
        times = query.get("times", ["1"])[0] != "0"
        names = [n for n in ",".join(query.get("names", [])).split(",") if n]
        prefix = query.get("prefix", [""])[0]
        if names:
            selected = {n: COUNTERS[n] for n in names if n in COUNTERS}
        elif prefix:
            selected = {n: c for n, c in COUNTERS.items() if n.startswith(prefix)}
        else:
            selected = COUNTERS
        if prefix and query.get("merge", ["0"])[0] == "1":
            body = json.dumps({prefix: merged(prefix, list(selected.values()))}).encode()
        else:
            body = json.dumps({n: c.as_dict(times) for n, c in selected.items()}).encode()
        await _answer(send, 200, body)
        return
    if path == "/reset" and method == "POST":
        COUNTERS.clear()
        RECEIVED.clear()
        await _answer(send, 200, b'{"reset": true}')
        return

    parts = path.strip("/").split("/")
    if method != "POST" or len(parts) != 2 or parts[0] not in ("hang", "fail-first"):
        await _answer(send, 404, b'{"error": "unknown path"}')
        return
    kind, name = parts
    webhook_id = _webhook_id(scope).decode("latin-1")
    counter = counter_of(name)
    seen = counter.seen(webhook_id, now)
    if kind == "fail-first" and not seen:
        counter.failures += 1
        await _answer(send, 500, b'{"error": "first try fails"}')
        return
    counter.answered(webhook_id)
    if kind == "hang":
        await asyncio.sleep(HANG_SECONDS)
    await _answer(send, 200, b'{"ok": true}')

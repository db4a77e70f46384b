"""The benchmark's receiver: a tiny ASGI app that only counts and answers (served by uvicorn).

    uvicorn tests.bench.receiver_app:app --host 127.0.0.1 --port 0 --loop asyncio \\
        --log-level warning --no-access-log

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
those names, ``?times=0`` leaves out the per-id ``first`` map (large after a long
run). ``POST /reset`` clears everything.
"""

import asyncio
import json
import time
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


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if not await _read_body(receive):
        return
    now = time.time()
    method, path = scope["method"], scope["path"]

    if path == "/stats" and method == "GET":
        query = parse_qs(scope.get("query_string", b"").decode())
        times = query.get("times", ["1"])[0] != "0"
        names = [n for n in ",".join(query.get("names", [])).split(",") if n]
        selected = {n: COUNTERS[n] for n in names if n in COUNTERS} if names else COUNTERS
        body = json.dumps({n: c.as_dict(times) for n, c in selected.items()}).encode()
        await _answer(send, 200, body)
        return
    if path == "/reset" and method == "POST":
        COUNTERS.clear()
        await _answer(send, 200, b'{"reset": true}')
        return

    parts = path.strip("/").split("/")
    if method != "POST" or len(parts) != 2 or parts[0] not in ("ok", "hang", "fail-first"):
        await _answer(send, 404, b'{"error": "unknown path"}')
        return
    kind, name = parts
    webhook_id = ""
    for key, value in scope["headers"]:
        if key == b"webhook-id":
            webhook_id = value.decode("latin-1")
            break
    counter = COUNTERS.get(name)
    if counter is None:
        counter = COUNTERS[name] = Counter()
    counter.requests += 1
    if counter.first_at is None:
        counter.first_at = now
    counter.last_at = now
    seen = webhook_id in counter.first
    if not seen:
        counter.first[webhook_id] = now
        counter.last_new_at = now

    if kind == "fail-first" and not seen:
        counter.failures += 1
        await _answer(send, 500, b'{"error": "first try fails"}')
        return
    if webhook_id in counter.ok:
        counter.duplicates += 1
    else:
        counter.ok.add(webhook_id)
    if kind == "hang":
        await asyncio.sleep(HANG_SECONDS)
    await _answer(send, 200, b'{"ok": true}')

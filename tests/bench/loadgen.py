"""A load generator for the benchmark: wrk when it is installed, else a Python one of its own.

    python -m tests.bench.loadgen URL --seconds 5 --connections 32 [--body-file F] [--header K:V ...]

``run()`` POSTs (or GETs, without a body) the same request over ``connections``
kept-alive connections, one request in flight on each, for ``seconds``, and returns
``{"tool", "requests", "per_second", "non_2xx", "errors", "seconds", ...}``. It uses
``wrk`` (Debian's package; ``make bench`` installs it when it can) with a Lua script
that sets the method, body and headers; without wrk it forks processes (one per CPU,
at most 2) that each drive their share of the connections through non-blocking
sockets. The Python generator is slower than wrk: the figure it prints for a fast
server is a lower bound of that server's ceiling, and the output says which tool
measured it.
"""

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def run(
    url: str,
    *,
    seconds: float,
    connections: int,
    body: bytes = b"",
    headers: dict | None = None,
    method: str = "POST",
    tool: str = "auto",
) -> dict:
    """Load `url` for `seconds`; the figures of the tool used (wrk, else the Python generator)."""
    headers = dict(headers or {})
    if tool in ("auto", "wrk") and wrk_path():
        return _run_wrk(
            url, seconds=seconds, connections=connections, body=body, headers=headers, method=method
        )
    if tool == "wrk":
        raise RuntimeError("wrk is not installed")
    return _run_python(
        url, seconds=seconds, connections=connections, body=body, headers=headers, method=method
    )


# --- wrk ------------------------------------------------------------------------------------


def _run_wrk(url, *, seconds, connections, body, headers, method) -> dict:
    lines = [f"wrk.method = {_lua_string(method)}"]
    if body:
        lines.append(f"wrk.body = {_lua_string(body.decode())}")
    for key, value in headers.items():
        lines.append(f"wrk.headers[ {_lua_string(key)} ] = {_lua_string(value)}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        duration = max(1, round(seconds))
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            script.name,
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    finally:
        os.unlink(script.name)
    out = done.stdout
    if done.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or out.strip()}"[:500])
    return parse_wrk(out, connections=connections)


def _latency_ms(text: str) -> float | None:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out: str, *, connections: int) -> dict:
    """The figures of wrk's text output."""
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s|m)", out)
    per_second = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    seconds = None
    if total:
        seconds = float(total.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[total.group(3)]
    latency = {}
    for share in ("50", "90", "99"):
        match = re.search(rf"^\s+{share}%\s+(\S+)", out, re.MULTILINE)
        if match:
            latency[f"p{share}_ms"] = _latency_ms(match.group(1))
    return {
        "tool": "wrk",
        "connections": connections,
        "requests": int(total.group(1)) if total else None,
        "seconds": seconds,
        "per_second": float(per_second.group(1)) if per_second else None,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "errors": sum(int(g) for g in errors.groups()) if errors else 0,
        **latency,
    }


# --- the Python generator -------------------------------------------------------------------


def _request_bytes(url: str, method: str, body: bytes, headers: dict) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection:
    __slots__ = ("buffer", "closing", "sent_at", "sock")

    def __init__(self):
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.closing = False
        self.sent_at = 0.0


def _drive(host, port, request, connections, start_at, end_at, results) -> None:
    """One process: `connections` keep-alive connections, one request in flight on each."""
    selector = selectors.DefaultSelector()
    counts = {"requests": 0, "non_2xx": 0, "errors": 0}
    latencies: list[float] = []

    def connect(conn: _Connection) -> None:
        sock = socket.create_connection((host, port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn.sock, conn.buffer, conn.closing = sock, b"", False
        selector.register(sock, selectors.EVENT_READ, conn)

    def send(conn: _Connection) -> None:
        conn.sent_at = time.perf_counter()
        conn.sock.sendall(request)

    def reconnect(conn: _Connection) -> None:
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(conn.sock)
        conn.sock.close()
        connect(conn)
        send(conn)

    while time.time() < start_at:
        time.sleep(min(0.01, max(start_at - time.time(), 0)))
    pool = [_Connection() for _ in range(connections)]
    for conn in pool:
        connect(conn)
        send(conn)
    while time.time() < end_at:
        for key, _ in selector.select(timeout=0.2):
            conn: _Connection = key.data
            try:
                chunk = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                counts["errors"] += 1
                reconnect(conn)
                continue
            if not chunk:  # the server closed (a worker that does not keep connections alive)
                if conn.buffer:
                    counts["errors"] += 1
                reconnect(conn)
                continue
            conn.buffer += chunk
            while True:
                head_end = conn.buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                head = conn.buffer[:head_end].decode("latin-1")
                match = re.search(r"(?im)^content-length:\s*(\d+)", head)
                length = int(match.group(1)) if match else 0
                if len(conn.buffer) < head_end + 4 + length:
                    break
                conn.buffer = conn.buffer[head_end + 4 + length :]
                status = int(head[9:12]) if head.startswith("HTTP/1.") else 0
                counts["requests"] += 1
                counts["non_2xx"] += not (200 <= status < 400)
                latencies.append(time.perf_counter() - conn.sent_at)
                if re.search(r"(?im)^connection:\s*close", head):
                    reconnect(conn)
                else:
                    send(conn)
                break
    for conn in pool:
        with contextlib.suppress(OSError):
            conn.sock.close()
    latencies.sort()
    sample = latencies[:: max(1, len(latencies) // 20_000)]
    results.put({**counts, "latencies": sample})


def _run_python(url, *, seconds, connections, body, headers, method) -> dict:
    host, port, request = _request_bytes(url, method, body, headers)
    processes = max(1, min(2, len(os.sched_getaffinity(0)), connections))
    shares = [connections // processes + (i < connections % processes) for i in range(processes)]
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start_at = time.time() + 0.5
    end_at = start_at + seconds
    procs = [
        context.Process(target=_drive, args=(host, port, request, share, start_at, end_at, results))
        for share in shares
    ]
    for proc in procs:
        proc.start()
    outs = []
    try:
        for _ in procs:
            outs.append(results.get(timeout=seconds + 60))
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
    total = sum(o["requests"] for o in outs)
    latencies = sorted(x for o in outs for x in o["latencies"])

    def share(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else None

    return {
        "tool": f"python ({processes} processes)",
        "connections": connections,
        "requests": total,
        "seconds": seconds,
        "per_second": total / seconds,
        "non_2xx": sum(o["non_2xx"] for o in outs),
        "errors": sum(o["errors"] for o in outs),
        "p50_ms": share(0.5),
        "p90_ms": share(0.9),
        "p99_ms": share(0.99),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--method", default="POST")
    parser.add_argument("--body-file")
    parser.add_argument("--header", action="append", default=[], help="Name: value")
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args(argv)
    body = Path(args.body_file).read_bytes() if args.body_file else b""
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    result = run(
        args.url,
        seconds=args.seconds,
        connections=args.connections,
        body=body,
        headers=headers,
        method=args.method,
        tool=args.tool,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

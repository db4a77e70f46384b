"""The benchmark's own pieces (issue 19), without a run: the receiver, the refusal rule,
the targets table, the profile's top entries and the generated Performance figures."""

import asyncio
import json

import pytest

from tests.bench import receiver_app, report, targets
from tests.bench.apps import drain_counts
from tests.bench.sections_more import profile_tops
from tests.bench.webhooks_bench import derive, render


def call(method: str, path: str, webhook_id: str = "", query: str = "") -> tuple[int, bytes]:
    """One request to the receiver's ASGI callable; (status, body)."""
    sent = []
    messages = [{"type": "http.request", "body": b'{"x": 1}', "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    if webhook_id:
        headers.append((b"webhook-id", webhook_id.encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers,
        "query_string": query.encode(),
    }
    asyncio.run(receiver_app.app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture
def receiver():
    receiver_app.COUNTERS.clear()
    receiver_app.RECEIVED.clear()
    yield
    receiver_app.COUNTERS.clear()
    receiver_app.RECEIVED.clear()


def stats(query: str = "times=0") -> dict:
    status, body = call("GET", "/stats", query=query)
    assert status == 200
    return json.loads(body)


def test_the_receivers_hot_path_only_notes_the_receipt_and_stats_counts_it_later(receiver):
    assert call("POST", "/ok/a", "evt_1") == (200, b'{"ok": true}')
    call("POST", "/ok/a", "evt_2")
    call("POST", "/ok/a", "evt_1")
    assert len(receiver_app.RECEIVED) == 3 and not receiver_app.COUNTERS  # nothing counted yet

    a = stats("names=a&times=1")["a"]

    assert (a["requests"], a["unique"], a["delivered"], a["duplicates"]) == (3, 2, 2, 1)
    assert set(a["first"]) == {"evt_1", "evt_2"} and a["first"]["evt_1"] == a["first_at"]
    assert a["last_new_at"] == a["first"]["evt_2"] <= a["last_at"]
    assert not receiver_app.RECEIVED


def test_fail_first_counts_in_order_with_what_the_hot_path_noted(receiver):
    call("POST", "/ok/y", "evt_1")  # noted, not yet counted
    assert call("POST", "/fail-first/y", "evt_1")[0] == 200  # seen before: answered
    assert call("POST", "/fail-first/y", "evt_2")[0] == 500
    assert call("POST", "/fail-first/y", "evt_2")[0] == 200
    y = stats("names=y")["y"]
    assert (y["requests"], y["failures"], y["delivered"], y["duplicates"]) == (4, 1, 2, 1)


def test_stats_merges_the_names_of_a_prefix(receiver):
    for i in range(3):
        call("POST", f"/ok/fan-{i:04d}", "evt_1")
    call("POST", "/ok/other", "evt_9")
    merged = stats("prefix=fan-&merge=1")["fan-"]
    assert (merged["names"], merged["requests"], merged["delivered"]) == (3, 3, 3)
    assert call("GET", "/ok/x")[0] == 404
    assert call("POST", "/reset")[0] == 200 and stats() == {}


def test_no_ratio_against_a_loop_above_a_third_of_the_receivers_ceiling():
    assert targets.refusal(1_000, 3_100) == ""
    assert "more than a third" in targets.refusal(1_100, 3_000)
    assert "not measured" in targets.refusal(1_000, None)


def results_of_a_run(loop_per_second: float, ceiling: float) -> dict:
    loop = {
        "measured": "before the postgres/orm drain",
        "processes": 2,
        "per_second": loop_per_second,
        "ceiling_per_second": ceiling,
        "ceiling_tool": "wrk",
        "ceiling_us_per_request": 40.0,
        "share_of_ceiling": loop_per_second / ceiling,
        "refused": targets.refusal(loop_per_second, ceiling),
    }
    drain = {
        "db": "postgres",
        "broker": "orm",
        "per_second": 700.0,
        "per_second_after_first": 800.0,
        "loop_per_second": loop_per_second,
    }
    return {
        "machine": {
            "nproc": 2,
            "cpu": "Test CPU",
            "memory_gib": 4,
            "postgresql": "15",
            "redis": "7",
            "python": "3.11",
            "django": "5.2",
        },
        "args": {"workers": 2, "db": "postgres", "broker": "orm", "sections": [1, 2, 6, 13]},
        "started_at": 1796400000.0,
        "seconds": 600,
        "load": [(2.5, 2, 2), (4.0, 3, 2)],
        "notes": [],
        "sections": {
            "1": [loop],
            "2": [drain],
            "6": [
                {"db": "postgres", "broker": "orm", "webhooks": 1000, "endpoints": 1000, "per_second": 600.0}
            ],
            "13": [
                {
                    "db": "postgres",
                    "broker": "orm",
                    "workers": 2,
                    "emits": 6000,
                    "queued_wakeups": 6000,
                    "drain_tasks": 6001,
                    "empty_drains": 5999,
                }
            ],
        },
    }


def by_figure(results: dict, start: str) -> dict:
    return next(r for r in results["targets"] if r["figure"].startswith(start))


def test_every_ratio_to_the_loop_has_its_target_and_the_ceiling_beside_it():
    results = results_of_a_run(1_000.0, 30_000.0)
    derive(results)

    drain = by_figure(results, "drain")
    assert drain["ratio"] == pytest.approx(0.7) and drain["met"] is True
    assert drain["target"] == ">= 0.7x the loop (never below 0.5x)"
    assert "ceiling 30,000/s" in drain["reference"]
    fanout = by_figure(results, "one event to 1000 webhooks")
    assert fanout["ratio"] == pytest.approx(0.75) and fanout["met"] is True
    wakeups = by_figure(results, "a burst of 6,000 emits: wake-ups")
    empty = by_figure(results, "a burst of 6,000 emits: empty")
    assert (wakeups["met"], empty["met"], empty["measured"]) == (False, False, "5999 of 6001 drains")
    text = render(results, [1, 2, 6, 13])
    assert "== Targets (issue 19) ==" in text and "receiver ceiling 30,000-30,000 requests/s (wrk)" in text


def test_a_ratio_is_refused_when_the_receiver_could_be_the_limit():
    results = results_of_a_run(1_500.0, 3_000.0)
    derive(results)

    drain = by_figure(results, "drain")
    assert drain["ratio"] is None and drain["met"] is None and targets.met_text(drain) == "refused"
    assert results["sections"]["2"][0]["ratio"] is None
    assert by_figure(results, "one event")["ratio"] is None  # the drain it compares with is refused too
    assert "more than a third of the receiver's ceiling" in render(results, [1, 2])


def test_the_performance_figures_are_generated_from_the_json_of_a_run():
    results = results_of_a_run(1_000.0, 30_000.0)
    derive(results)

    page = report.render(json.loads(json.dumps(results)))

    assert page.startswith("<!-- Generated by `python -m tests.bench.report`")
    assert "Measured on 2026-" in page and "2 CPUs (Test CPU)" in page
    assert "Load average (1 min) during the run: 2.5-4.0" in page
    assert "**30,000 requests/s** (40 us of CPU per request)" in page
    assert "| drain, orm broker | postgres | orm | 700/s (800/s from the 1st receipt) |" in page


def test_the_profile_top_counts_own_time_in_the_worker_processes_only():
    raw = "\n".join(
        [
            'process 1:"qcluster";process 2:"qcluster";process 3:"qcluster";run;_claim (d.py) 30',
            'process 1:"qcluster";process 2:"qcluster";process 3:"qcluster";run;post (t.py);readinto (s.py) 50',
            'process 1:"qcluster";process 2:"qcluster";process 4:"qcluster";run;record (d.py) 20',
            'process 1:"qcluster";process 2:"qcluster";process 9:"qcluster";monitor (m.py) 500',
        ]
    )
    rows, summary = profile_tops(raw, {3, 4}, top=15)
    assert [(r["function"], r["own_pct"]) for r in rows] == [
        ("readinto (s.py)", 50.0),
        ("_claim (d.py)", 30.0),
        ("record (d.py)", 20.0),
    ]
    assert summary["worker_samples"] == 100 and summary["all_samples"] == 600
    assert {e["function"]: e["inclusive_pct"] for e in summary["inclusive"]}["post (t.py)"] == 50.0


def test_empty_drains_are_the_drain_tasks_that_claimed_nothing():
    lines = [
        {"func": "webhooks_app.tasks.deliveries_drain", "success": True, "claimed": 0},
        {"func": "webhooks_app.tasks.deliveries_drain", "success": True, "claimed": 64},
        {"func": "webhooks_app.tasks.deliveries_sweep", "success": True, "claimed": None},
    ]
    assert drain_counts(lines) == {"drain_tasks": 2, "empty_drains": 1, "failed_tasks": 0}

"""Issue 19's table: every figure of a benchmark run with its target beside it (no Django here).

``build(results)`` turns the sections' rows of one run (webhooks_bench.py's
results) into rows ``{"figure", "db", "broker", "measured", "reference", "ratio",
"target", "met", "note"}``; ``met`` is True, False, or None when there is no
target or no figure (``note`` says why: e.g. a ratio refused because the plain loop
reached more than a third of the receiver's ceiling). webhooks_bench prints them as
a text table, report.py as Markdown.
"""

# Issue 19's targets.
DRAIN_TARGET = {"postgres": 0.7, "sqlite": 0.4}
DRAIN_FLOOR = {"postgres": 0.5}
E2E_TARGET = 0.6  # PostgreSQL
EMIT_TARGETS = {(1, "autocommit"): 2.0, (10, "autocommit"): 2.5, (10, "atomic"): 1.5}
API_HTTP_TARGET = 0.7
FANOUT_TARGET = 0.7
LATENCY_P99_MS = {"sqlite": 1000.0}
ISOLATION_TARGET = 0.8
CEILING_SHARE = 1 / 3  # a loop above this share of the receiver's ceiling gets no ratio


def refusal(loop_per_second, ceiling_per_second) -> str:
    """Why no ratio may be reported against this loop ("" when it may): the receiver would
    be the limit when the loop reaches more than a third of the receiver's ceiling."""
    if not ceiling_per_second:
        return "no ratio: the receiver's ceiling was not measured"
    if loop_per_second and loop_per_second > ceiling_per_second * CEILING_SHARE:
        return (
            f"no ratio: the loop reached {loop_per_second:,.0f}/s, more than a third of the receiver's "
            f"ceiling ({ceiling_per_second:,.0f}/s): the receiver would be what is measured"
        )
    return ""


def per_s(value) -> str:
    return "-" if value is None else f"{value:,.0f}/s"


def ms(value) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def _row(figure, config=None, **fields) -> dict:
    config = config or {}
    row = {
        "figure": figure,
        "db": config.get("db", ""),
        "broker": config.get("broker", ""),
        "measured": "-",
        "reference": "",
        "ratio": None,
        "target": "-",
        "met": None,
        "note": "",
    }
    row.update(fields)
    return row


def _at_least(value, target):
    return None if value is None else value >= target


def _at_most(value, target):
    return None if value is None else value <= target


def build(results: dict) -> list[dict]:
    sections = results.get("sections", {})
    workers = results.get("args", {}).get("workers")
    out = []

    for loop in sections.get("1", []):
        ceiling = loop.get("ceiling_per_second")
        out.append(
            _row(
                f"plain requests.Session.post loop, {loop.get('processes')} processes ({loop.get('measured')})",
                measured=per_s(loop.get("per_second")),
                reference=f"receiver ceiling {per_s(ceiling)} ({loop.get('ceiling_tool') or '-'})",
                ratio=loop.get("share_of_ceiling"),
                target="the limit; <= 1/3 of the receiver's ceiling",
                met=None if not ceiling else not loop.get("refused"),
                note=loop.get("refused") or loop.get("ceiling_error", ""),
            )
        )

    for row in sections.get("2", []):
        db = row.get("db")
        target = DRAIN_TARGET.get(db)
        text = f">= {target}x the loop" + (f" (never below {DRAIN_FLOOR[db]}x)" if db in DRAIN_FLOOR else "")
        out.append(
            _row(
                f"drain, {row.get('broker')} broker",
                row,
                measured=f"{per_s(row.get('per_second'))} ({per_s(row.get('per_second_after_first'))} from the 1st receipt)",
                reference=f"loop {per_s(row.get('loop_per_second'))}; ceiling {per_s(row.get('ceiling_per_second'))}",
                ratio=row.get("ratio"),
                target=text if target else "-",
                met=_at_least(row.get("ratio"), target) if target else None,
                note=row.get("refused") or row.get("error", ""),
            )
        )

    for row in sections.get("10", []):
        target = E2E_TARGET if row.get("db") == "postgres" else None
        out.append(
            _row(
                "end to end (watched saves while the cluster delivers)",
                row,
                measured=f"{per_s(row.get('per_second'))} (saves {per_s(row.get('saves_per_second'))})",
                reference=f"loop {per_s(row.get('loop_per_second'))}; ceiling {per_s(row.get('ceiling_per_second'))}",
                ratio=row.get("ratio"),
                target=f">= {target}x the loop" if target else "-",
                met=_at_least(row.get("ratio"), target) if target else None,
                note=row.get("refused") or row.get("error", ""),
            )
        )

    emits = {
        (r.get("db"), r.get("broker"), r.get("webhooks"), r.get("mode")): r for r in sections.get("3", [])
    }
    for (db, broker, webhooks, mode), row in emits.items():
        target = EMIT_TARGETS.get((webhooks, mode))
        if target is None:
            continue
        plain = emits.get((db, broker, "unwatched", mode), {})
        out.append(
            _row(
                f"Contact.objects.create() with {webhooks} webhook{'s' if webhooks != 1 else ''}, {mode}",
                row,
                measured=f"{row.get('median_us', 0):,.0f} us, {row.get('queries', 0):.0f} queries",
                reference=f"plain save {plain.get('median_us', 0):,.0f} us",
                ratio=row.get("ratio"),
                target=f"<= {target}x a plain save",
                met=_at_most(row.get("ratio"), target),
                note=row.get("error", ""),
            )
        )

    for row in sections.get("11", []):
        if "/api/events/" not in row.get("endpoint", ""):
            continue
        listed = "list" in row["endpoint"]
        unsupported = row.get("error", "").startswith("not supported")
        measured = (
            "not supported"
            if unsupported
            else (
                f"{ms(row.get('median_ms'))} per request, {per_s(row.get('events_per_second'))} events"
                if listed
                else f"{row.get('median_ms', 0):.2f} ms, {row.get('queries', 0):.0f} queries"
                if row.get("median_ms")
                else "-"
            )
        )
        out.append(
            _row(
                f"{row['endpoint']}, in process",
                row,
                measured=measured,
                reference=f"minimal DRF view {row.get('minimal_ms', 0):.2f} ms, {row.get('minimal_queries', 0):.0f} queries"
                if row.get("minimal_ms")
                else "",
                ratio=row.get("ratio"),
                target="one transaction, one wake-up" if listed else "no COUNT for the answer",
                note=row.get("error", ""),
            )
        )

    for row in sections.get("12", []):
        endpoint = row.get("endpoint", "")
        if "/api/events/" not in endpoint:
            continue
        listed = "lists" in endpoint
        clients = f", {row['clients']} clients" if row.get("clients") else ""
        unsupported = row.get("error", "").startswith("not supported")
        out.append(
            _row(
                f"POST {endpoint} over HTTP{clients}, gunicorn {row.get('variant')}",
                row,
                measured="not supported"
                if unsupported
                else per_s(row.get("events_per_second")) + (" events" if listed else ""),
                reference="" if listed else f"minimal DRF view {per_s(row.get('minimal_per_second'))}",
                ratio=None if listed else row.get("ratio"),
                target="-" if listed else f">= {API_HTTP_TARGET}x the minimal DRF view",
                met=None if listed else _at_least(row.get("ratio"), API_HTTP_TARGET),
                note=row.get("error", "")
                or (f"{row['non_2xx']} non-2xx answers" if row.get("non_2xx") else ""),
            )
        )

    for row in sections.get("6", []):
        out.append(
            _row(
                f"one event to {row.get('webhooks')} webhooks ({row.get('endpoints') or '-'} endpoints)",
                row,
                measured=f"{per_s(row.get('per_second'))}, {row['seconds']:.1f} s"
                if row.get("seconds")
                else per_s(row.get("per_second")),
                reference=f"drain {per_s(row.get('drain_per_second'))} from its 1st receipt",
                ratio=row.get("ratio"),
                target=f">= {FANOUT_TARGET}x the drain",
                met=_at_least(row.get("ratio"), FANOUT_TARGET),
                note=row.get("refused") or row.get("error", ""),
            )
        )

    for row in sections.get("13", []):
        limit = row.get("workers") or workers
        out.append(
            _row(
                f"a burst of {row.get('emits', 0):,} emits: wake-ups queued after it",
                row,
                measured=f"{row.get('queued_wakeups', '-')}",
                target=f"<= {limit} (the workers)",
                met=_at_most(row.get("queued_wakeups"), limit),
                note=row.get("error", ""),
            )
        )
        out.append(
            _row(
                f"a burst of {row.get('emits', 0):,} emits: empty drains it caused",
                row,
                measured=f"{row.get('empty_drains', '-')} of {row.get('drain_tasks', '-')} drains",
                target=f"<= {limit} (the workers)",
                met=_at_most(row.get("empty_drains"), limit),
                note=row.get("error", ""),
            )
        )

    for row in sections.get("4", []):
        target = LATENCY_P99_MS.get(row.get("db"))
        out.append(
            _row(
                "commit-to-receipt p99, light load",
                row,
                measured=ms(row.get("p99_ms")),
                reference=f"p50 {ms(row.get('p50_ms'))}",
                target=f"< {target / 1000:.0f} s" if target else "-",
                met=None if not target or row.get("p99_ms") is None else row["p99_ms"] < target,
                note=row.get("error", ""),
            )
        )

    for row in sections.get("5", []):
        if row.get("variant") == "alone":
            continue
        out.append(
            _row(
                "isolation: a healthy webhook next to a hanging one",
                row,
                measured=per_s(row.get("per_second")),
                reference="the same webhook alone",
                ratio=row.get("ratio"),
                target=f">= {ISOLATION_TARGET}x alone",
                met=_at_least(row.get("ratio"), ISOLATION_TARGET),
                note=row.get("error", ""),
            )
        )
    return out


def met_text(row: dict) -> str:
    if row["met"] is None:
        return "refused" if row.get("note", "").startswith("no ratio") else "-"
    return "yes" if row["met"] else "NO"


def ratio_text(row: dict) -> str:
    return "-" if row.get("ratio") is None else f"{row['ratio']:.2f}"

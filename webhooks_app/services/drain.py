"""The drain: what a worker does when woken. Claim due deliveries, send them
concurrently, record the results in bulk, until nothing is due or the time is up.

A pipeline, not rounds: as soon as some requests finish, their results are
recorded and new deliveries claimed in the same short transaction, so a slow
request never holds up the next work. A thread pool per worker process sends
(CONCURRENCY requests at once, each thread using the process' requests session
with its kept-alive connections), and each destination (scheme, host, port) gets
at most DESTINATION_CONCURRENCY of them: a receiver that hangs until the timeout
occupies that many threads, never the whole worker. Claimed deliveries waiting for
a busy destination are given back when it turns out slow, so another worker (or a
later claim) takes them with their lease intact.
"""

import logging
import os
import time
from collections import Counter, defaultdict, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from django.db import router, transaction

from ..conf import app_settings
from ..models import Delivery
from . import deliveries, queue

logger = logging.getLogger(__name__)

# A destination whose oldest request in flight has run this long is slow: the
# deliveries held for it are given back and it gets no more until one finishes.
SLOW_AFTER = 1.0
# After a claim that found less than it asked for, the next claim waits this long
# unless requests finish (there is no point asking the database 100 times a second).
IDLE_CLAIM_INTERVAL = 0.1

_pool: tuple[int, int, ThreadPoolExecutor] | None = None


def _executor(size: int) -> ThreadPoolExecutor:
    """The process' sending threads (a forked worker makes its own)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid() or _pool[1] != size:
        _pool = (os.getpid(), size, ThreadPoolExecutor(max_workers=size, thread_name_prefix="webhooks-send"))
    return _pool[2]


class _Drain:
    def __init__(self, *, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.concurrency = max(int(app_settings.CONCURRENCY), 1)
        self.per_destination = max(int(app_settings.DESTINATION_CONCURRENCY), 1)
        self.executor = _executor(self.concurrency)
        self.inflight: dict[Future, tuple[deliveries.Outcome, float]] = {}
        self.busy: Counter = Counter()  # destination -> requests in flight
        self.held: dict[str, deque] = defaultdict(deque)  # destination -> outcomes waiting
        self.webhooks_at: dict[str, set[int]] = defaultdict(set)  # destination -> webhook ids seen
        self.finished: list[deliveries.Outcome] = []
        self.finished_since = 0.0
        self.next_claim_at = 0.0
        self.backlog = False
        self.woke_another = False
        self.stats = Counter()
        self.retries = False

    # -- the loop ---------------------------------------------------------------
    def run(self) -> dict:
        try:
            while True:
                self._start_held()
                released = self._slow_held()
                claimed = self._record_and_claim(released)
                if not self.inflight and not self._held_count() and not claimed:
                    if self.finished:
                        continue  # record the last results
                    break
                self._wait()
        finally:
            self._stop()
        if self.retries:
            queue.retries_schedule_wakeup()
        return dict(self.stats)

    def _held_count(self) -> int:
        return sum(len(q) for q in self.held.values())

    def _start_held(self) -> None:
        for destination, waiting in self.held.items():
            while waiting and self.busy[destination] < self.per_destination:
                self._start(waiting.popleft())

    def _start(self, outcome: deliveries.Outcome) -> None:
        self.busy[outcome.destination] += 1
        future = self.executor.submit(deliveries._send, outcome)
        self.inflight[future] = (outcome, time.monotonic())

    def _slow_destinations(self) -> set[str]:
        now = time.monotonic()
        return {o.destination for o, started in self.inflight.values() if now - started > SLOW_AFTER}

    def _slow_held(self) -> list:
        released = []
        for destination in self._slow_destinations():
            released.extend(self.held.pop(destination, ()))
        return released

    def _record_and_claim(self, released: list) -> int:
        """One transaction: record what finished, give back what waits, claim more."""
        now = time.monotonic()
        room = self.concurrency - len(self.inflight) - self._held_count()
        refill = room >= max(self.concurrency // 2, 1) or not self.inflight
        if now >= self.deadline and self.backlog:
            # Time to hand over: another worker takes the backlog from here while this
            # one finishes what it has in flight.
            self.backlog = False
            queue.workers_wake()
        claim = now < self.deadline and room > 0 and refill and now >= self.next_claim_at
        record = self.finished and (
            not self.inflight
            or len(self.finished) >= max(self.concurrency // 2, 1)
            or now - self.finished_since > 0.2
        )
        if not (claim or released or record):
            return 0
        finished, self.finished = self.finished, []
        with transaction.atomic(using=router.db_for_write(Delivery)):
            deliveries.attempts_record(outcomes=finished)
            deliveries.deliveries_release(deliveries=[o.delivery for o in released])
            claimed = (
                deliveries.deliveries_claim(limit=room, exclude_webhooks=self._excluded()) if claim else []
            )
        self._count(finished)
        self.stats["released"] += len(released)
        if claim:
            self.backlog = len(claimed) == room
            self.next_claim_at = 0.0 if self.backlog else now + IDLE_CLAIM_INTERVAL
            if self.backlog and not self.woke_another:
                # A backlog: wake another worker to share it (once per drain).
                self.woke_another = True
                queue.workers_wake()
        bodies = {}
        for delivery in claimed:
            outcome = deliveries.attempt_prepare(delivery, bodies=bodies)
            if outcome.request is None:
                self._finished(outcome)
                continue
            self.webhooks_at[outcome.destination].add(delivery.webhook_id)
            self.held[outcome.destination].append(outcome)
        self.stats["claimed"] += len(claimed)
        self._start_held()
        return len(claimed)

    def _excluded(self) -> set[int]:
        """Webhooks whose destination is full or slow: not claimed now."""
        slow = self._slow_destinations()
        full = {d for d, n in self.busy.items() if n >= self.per_destination}
        return {pk for d in slow | full for pk in self.webhooks_at.get(d, ())}

    def _wait(self) -> None:
        if not self.inflight:
            if self.next_claim_at:
                time.sleep(max(min(self.next_claim_at - time.monotonic(), IDLE_CLAIM_INTERVAL), 0))
            return
        timeout = IDLE_CLAIM_INTERVAL if (self._held_count() or self.next_claim_at) else SLOW_AFTER
        done, _ = wait(list(self.inflight), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            outcome, _ = self.inflight.pop(future)
            self.busy[outcome.destination] -= 1
            try:
                outcome.result = future.result()
            except Exception as exc:  # transport.post never raises; a bug must not lose the attempt
                logger.exception("Sending delivery %s failed unexpectedly", outcome.delivery.pk)
                outcome.result = deliveries.transport.Result(
                    error_class="other", error_message=str(exc)[:300]
                )
            self._finished(outcome)

    def _finished(self, outcome) -> None:
        if not self.finished:
            self.finished_since = time.monotonic()
        self.finished.append(outcome)

    def _count(self, finished) -> None:
        for outcome in finished:
            result = outcome.result
            if result is not None and result.ok:
                self.stats["succeeded"] += 1
            elif outcome.request is not None:
                self.stats["failed_attempts"] += 1
                self.retries = True

    def _stop(self) -> None:
        """Record what is left when the loop ends, also when it is stopped.

        django-q2's task timeout raises SystemExit here: requests still in flight
        are recorded as interrupted (they are retried), held deliveries given back.
        """
        for future, (outcome, _) in list(self.inflight.items()):
            if future.done() and not future.cancelled() and future.exception() is None:
                outcome.result = future.result()
            self.finished.append(outcome)  # result None: recorded as interrupted
        self.inflight.clear()
        held = [o for q in self.held.values() for o in q]
        self.held.clear()
        if not self.finished and not held:
            return
        try:
            with transaction.atomic(using=router.db_for_write(Delivery)):
                deliveries.attempts_record(outcomes=self.finished)
                deliveries.deliveries_release(deliveries=[o.delivery for o in held])
            self._count(self.finished)
        except Exception:
            # The database is gone: the leases expire and the sweep hands these
            # deliveries to another worker (at-least-once).
            logger.exception("Could not record %d finished attempts", len(self.finished))
        self.finished = []


def deliveries_drain(*, seconds: float | None = None) -> dict:
    """Send due deliveries until none is due, or for about DRAIN_SECONDS (then hand over).

    Returns counts: claimed, succeeded, failed_attempts, released.
    """
    seconds = float(app_settings.DRAIN_SECONDS if seconds is None else seconds)
    return _Drain(seconds=seconds).run()

"""The drain: what a worker does when woken. Claim due deliveries, send them
concurrently, record the results in bulk, until nothing is due or the time is up.

A pipeline, not rounds: as soon as some requests finish, their results are
recorded and new deliveries claimed in the same short transaction, so a slow
request never holds up the next work. A thread pool per worker process sends
(CONCURRENCY requests at once, each thread using the process' requests session
with its kept-alive connections), and each destination (an endpoint: the URL without
its query) gets
at most DESTINATION_CONCURRENCY of them: a receiver that hangs until the timeout
occupies that many threads, never the whole worker. A claim never takes more for a
destination than it has free slots, and a destination that is full or slow is left
out of the claim altogether, so its backlog cannot hide the others'.
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

# A destination with a request in flight for this long is slow: it gets no more
# deliveries from this worker until its requests finish.
SLOW_AFTER = 1.0
# After a claim that found less than it asked for, the next claim waits this long
# unless requests finish (there is no point asking the database 100 times a second).
IDLE_CLAIM_INTERVAL = 0.1

# Claimed deliveries wait in the worker for a free slot, up to this many rounds of
# requests ahead: the database is asked once per round of CONCURRENCY results, not
# once per result, while the sending threads never run dry.
PREFETCH = 3
# Finished attempts are written at the latest this long after the first of them.
RECORD_AFTER = 0.2

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
        # Claimed, waiting for a slot of their destination: the next requests start
        # the moment one finishes, while the main thread talks to the database.
        self.held: dict[str, deque] = defaultdict(deque)
        self.webhooks = deliveries.WebhookCache()
        self.webhooks_at: dict[str, set[int]] = defaultdict(set)  # destination -> webhook ids seen
        self.finished: list[deliveries.Outcome] = []
        # Given back by a record step that failed: released again by _stop.
        self.held_released: list[deliveries.Outcome] = []
        self.finished_since = 0.0
        self.next_claim_at = 0.0
        self.backlog = False
        self.woke_another = False
        self.retries = False
        self.stats = Counter()

    def run(self) -> dict:
        try:
            while True:
                self._start_held()
                claimed = self._record_and_claim(released=self._slow_held())
                if not self.inflight and not claimed:
                    if self.finished:
                        continue  # record the last results
                    break
                self._wait()
        finally:
            self._stop()
        if self.retries:
            queue.retries_schedule_wakeup()
        return dict(self.stats)

    def _slots(self, destination: str) -> int:
        """How many more a claim may take for a destination: in flight and waiting
        together at most (1 + PREFETCH) x DESTINATION_CONCURRENCY."""
        limit = (1 + PREFETCH) * self.per_destination
        return limit - self.busy[destination] - len(self.held.get(destination, ()))

    def _held_count(self) -> int:
        return sum(len(q) for q in self.held.values())

    def _start_held(self) -> None:
        for destination, waiting in self.held.items():
            while waiting and self.busy[destination] < self.per_destination:
                self._start(waiting.popleft())

    def _start(self, outcome) -> None:
        self.busy[outcome.destination] += 1
        future = self.executor.submit(deliveries._send, outcome)
        self.inflight[future] = (outcome, time.monotonic())

    def _slow_held(self) -> list:
        """Deliveries waiting for a destination that turned out slow: given back."""
        released = []
        for destination in self._slow_destinations() & set(self.held):
            released.extend(self.held.pop(destination))
        return released

    def _slow_destinations(self) -> set[str]:
        now = time.monotonic()
        return {o.destination for o, started in self.inflight.values() if now - started > SLOW_AFTER}

    def _excluded(self) -> set[int]:
        """Webhooks whose destination is full or slow: not claimed now."""
        slow = self._slow_destinations()
        full = {d for d, n in self.busy.items() if n >= self.per_destination}
        return {pk for d in slow | full for pk in self.webhooks_at.get(d, ())}

    def _record_and_claim(self, released: list) -> int:
        """One transaction: record what finished, give back what waits in vain, claim more."""
        now = time.monotonic()
        room = (1 + PREFETCH) * self.concurrency - len(self.inflight) - self._held_count()
        if now >= self.deadline and self.backlog:
            # Time to hand over: another worker takes the backlog from here while this
            # one finishes what it has in flight.
            self.backlog = False
            queue.workers_wake()
        idle = not self.inflight and not self._held_count()
        claim = (
            now < self.deadline
            and room >= (1 if idle else self.concurrency)
            and (idle or now >= self.next_claim_at)
        )
        record = self.finished and (
            idle or len(self.finished) >= self.concurrency or now - self.finished_since > RECORD_AFTER
        )
        if not (claim or record or released):
            return 0
        finished, self.finished = self.finished, []
        claimed, more = [], False
        try:
            with transaction.atomic(using=router.db_for_write(Delivery)):
                deliveries.attempts_record(outcomes=finished, release=[o.delivery for o in released])
                if claim:
                    claimed, more = deliveries._claim(
                        limit=room,
                        exclude_webhooks=self._excluded(),
                        slots=self._slots,
                        webhooks_cache=self.webhooks,
                    )
        except BaseException:
            # Nothing of the transaction happened: the answered attempts go back to be
            # recorded by _stop (the drain ends with this error), as they came.
            self._unrecord(finished)
            self.held_released = released
            raise
        self._count(finished)
        self.stats["released"] += len(released)
        if claim:
            self.backlog = more
            # Nothing more is due: look again only after a pause (or when idle, to end).
            self.next_claim_at = 0.0 if more else now + IDLE_CLAIM_INTERVAL
            if more and not self.woke_another:
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
        self._start_held()
        self.stats["claimed"] += len(claimed)
        return len(claimed)

    def _unrecord(self, finished) -> None:
        for outcome in finished:
            # attempts_record moved them on in memory; the database still has them pending.
            outcome.delivery.status = Delivery.Status.PENDING
        self.finished = finished + self.finished

    def _wait(self) -> None:
        if not self.inflight:
            return
        timeout = SLOW_AFTER / 4 if self._held_count() else SLOW_AFTER
        if self.next_claim_at:
            timeout = max(min(self.next_claim_at - time.monotonic(), timeout), 0.005)
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
        are recorded as interrupted (they are retried), waiting ones given back.
        """
        for future, (outcome, _) in list(self.inflight.items()):
            if future.done() and not future.cancelled() and future.exception() is None:
                outcome.result = future.result()
            self.finished.append(outcome)  # result None: recorded as interrupted
        self.inflight.clear()
        held = [o.delivery for q in self.held.values() for o in q]
        held += [o.delivery for o in self.held_released]
        self.held.clear()
        self.held_released = []
        if not self.finished and not held:
            return
        try:
            deliveries.attempts_record(outcomes=self.finished, release=held)
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

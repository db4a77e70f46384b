"""The benchmark's own Django app (tests/bench/settings.py installs it): counts drains from outside.

Every task a qcluster finishes passes django-q2's ``post_execute`` signal (in the
cluster's monitor process, with the task's result). When ``BENCH_TASK_LOG`` names a
file, each finished task appends one JSON line to it: the function, whether it
succeeded, and for a drain (a result that is a dict of counts) how many deliveries
it claimed, so the harness counts the drains and the empty ones (claimed 0) without
any hook in webhooks_app itself.
"""

import json
import os
import time

from django.apps import AppConfig


def task_finished(sender, task, **kwargs) -> None:
    path = os.environ.get("BENCH_TASK_LOG")
    if not path:
        return
    func = task.get("func")
    name = (
        func
        if isinstance(func, str)
        else f"{getattr(func, '__module__', '?')}.{getattr(func, '__name__', '?')}"
    )
    result = task.get("result")
    line = {
        "func": name,
        "success": bool(task.get("success")),
        "claimed": int(result.get("claimed", 0)) if isinstance(result, dict) else None,
        "at": time.time(),
    }
    with open(path, "a") as log:
        log.write(json.dumps(line) + "\n")


def task_log(path) -> list[dict]:
    """The lines a cluster wrote to its BENCH_TASK_LOG (none when it wrote nothing)."""
    try:
        with open(path) as log:
            return [json.loads(line) for line in log if line.strip()]
    except OSError:
        return []


def drain_counts(lines: list[dict]) -> dict:
    """Drain tasks finished, and how many of them claimed nothing (an empty drain)."""
    drains = [line for line in lines if "drain" in line["func"] or "delivery_run" in line["func"]]
    return {
        "drain_tasks": len(drains),
        "empty_drains": sum(1 for line in drains if not line["claimed"]),
        "failed_tasks": sum(1 for line in lines if not line["success"]),
    }


class BenchConfig(AppConfig):
    name = "tests.bench"
    label = "webhooks_bench"
    verbose_name = "webhooks_app benchmark"

    def ready(self):
        from django_q.signals import post_execute

        post_execute.connect(task_finished, dispatch_uid="webhooks_bench.task_finished")

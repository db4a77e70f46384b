"""The performance benchmark of issue 8: ``python -m tests.bench.webhooks_bench`` (``make bench``)."""

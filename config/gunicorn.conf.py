"""gunicorn settings of the demo project: ``gunicorn config.wsgi -c config/gunicorn.conf.py``.

Every value can be set from the environment (or overridden on the command line):
GUNICORN_BIND (default 127.0.0.1:8000, behind a reverse proxy), GUNICORN_WORKERS
(default 2 x CPUs + 1, at most 8), GUNICORN_THREADS (default 1), GUNICORN_TIMEOUT
(default 30 s). The console and the API are short requests: nothing is sent to a
receiver from a web worker (emits only write rows and wake a qcluster worker).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", min(2 * (os.cpu_count() or 1) + 1, 8)))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# Restart workers now and then (a slow leak in a host project's code stays bounded).
max_requests = 2000
max_requests_jitter = 200
# Logs to stdout/stderr (journald under systemd).
accesslog = "-"
errorlog = "-"
# Behind a reverse proxy on the same machine: trust its X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")

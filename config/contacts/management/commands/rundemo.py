"""Start the demo: web server, django-q2 cluster and a local receiver, until Ctrl-C."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from config.contacts.receiver import serve, webhook_secrets
from webhooks_app import services
from webhooks_app.models import Webhook

DEMO_USER = "admin"
DEMO_PASSWORD = "admin"  # the demo's printed login; never use in production
# Ctrl-C stops every child within this many seconds; a delivery cut short is sent again.
STOP_GRACE_SECONDS = 3


class Command(BaseCommand):
    help = "Run the demo: runserver + qcluster + a receiver on 127.0.0.1:8001."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--receiver-port", type=int, default=8001)

    def handle(self, *args, host, port, receiver_port, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEMO_USER, defaults={"is_staff": True, "is_superuser": True, "email": ""}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        receiver_url = f"http://127.0.0.1:{receiver_port}/webhooks"
        webhook = Webhook.objects.filter(url=receiver_url).first()
        if webhook is None:
            webhook = services.webhook_create(
                name="Demo receiver",
                description="Prints each event in the terminal that runs `make run`.",
                events=["*"],
                url=receiver_url,
                actor=user,
            )
        # Every webhook pointing at the receiver is checked with its own secret.
        server = serve("127.0.0.1", receiver_port, webhook_secrets(f"http://127.0.0.1:{receiver_port}"))
        threading.Thread(target=server.serve_forever, daemon=True).start()

        # Ctrl-C and SIGTERM set `stop`. Installed before the children start, so that
        # they do not inherit an ignored SIGINT (a shell starts background jobs that
        # way, and Python then never raises KeyboardInterrupt): the web server ignored
        # the forwarded SIGINT and was killed only when the wait below ran out.
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *a: stop.set())

        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        manage = [sys.executable, "manage.py"]
        # DEBUG is off unless asked for (DEBUG=1). runserver then serves the static files
        # only when told to (--insecure: fine for a demo, a production site has its own
        # static server), and it speaks plain HTTP, so its cookies cannot be HTTPS-only.
        web_env = {**env, "SECURE_COOKIES": env.get("SECURE_COOKIES", "0")}
        # Each child leads a process group of its own, so that it can be stopped
        # whole (qcluster's workers too) and is stopped by this command only, in order.
        procs = [
            subprocess.Popen(
                [*manage, "runserver", f"{host}:{port}", "--noreload", "--insecure"],
                env=web_env,
                process_group=0,
            ),
            subprocess.Popen([*manage, "qcluster"], env=env, process_group=0),
        ]
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Console:  http://{host}:{port}/settings/webhooks/\n"
                f"  Admin:    http://{host}:{port}/admin/ (add or edit a Contact to emit events)\n"
                f"  API docs: http://{host}:{port}/api/docs/\n"
                f"  Login:    {DEMO_USER} / {DEMO_PASSWORD}"
                + ("" if created else " (if you kept the demo password)")
                + f"\n  Receiver: {receiver_url} prints what it gets below, each request checked with the"
                + " secret of the webhook it came from (any path on 127.0.0.1:"
                + f"{receiver_port}).\n  Ctrl-C stops everything.\n"
            )
        )
        try:
            while not stop.is_set() and all(p.poll() is None for p in procs):
                stop.wait(0.5)
        finally:
            self.stop_children(procs)
            server.shutdown()
            self.stdout.write("Stopped.")

    @staticmethod
    def stop_children(procs, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM each child's main process (django-q2 stops its own workers), then SIGKILL
        whatever of its process group is left after `grace` seconds."""
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)  # a worker left behind, or the child itself
            p.wait()

"""Start the demo: web server, django-q2 cluster and a local receiver, until Ctrl-C."""

import os
import signal
import subprocess
import sys
import threading
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from config.contacts.receiver import serve
from webhooks_app import services
from webhooks_app.models import Webhook

DEMO_USER = "admin"
DEMO_PASSWORD = "admin"  # the demo's printed login; never use in production


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
        server = serve("127.0.0.1", receiver_port, webhook.secret)
        threading.Thread(target=server.serve_forever, daemon=True).start()

        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        manage = [sys.executable, "manage.py"]
        procs = [
            subprocess.Popen([*manage, "runserver", f"{host}:{port}", "--noreload"], env=env),
            subprocess.Popen([*manage, "qcluster"], env=env),
        ]
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Console:  http://{host}:{port}/settings/webhooks/\n"
                f"  Admin:    http://{host}:{port}/admin/ (add or edit a Contact to emit events)\n"
                f"  API docs: http://{host}:{port}/api/docs/\n"
                f"  Login:    {DEMO_USER} / {DEMO_PASSWORD}"
                + ("" if created else " (if you kept the demo password)")
                + f"\n  Receiver: {receiver_url} prints what it gets below.\n  Ctrl-C stops everything.\n"
            )
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        try:
            while not stop.is_set() and all(p.poll() is None for p in procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
            for p in procs:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
            server.shutdown()
            self.stdout.write("Stopped.")

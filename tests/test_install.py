"""A newcomer's install: the wheel into a fresh virtualenv and a brand-new project, by the README.

The README's section "Install into an existing project" is followed as written:
its fenced blocks whose first line is ``# install-step: <kind>`` are applied in
order (``settings`` appended to settings.py, ``urls`` to urls.py, ``run`` run in
the project: each command in the foreground, ``qcluster`` in the background), so
the README cannot drift from what works. The project is made by ``django-admin
startproject`` with its own custom user model, login URL and base template, as a
real host project has. Then: ``check --deploy`` with production settings, a real
``qcluster``, a saved model whose signed event reaches a receiver on 127.0.0.1,
and the console opened by a staff user of that project.

Also here, fast: the console works without the ``api`` extra, and including the
API's URLs without it is a system check error, not an ImportError at start-up.

WEBHOOKS_INSTALL_TEST_DJANGO (set by the nox matrix) names the Django to install
into the fresh virtualenv; by default the one running the tests.
"""

import ast
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import django
import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

import webhooks_app
from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SECTION = "Install into an existing project"
CORE_REQUIREMENTS = {"django", "django-q2", "requests", "standardwebhooks", "cryptography"}

# The PostgreSQL run of `make test` repeats the suite for the database; these tests
# use a project and a virtualenv of their own, so the SQLite run covers them.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")),
    reason="does not use the test database: run once, in the SQLite run",
)


def install_steps(readme: str) -> list[tuple[str, str]]:
    """(kind, code) of each ``# install-step: <kind>`` block of the README's install section."""
    section = readme.split(f"\n## {SECTION}\n", 1)[1].split("\n## ", 1)[0]
    steps = []
    for code in re.findall(r"^```[a-z]*\n(.*?)^```$", section, re.MULTILINE | re.DOTALL):
        marker = re.match(r"# install-step: (\w+)", code)
        if marker:
            steps.append((marker.group(1), code))
    return steps


def clean_env(**extra) -> dict:
    """This process' environment without what would leak the test project into another one."""
    drop = ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "VIRTUAL_ENV", "DATABASE_URL", "REDIS_URL")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "WEBHOOKS_")) and k not in drop
    }
    env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def run(args, *, cwd, env, timeout=300, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args!r} exited {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n"
            f"--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def last_json_line(text: str):
    return json.loads(text.strip().splitlines()[-1])


def test_the_readme_marks_its_install_steps():
    """The blocks the install test applies are there, in the order a newcomer follows them."""
    steps = install_steps(README.read_text())
    assert [kind for kind, _ in steps] == ["settings", "settings", "urls", "run"]
    settings_code = "\n".join(code for kind, code in steps if kind == "settings")
    for needed in ('"django_q"', '"webhooks_app"', '"rest_framework.authtoken"', "Q_CLUSTER", "IMMEDIATE"):
        assert needed in settings_code
    run_block = steps[-1][1]
    assert "manage.py migrate" in run_block and "manage.py qcluster" in run_block


def noxfile_constant(name: str):
    """A literal assigned at the top of noxfile.py (read, not imported: importing it changes PATH)."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    [value] = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]
    ]
    return ast.literal_eval(value)


def test_the_package_metadata_names_what_the_matrix_tests():
    """Classifiers and bounds of pyproject.toml match the Pythons and Djangos of noxfile.py."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pythons, djangos = noxfile_constant("PYTHONS"), noxfile_constant("DJANGOS")
    classified = {
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if re.match(r"Programming Language :: Python :: 3\.\d+$", c)
    }
    assert classified == set(pythons)
    assert {
        c.rsplit(" :: ", 1)[1] for c in project["classifiers"] if c.startswith("Framework :: Django :: ")
    } == set(djangos)
    oldest, newest = min(pythons, key=_version), max(pythons, key=_version)
    assert project["requires-python"] == f">={oldest},<3.{_version(newest)[1] + 1}"
    [requirement] = [r for r in project["dependencies"] if r.lower().startswith("django>")]
    newest_django = _version(max(djangos, key=_version))
    assert requirement == f"Django>={min(djangos, key=_version)},<{newest_django[0]}.{newest_django[1] + 1}"
    # ...and the version lives in webhooks_app/__init__.py only.
    assert project["dynamic"] == ["version"]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split("."))


def source_copy(dest: Path) -> Path:
    """What a fresh clone has of the package: pyproject.toml, README.md and webhooks_app/ (no build/ left
    over from an earlier build, whose stale files setuptools would put in the wheel)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(
        ROOT / "webhooks_app", dest / "webhooks_app", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return dest


def build_wheel(tmp: Path) -> Path:
    dist = tmp / "dist"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "--wheel-dir",
            str(dist),
            str(source_copy(tmp / "src")),
        ],
        cwd=tmp,
        env=clean_env(),
    )
    [wheel] = dist.glob("webhooks_app-*.whl")
    return wheel


def check_wheel(wheel: Path) -> None:
    """Only the app, at the version of webhooks_app/__init__.py, with the optional parts as extras."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata_name] = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    assert {name.split("/", 1)[0] for name in names} == {
        "webhooks_app",
        f"webhooks_app-{webhooks_app.__version__}.dist-info",
    }
    assert not [n for n in names if "soak" in n or n.startswith("webhooks_app/tests")]
    assert "webhooks_app/templates/webhooks_app/base.html" in names
    assert any(n.startswith("webhooks_app/static/webhooks_app/") for n in names)
    assert any(n.startswith("webhooks_app/migrations/0001_") for n in names)
    assert metadata["Version"] == webhooks_app.__version__
    requires = metadata.get_all("Requires-Dist")
    core = {re.split(r"[<>=~!\[; ]", r, maxsplit=1)[0].lower() for r in requires if "extra ==" not in r}
    assert core == CORE_REQUIREMENTS
    assert {"api", "postgres", "redis", "server"} <= set(metadata.get_all("Provides-Extra"))


HOST_MODELS = '''
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The host project's own user model."""

    display_name = models.CharField(max_length=100, blank=True)


class Order(models.Model):
    number = models.CharField(max_length=20)
    status = models.CharField(max_length=20, default="new")
'''

# What the host project had before it met webhooks_app: its app, user model, login
# page and layout. Appended to startproject's settings.py before the README's blocks.
HOST_SETTINGS = """
# --- the host project's own choices (before webhooks_app) ---
INSTALLED_APPS += ["shop"]
AUTH_USER_MODEL = "shop.User"
LOGIN_URL = "site-login"
TEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]
"""

HOST_URLS = """
# --- the host project's own login page (before webhooks_app) ---
from django.contrib.auth.views import LoginView

urlpatterns += [path("login/", LoginView.as_view(), name="site-login")]
"""

HOST_LAYOUT = """<!doctype html>
<html><head><title>{% block title %}{% endblock %} | Host site</title>{% block extra_head %}{% endblock %}</head>
<body><header>HOSTSITE LAYOUT</header>{% block content %}{% endblock %}{% block extra_js %}{% endblock %}</body></html>
"""

# After the README: choices the README leaves to the host (its layout, and the
# receiver on loopback that this test runs).
HOST_WEBHOOKS = """
# --- the host project's webhooks_app choices (after the README) ---
WEBHOOKS["BASE_TEMPLATE"] = "hostsite/layout.html"
WEBHOOKS["ALLOWED_DESTINATIONS"] = ["127.0.0.1"]
"""

PRODUCTION_SETTINGS = """
from .settings import *  # noqa: F403

DEBUG = False
SECRET_KEY = {secret_key!r}
ALLOWED_HOSTS = ["hooks.example.com"]
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
"""


class HostSite:
    """A brand-new Django project in its own virtualenv, with webhooks_app installed from the wheel."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.venv = tmp / "venv"
        self.bin = self.venv / "bin"
        self.project = tmp / "hostsite"
        self.env = clean_env(PATH=os.pathsep.join([str(self.bin), os.environ.get("PATH", "")]))
        self.qcluster: subprocess.Popen | None = None
        self.log = tmp / "qcluster.log"

    def python(self, *args, **kwargs):
        return run(
            [str(self.bin / "python"), *args], cwd=kwargs.pop("cwd", self.project), env=self.env, **kwargs
        )

    def manage(self, *args, **kwargs):
        return self.python("manage.py", *args, **kwargs)

    def shell(self, code: str):
        """Run code in `manage.py shell -c`; returns the JSON it printed last."""
        return last_json_line(self.manage("shell", "-c", textwrap.dedent(code), timeout=120).stdout)

    def install(self, wheel: Path) -> None:
        run([sys.executable, "-m", "venv", str(self.venv)], cwd=self.tmp, env=self.env, timeout=120)
        django_requirement = (
            os.environ.get("WEBHOOKS_INSTALL_TEST_DJANGO") or f"Django=={django.get_version()}"
        )
        constraints = self.tmp / "constraints.txt"
        constraints.write_text(django_requirement + "\n")
        self.python(
            "-m", "pip", "install", "-q", "-c", str(constraints), f"{wheel}[api]", cwd=self.tmp, timeout=900
        )

    def create(self) -> None:
        self.project.mkdir()
        run(
            [str(self.bin / "django-admin"), "startproject", "hostsite", str(self.project)],
            cwd=self.tmp,
            env=self.env,
        )
        self.manage("startapp", "shop")
        (self.project / "shop" / "models.py").write_text(HOST_MODELS)
        (self.project / "templates" / "hostsite").mkdir(parents=True)
        (self.project / "templates" / "hostsite" / "layout.html").write_text(HOST_LAYOUT)
        (self.project / "templates" / "registration").mkdir()
        (self.project / "templates" / "registration" / "login.html").write_text("HOSTSITE LOGIN {{ form }}")
        self.append("settings.py", HOST_SETTINGS)
        self.append("urls.py", HOST_URLS)
        self.manage("makemigrations", "shop", "-v", "0")

    def append(self, name: str, code: str) -> None:
        path = self.project / "hostsite" / name
        path.write_text(path.read_text() + "\n" + code + "\n")

    def follow_readme(self) -> None:
        """Apply the README's install steps as written, in order. The host's own webhooks_app
        choices go into settings.py after the README's settings and before its commands run."""
        steps = install_steps(README.read_text())
        for kind, code in steps:
            if kind == "settings":
                self.append("settings.py", code)
            elif kind == "urls":
                self.append("urls.py", code)
            elif kind != "run":
                raise AssertionError(f"unknown install step {kind!r} in the README")
        self.append("settings.py", HOST_WEBHOOKS)
        assert [kind for kind, _ in steps][-1] == "run", "the README's commands come last"
        for kind, code in steps:
            if kind == "run":
                self.run_block(code)

    def run_block(self, code: str) -> None:
        for line in code.splitlines():
            command = line.split("#", 1)[0].strip()
            if not command:
                continue
            if "manage.py qcluster" in command:
                self.start_qcluster(command)
            else:
                run(["bash", "-c", command], cwd=self.project, env=self.env, timeout=300)

    def start_qcluster(self, command: str) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 - kept open for the process' life
        self.qcluster = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=self.project,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        """Stop the cluster as the README says (a signal to its main process), then make sure of it."""
        proc = self.qcluster
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # any worker left behind
        proc.wait(10)

    def qcluster_log(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@pytest.fixture(scope="module")
def hostsite(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    wheel = build_wheel(tmp)
    check_wheel(wheel)
    site = HostSite(tmp)
    try:
        site.install(wheel)
        site.create()
        site.follow_readme()
        yield site
    finally:
        site.stop()
        shutil.rmtree(site.venv, ignore_errors=True)  # the biggest part; pytest keeps the rest a while


# Warnings `check --deploy` may print in the new project, each with why it is not the
# project's fault. Anything else (any error, any other warning) fails the test.
TOLERATED_DEPLOY_WARNINGS = {
    # drf-spectacular's deploy check builds the schema with the host's
    # SPECTACULAR_SETTINGS, not with the ENUM_NAME_OVERRIDES that /api/schema/ uses.
    "drf_spectacular.W001": "encountered multiple names for the same choice set",
}


@pytest.mark.cluster
def test_the_readme_install_passes_check_deploy_with_production_settings(hostsite):
    production = hostsite.project / "hostsite" / "settings_production.py"
    production.write_text(PRODUCTION_SETTINGS.format(secret_key=secrets.token_urlsafe(50)))
    result = hostsite.manage("check", "--deploy", "--settings", "hostsite.settings_production")
    output = result.stdout + result.stderr
    assert "ERRORS:" not in output, output
    for line in output.splitlines():
        found = re.match(r"\S*: \(([\w.]+)\) (.*)", line.strip())
        if found:
            check_id, message = found.groups()
            assert TOLERATED_DEPLOY_WARNINGS.get(check_id, "\0") in message, f"not tolerated: {line}"
    # The development settings: no warning at all (the README's SQLite options, broker, URLs).
    assert "no issues" in hostsite.manage("check", "--fail-level", "WARNING").stdout


@pytest.mark.cluster
def test_a_saved_model_reaches_a_receiver_signed(hostsite):
    assert hostsite.qcluster is not None, "the README's run block starts no qcluster"
    receiver = Receiver().start()
    try:
        created = hostsite.shell(
            f"""
            import json
            from django.contrib.auth import get_user_model
            from django.test import Client
            from django.test.utils import setup_test_environment

            setup_test_environment()
            admin = get_user_model().objects.create_superuser("installer", "installer@example.com", None)
            client = Client()
            client.force_login(admin)
            response = client.post(
                "/api/webhooks/",
                {{"name": "Install test", "events": ["order.created"], "url": {receiver.url!r}}},
                content_type="application/json",
            )
            print(json.dumps({{"status": response.status_code, "body": response.json()}}))
            """
        )
        assert created["status"] == 201, created
        secret = created["body"]["secret"]
        assert hostsite.qcluster.poll() is None, hostsite.qcluster_log()

        hostsite.shell(
            """
            import json
            from shop.models import Order

            order = Order.objects.create(number="A-1", status="new")
            print(json.dumps({"id": order.pk}))
            """
        )
        try:
            [request] = receiver.wait_for(1, timeout=90)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- qcluster log\n{hostsite.qcluster_log()}") from None
        payload = StandardWebhook(secret).verify(request.body, request.headers)
        assert payload["event_type"] == "order.created"
        assert payload["data"]["number"] == "A-1" and payload["data"]["status"] == "new"
        assert request.headers["X-Webhook-Event"] == "order.created"
        assert request.headers["User-Agent"] == f"webhooks_app/{webhooks_app.__version__}"
        # A wrong secret does not verify: the check above means something.
        with pytest.raises(Exception, match=r"(?i)signature"):
            StandardWebhook("whsec_" + "A" * 32).verify(request.body, request.headers)
    finally:
        receiver.stop()
        hostsite.stop()
    assert hostsite.qcluster.returncode is not None


@pytest.mark.cluster
def test_the_console_opens_for_a_staff_user_of_the_host_project(hostsite):
    pages = hostsite.shell(
        """
        import json
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Permission
        from django.test import Client
        from django.test.utils import setup_test_environment

        setup_test_environment()
        staff = get_user_model().objects.create_user("editor", "editor@example.com", None, is_staff=True)
        staff.user_permissions.add(Permission.objects.get(codename="view_webhook"))
        anonymous = Client().get("/settings/webhooks/")
        client = Client()
        client.force_login(staff)
        page = client.get("/settings/webhooks/")
        print(json.dumps({
            "anonymous": [anonymous.status_code, anonymous.get("Location", "")],
            "status": page.status_code,
            "html": page.content.decode(),
        }))
        """
    )
    # The host's own LOGIN_URL, its user model and its layout.
    assert pages["anonymous"] == [302, "/login/?next=/settings/webhooks/"]
    assert pages["status"] == 200
    html = pages["html"]
    assert "Webhook Settings" in html
    assert "HOSTSITE LAYOUT" in html
    assert "Create Webhook" not in html  # view permission only: no button it could not use


# The console without the [api] extra. A sitecustomize hides the API's packages
# from a subprocess as if they were not installed.

HIDE_API_PACKAGES = """
import sys

HIDDEN = {"rest_framework", "drf_spectacular", "drf_spectacular_sidecar"}


class HideApiPackages:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
        return None


sys.meta_path.insert(0, HideApiPackages())
"""

CONSOLE_ONLY_SETTINGS = """
import os

SECRET_KEY = "console-only-host-settings-not-secret-0123456789abcdef"
DEBUG = True
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "webhooks_app",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = os.environ["HOST_URLCONF"]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3",
                         "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20}}}
Q_CLUSTER = {"name": "console-only", "orm": "default", "timeout": 120, "retry": 300}
STATIC_URL = "static/"
USE_TZ = True
LOGIN_URL = "login"
"""

URLS = """
from django.contrib.auth.views import LoginView
from django.urls import include, path

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("settings/webhooks/", include("webhooks_app.urls")),
]
"""


def test_the_console_works_without_the_api_extra_and_the_api_urls_say_what_is_missing(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(HIDE_API_PACKAGES)
    (tmp_path / "host_settings.py").write_text(CONSOLE_ONLY_SETTINGS)
    (tmp_path / "host_urls_console.py").write_text(URLS)
    (tmp_path / "host_urls_both.py").write_text(
        URLS + '\nurlpatterns += [path("api/", include("webhooks_app.api.urls"))]\n'
    )
    env = clean_env(
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]), DJANGO_SETTINGS_MODULE="host_settings"
    )

    def django_admin(*args, urlconf="host_urls_console", check=True):
        return run(
            [sys.executable, "-m", "django", *args],
            cwd=tmp_path,
            env={**env, "HOST_URLCONF": urlconf},
            check=check,
            timeout=120,
        )

    hidden = django_admin(
        "shell", "-c", "import importlib.util; print(importlib.util.find_spec('rest_framework'))", check=False
    )
    assert "hidden by the test" in hidden.stderr  # the sitecustomize works

    # The API included without the extra: a system check error naming it, no traceback.
    result = django_admin("check", urlconf="host_urls_both", check=False)
    assert result.returncode == 1
    assert "webhooks_app.E070" in result.stderr and "djangorestframework" in result.stderr
    assert 'pip install "webhooks_app[api]"' in result.stderr
    assert "Traceback" not in result.stderr

    # The console alone: clean checks, and its pages work without DRF imported.
    assert "no issues" in django_admin("check", "--fail-level", "WARNING").stdout
    django_admin("migrate", "-v", "0")
    code = """
        import json, sys
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.test.utils import setup_test_environment

        setup_test_environment()
        admin = get_user_model().objects.create_superuser("admin", "admin@example.com", None)
        client = Client()
        client.force_login(admin)
        page = client.get("/settings/webhooks/")
        form = client.get("/settings/webhooks/new/")
        print(json.dumps({
            "status": [page.status_code, form.status_code],
            "settings": "Webhook Settings" in page.content.decode(),
            "drf": sorted(m for m in sys.modules if m.startswith(("rest_framework", "drf_spectacular"))),
        }))
    """
    out = last_json_line(django_admin("shell", "-c", textwrap.dedent(code)).stdout)
    assert out == {"status": [200, 200], "settings": True, "drf": []}

    # The API's token command says what is missing instead of an ImportError.
    token = django_admin("webhooks_token", "admin", check=False)
    assert token.returncode == 1 and "webhooks_app[api]" in token.stderr and "Traceback" not in token.stderr

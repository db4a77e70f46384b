"""The version matrix (`make matrix`): each supported Python with each supported Django.

Every session installs the project with all its extras and the Django it names,
runs the fast part of the suite (no browser, no real cluster, no PostgreSQL) and
then the install test (tests/test_install.py: the wheel into a fresh virtualenv
and a brand-new project, with the same Django). `make test` stays on the default
interpreter and runs everything.

    nox -l                                             # the sessions
    nox -s "tests(python='3.12', django='6.0')"        # one of them
    nox -s "tests(python='3.13', django='5.2')" -- tests/test_checks.py   # other pytest arguments
    nox -s install                                     # only the install test, everywhere

The interpreters are the ones under /root/.pyenv/versions/ on this project's
machines (else whatever `python3.X` is on PATH); nox never downloads one.
"""

import os
import re
import tomllib
from pathlib import Path

import nox

PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
PYTHONS = ("3.11", "3.12", "3.13")
# Each Django with the oldest Python it supports. Django 6.0 needs 3.12; django-q2
# 1.11 declares only "django>=5.2" and runs on 6.0: its sessions prove it (the
# suite, and the install test with a real qcluster). pyproject.toml's classifiers
# and bounds name exactly these (tests/test_install.py checks it).
DJANGOS = {"5.2": "3.11", "6.0": "3.12"}
MATRIX = [
    (python, django)
    for django, oldest in DJANGOS.items()
    for python in PYTHONS
    if tuple(map(int, python.split("."))) >= tuple(map(int, oldest.split(".")))
]
FAST = "not browser and not cluster and not postgres"

nox.options.default_venv_backend = "venv"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]


def _put_pyenv_interpreters_on_path() -> None:
    """Make python3.X resolve to the newest /root/.pyenv/versions/3.X.* (pyenv's shims need a
    `pyenv global` that lists the version; the interpreters themselves do not)."""
    found = []
    for python in PYTHONS:
        candidates = sorted(
            PYENV_VERSIONS.glob(f"{python}.*/bin/python{python}"),
            key=lambda p: tuple(int(n) for n in p.parent.parent.name.split(".") if n.isdigit()),
        )
        if candidates:
            found.append(str(candidates[-1].parent))
    os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_put_pyenv_interpreters_on_path()


@nox.session
@nox.parametrize("python,django", MATRIX)
def tests(session: nox.Session, django: str) -> None:
    """The fast part of the suite, then the install test."""
    install(session, django)
    if session.posargs:
        pytest(session, django, *session.posargs)
        return
    pytest(session, django, "-m", FAST)
    pytest(session, django, "-m", "cluster", "tests/test_install.py")


@nox.session(name="install")
@nox.parametrize("python,django", MATRIX)
def install_only(session: nox.Session, django: str) -> None:
    """Only the install test (what CI runs on each combination, after `make test`)."""
    # The test builds and installs its own wheel: this session needs only what runs it
    # (pytest loads tests.settings, the demo's settings: [api] and [demo]).
    session.install(".[api,demo]", *test_requirements("pytest", "pytest-django"), f"Django~={django}.0")
    pytest(session, django, "-m", "cluster", "tests/test_install.py")


def test_requirements(*names: str) -> list[str]:
    """Those of the test extra's requirements (with their bounds) that are named."""
    extra = tomllib.loads(Path("pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    return [r for r in extra if re.split(r"[<>=~!\[; ]", r, maxsplit=1)[0].lower() in names]


def install(session: nox.Session, django: str) -> None:
    session.install(".[api,postgres,redis,server,test]", f"Django~={django}.0")
    session.run(
        "python",
        "-c",
        "import django, sys; print('Python', sys.version.split()[0], 'Django', django.get_version())",
    )


def pytest(session: nox.Session, django: str, *args: str) -> None:
    env = {
        # A SQLite test database of this session's own, beside the other runs' ones.
        "PYTEST_XDIST_WORKER": f"nox-{str(session.python).replace('.', '')}-{django}",
        # The install test installs this same Django into its fresh virtualenv.
        "WEBHOOKS_INSTALL_TEST_DJANGO": f"Django~={django}.0",
    }
    session.run("pytest", "-p", "no:cacheprovider", "-q", *args, env=env)

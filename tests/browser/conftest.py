"""Playwright (sync API) driving Debian's Chromium against pytest-django's live_server.

Screenshots go to test-results/screenshots/, or to docs/ (the ones the README and
the docs show) when UPDATE_SCREENSHOTS=1, so an ordinary test run leaves the tree clean.
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-pw"


@pytest.fixture(scope="module")
def chromium():
    """One Chromium per module; Playwright's event loop stops with it.

    Playwright's sync API keeps an event loop running in this thread, and Django
    refuses ORM calls from a thread with a running loop unless told that this is
    intended: DJANGO_ALLOW_ASYNC_UNSAFE is set only while the loop runs.
    """
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is missing at {CHROMIUM}; CI requires it", pytrace=False)
        pytest.skip(f"Chromium is missing at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(chromium):
    """Open a page (optionally without JavaScript); every context is closed after the test."""
    contexts = []

    def open_page(**options):
        options.setdefault("viewport", {"width": 1440, "height": 900})
        context = chromium.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def admin_user(transactional_db):
    from django.contrib.auth.models import User

    return User.objects.create_superuser("admin", "admin@example.com", PASSWORD)


@pytest.fixture
def login(live_server, admin_user):
    """Log a page in through the login form, as a person would."""

    def do_login(page, path="/settings/webhooks/"):
        page.goto(live_server.url + path)
        page.get_by_label("Username").fill(admin_user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"**{path}")
        return page

    return do_login


@pytest.fixture
def screenshot():
    target = (
        ROOT / "docs"
        if os.environ.get("UPDATE_SCREENSHOTS") == "1"
        else ROOT / "test-results" / "screenshots"
    )
    target.mkdir(parents=True, exist_ok=True)

    def save(page, name: str, *, whole_page: bool = False) -> Path:
        """Save a screenshot; whole_page grows the viewport to the page's height first.

        Growing the viewport (rather than Playwright's full_page stitching) keeps the
        sticky sidebar where a person would see it.
        """
        path = target / name
        size = page.viewport_size
        if whole_page:
            height = page.evaluate("document.documentElement.scrollHeight")
            page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
        try:
            page.screenshot(path=str(path))
        finally:
            page.set_viewport_size(size)
        return path

    return save

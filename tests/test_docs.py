"""The documentation: built strictly, complete about the settings, true about the files and code it shows.

- The settings reference (docs/configuration.md) is generated from the comments above
  each key of ``webhooks_app.conf.DEFAULTS`` by docs/hooks/settings_reference.py: every
  key needs such a comment, and the built page names every key with its default.
- ``mkdocs build --strict`` passes (a broken link or anchor, a page missing from the
  nav, a key without a comment would fail it).
- Every repository path the README and the docs write exists, and the architecture
  page names every module of webhooks_app/.
- The Node receiver of docs/receivers.md, run as written with Node, verifies and
  decrypts real deliveries and refuses forged or replayed requests.
"""

import contextlib
import html
import http.client
import importlib.util
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import transaction
from django.test import TestCase

from webhooks_app import conf, crypto_payload, emit, signing
from webhooks_app.models import Delivery

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _load_hook():
    spec = importlib.util.spec_from_file_location(
        "settings_reference", DOCS / "hooks" / "settings_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _load_hook()


# The settings reference ---------------------------------------------------------------


def test_every_default_has_a_comment_directly_above_it():
    documented = hook.settings_from_conf()
    assert [s.name for s in documented] == list(conf.DEFAULTS), (
        "DEFAULTS must be one dict literal of string keys, so the reference sees every key"
    )
    missing = [f"{s.name} (conf.py line {s.line})" for s in documented if not s.comment]
    assert not missing, f"DEFAULTS keys without a comment above them: {missing}"


def test_a_key_without_its_own_comment_is_reported():
    """The control: a key that follows another key, or a blank line, has no comment."""
    source = (
        "DEFAULTS = {\n"
        "    # Seconds per request.\n"
        "    # Second line.\n"
        '    "TIMEOUT": 10,\n'
        '    "JITTER": 0.2,\n'
        "    # Orphan comment.\n"
        "\n"
        '    "SIZE": 256 * 1024,\n'
        "}\n"
    )
    settings = {s.name: s for s in hook.settings_from_source(source)}
    assert settings["TIMEOUT"].comment == "Seconds per request. Second line."
    assert settings["TIMEOUT"].default == "10"
    assert settings["JITTER"].comment == ""
    assert settings["SIZE"].comment == "" and settings["SIZE"].default == "256 * 1024"


def test_keys_the_parser_cannot_see_are_refused():
    with pytest.raises(ValueError, match="string literal"):
        hook.settings_from_source("OTHER = {}\nDEFAULTS = {**OTHER, 'A': 1}\n")
    with pytest.raises(ValueError, match="DEFAULTS"):
        hook.settings_from_source("DEFAULTS = dict(A=1)\n")


def test_comments_render_as_text_with_links_to_other_settings():
    text = hook.render(
        [
            hook.Setting("A_B", "[1]", "After <b>C_D</b> * 2, see `x_y`.", 1),
            hook.Setting("C_D", "None", "x", 2),
        ]
    )
    assert "### `A_B` {#a_b}" in text and "Default: `[1]`" in text
    assert r"After \<b\>[`C_D`](#c_d)\</b\> \* 2, see `x_y`." in text


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The docs built as `make docs-build` builds them (strict), into a directory of this run."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def test_the_built_reference_names_every_key_with_its_default(site):
    page = (site / "configuration" / "index.html").read_text(encoding="utf-8")
    assert "settings-reference" in page and "<!-- settings-reference -->" not in page
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    for setting in hook.settings_from_conf():
        assert f'id="{setting.anchor}"' in page, f"no section for {setting.name}"
        assert f"Default: {setting.default}" in text, f"no default for {setting.name}"
        first_words = " ".join(setting.comment.split()[:4])
        assert first_words in text, f"the comment of {setting.name} is not on the page"


def test_the_installation_page_includes_the_readme_install_steps(site):
    page = html.unescape((site / "installation" / "index.html").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    kinds = re.findall(r"^# install-step: (.+)$", readme, re.MULTILINE)
    assert len(kinds) == 4
    for kind in kinds:
        assert f"# install-step: {kind}" in re.sub(r"<[^>]+>", "", page)


# Files and modules named by the docs --------------------------------------------------

PATH_PREFIXES = ("webhooks_app/", "config/", "tests/", "deploy/", "docs/", "templates/", "static/", ".ci/")
TOP_LEVEL = {
    "Makefile",
    "noxfile.py",
    "pyproject.toml",
    "CHANGELOG.md",
    "README.md",
    "mkdocs.yml",
    "manage.py",
}


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def named_paths(text: str) -> set[str]:
    """Repository paths written in backticks outside code blocks: `tests/test_x.py`, `deploy/`."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    spans = re.findall(r"`([^`\n]+)`", prose)
    return {
        s for s in spans if (s.startswith(PATH_PREFIXES) or s in TOP_LEVEL) and re.fullmatch(r"[\w./-]+", s)
    }


def exists(path: str) -> bool:
    # A template or a static file is also named as Django finds it (`webhooks_app/base.html`).
    bases = (ROOT, ROOT / "webhooks_app" / "templates", ROOT / "webhooks_app" / "static")
    return any((base / path).exists() for base in bases)


def test_every_file_the_readme_and_the_docs_name_exists():
    missing = {
        f"{doc.relative_to(ROOT)}: {path}"
        for doc in documents()
        for path in named_paths(doc.read_text(encoding="utf-8"))
        if not exists(path)
    }
    assert not missing, f"named but not in the repository: {sorted(missing)}"


def test_the_file_check_sees_paths_and_ignores_code_blocks():
    text = "See `tests/test_nothing_here.py` and `Makefile`, not `make test`.\n```sh\n`tests/x.py`\n```\n"
    assert named_paths(text) == {"tests/test_nothing_here.py", "Makefile"}
    assert not exists("tests/test_nothing_here.py") and exists("Makefile")


def test_the_readme_links_only_to_files_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = [link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", readme)]
    local = [link for link in links if link and not re.match(r"[a-z]+:", link)]
    assert "docs/index.md" in local and "docs/console-list.png" in local
    assert [link for link in local if not (ROOT / link).exists()] == []


def test_the_architecture_page_names_every_module():
    """Every module of webhooks_app/ with code (migrations and empty package markers aside)."""
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    modules = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "webhooks_app").rglob("*.py")
        if "migrations" not in path.parts and path.read_text(encoding="utf-8").strip()
    )
    assert "webhooks_app/transport.py" in modules
    missing = [module for module in modules if f"`{module}`" not in page]
    assert not missing, f"docs/architecture.md does not name: {missing}"


# The Node receiver of docs/receivers.md -------------------------------------------------


def node_blocks() -> dict[str, str]:
    """The ```js blocks of receivers.md, by the file name their first line gives."""
    text = (DOCS / "receivers.md").read_text(encoding="utf-8")
    blocks = {}
    for code in re.findall(r"^```js\n(.*?)^```$", text, re.MULTILINE | re.DOTALL):
        name = re.match(r"// ([\w.-]+\.mjs):", code)
        if name:
            blocks[name.group(1)] = code
    return blocks


@pytest.fixture
def node():
    found = shutil.which("node")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("Node is needed for the docs' Node receiver (CI requires it)")
        pytest.skip("Node is not installed")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeReceiver:
    """receiver.mjs from the docs, as a process on a free port; its stdout lines in a queue."""

    def __init__(self, node: str, directory: Path, port: int, *, secret: str, encryption_key: str = ""):
        for name, code in node_blocks().items():
            (directory / name).write_text(code, encoding="utf-8")
        self.port = port
        env = {"PATH": os.environ.get("PATH", ""), "PORT": str(self.port), "WEBHOOK_SECRET": secret}
        if encryption_key:
            env["ENCRYPTION_KEY"] = encryption_key
        self.process = subprocess.Popen(
            [node, "receiver.mjs"],
            cwd=directory,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"receiver.mjs did not start: {self.process.stderr.read()}")
            time.sleep(0.05)

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)

    def printed(self, timeout=10.0) -> dict:
        return json.loads(self.lines.get(timeout=timeout))

    def post(self, body: bytes, headers: dict) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("POST", "/hooks", body=body, headers=headers)
            return connection.getresponse().status
        finally:
            connection.close()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=5)


@contextlib.contextmanager
def committed():
    with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        yield


def signed_headers(secret: str, body: bytes, *, msg_id="evt_docs", timestamp=None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = signing.standard_signature(
        secrets_=[secret], msg_id=msg_id, timestamp=timestamp, body=body.decode()
    )
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def test_the_docs_show_both_node_files():
    assert set(node_blocks()) == {"webhook-verify.mjs", "receiver.mjs"}
    assert "node:crypto" in node_blocks()["webhook-verify.mjs"]
    imports = re.findall(r'from "([^"]+)"', "".join(node_blocks().values()))
    assert set(imports) <= {"node:crypto", "node:http", "./webhook-verify.mjs"}, (
        "node:crypto and node:http only"
    )


@pytest.mark.django_db
def test_the_node_receiver_verifies_and_decrypts_a_real_delivery(node, tmp_path, make_webhook):
    port = free_port()  # the webhook needs the receiver's URL, the receiver the webhook's keys
    webhook = make_webhook(f"http://127.0.0.1:{port}/hooks", payload_encryption="aes-256-gcm")
    receiver = NodeReceiver(
        node, tmp_path, port, secret=webhook.secret, encryption_key=webhook.encryption_key
    )
    try:
        data = {"id": 42, "email": "åsa@example.com", "accepts_email": True}
        with committed():
            event = emit("contact.updated", data=data, context={"source": "docs"})
        assert receiver.printed() == {"id": event.pk, "event_type": "contact.updated", "data": data}
        assert Delivery.objects.get(event=event).status == Delivery.Status.SUCCEEDED

        other_key = crypto_payload.data_encrypt(crypto_payload.key_generate(), {"id": 1})
        body = json.dumps({"id": "evt_docs", "is_encrypted": True, "data": other_key}).encode()
        assert receiver.post(body, signed_headers(webhook.secret, body)) == 400, "not for this key"
    finally:
        receiver.stop()


@pytest.mark.django_db
def test_the_node_receiver_verifies_a_secret_of_your_own_and_refuses_forgeries(node, tmp_path, make_webhook):
    secret = "my-own-signing-secret-2026"
    port = free_port()
    webhook = make_webhook(f"http://127.0.0.1:{port}/hooks", secret=secret)
    receiver = NodeReceiver(node, tmp_path, port, secret=webhook.secret)
    try:
        with committed():
            event = emit("contact.created", data={"id": 7})
        assert receiver.printed() == {"id": event.pk, "event_type": "contact.created", "data": {"id": 7}}
        assert Delivery.objects.get(event=event).status == Delivery.Status.SUCCEEDED

        body = json.dumps({"id": "evt_docs", "event_type": "contact.created", "data": {"id": 8}}).encode()
        good = signed_headers(secret, body)
        assert receiver.post(body, good) == 204
        assert receiver.printed()["data"] == {"id": 8}
        assert receiver.post(body, good) == 204, "a duplicate is answered..."
        assert receiver.post(body.replace(b"8", b"9"), good) == 400, "an altered body is refused"
        assert receiver.post(body, signed_headers("another-secret-of-16+", body)) == 400
        old = signed_headers(secret, body, timestamp=int(time.time()) - 600)
        assert receiver.post(body, old) == 400, "a replay ten minutes later is refused"
        assert receiver.post(body, {"Content-Type": "application/json"}) == 400
        with pytest.raises(queue.Empty):
            receiver.printed(timeout=0.5)  # ...but not handled twice, and nothing refused was handled
    finally:
        receiver.stop()

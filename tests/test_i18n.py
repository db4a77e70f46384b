"""The console's translations: English by default, Swedish from Accept-Language, and a catalog
that is complete and compiled.

The .po file is parsed with the standard library only, and the committed .mo is compared with
a compilation of the .po done here in Python, so neither the suite nor a user needs GNU gettext.
"""

import ast
import gettext
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import translation

import webhooks_app
from webhooks_app.models import Delivery
from webhooks_app.permissions import denied_message
from webhooks_app.validators import validate_webhook_url

APP_DIR = Path(webhooks_app.__file__).resolve().parent
LOCALE_DIR = APP_DIR / "locale"
PO = LOCALE_DIR / "sv" / "LC_MESSAGES" / "django.po"
MO = LOCALE_DIR / "sv" / "LC_MESSAGES" / "django.mo"

# docs/console.md, "Labels are part of the contract": the console's English labels.
CONTRACT_LABELS = {
    "Settings",
    "Webhook Settings",
    "Create Webhook",
    "Webhook Name",
    "Webhook Events",
    "Notification Type",
    "URL",
    "API Key",
    "Create",
    "Cancel",
    "Update",
    "Delete",
    "Deliveries",
    "Redeliver",
    "Send test event",
}
# "URL" is written the same in Swedish.
SAME_IN_SWEDISH = {"URL"}
SWEDISH = {
    "Settings": "Inställningar",
    "Webhook Settings": "Webhook-inställningar",
    "Create Webhook": "Skapa webhook",
    "Webhook Name": "Webhookens namn",
    "Webhook Events": "Webhookens händelser",
    "Notification Type": "Aviseringstyp",
    "API Key": "API-nyckel",
    "Create": "Skapa",
    "Cancel": "Avbryt",
    "Update": "Uppdatera",
    "Delete": "Radera",  # as Django's own Swedish catalog says it
    "Deliveries": "Leveranser",
    "Redeliver": "Leverera igen",
    "Send test event": "Skicka testhändelse",
}

PERMISSIONS = [
    "view_webhook",
    "add_webhook",
    "change_webhook",
    "delete_webhook",
    "view_delivery",
    "add_delivery",
]


@pytest.fixture(autouse=True)
def language_restored():
    """A request activates its language in this thread: the next test starts as this one did."""
    with translation.override(translation.get_language()):
        yield


@pytest.fixture
def console(db):
    # As tests/test_console_views.py makes its staff user.
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="webhooks_app", codename__in=PERMISSIONS)
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def pages(make_webhook):
    """The console's pages that carry the contract labels, each with the labels it shows in English."""
    from tests.test_console_views import add_delivery

    hook = make_webhook("https://crm.example.com/hooks", name="CRM sync")
    delivery = add_delivery(hook, status=Delivery.Status.FAILED)
    chrome = {"Settings", "Webhook Settings"}
    return {
        "list": (reverse("webhooks_app:webhook-list"), chrome | {"Create Webhook", "Deliveries"}),
        "create": (
            reverse("webhooks_app:webhook-create"),
            chrome
            | {"Create Webhook", "Webhook Name", "Webhook Events", "Notification Type", "URL", "API Key"}
            | {"Create", "Cancel"},
        ),
        "update": (
            reverse("webhooks_app:webhook-update", args=[hook.pk]),
            chrome | {"Webhook Name", "Update", "Cancel", "Delete", "Deliveries", "Send test event"},
        ),
        "deliveries": (
            reverse("webhooks_app:webhook-deliveries", args=[hook.pk]),
            chrome | {"Deliveries", "Send test event", "URL"},
        ),
        "delivery": (reverse("webhooks_app:delivery-detail", args=[delivery.pk]), chrome | {"Redeliver"}),
        "delete": (reverse("webhooks_app:webhook-delete", args=[hook.pk]), chrome | {"Delete", "Cancel"}),
    }


class VisibleTexts(HTMLParser):
    """The texts a user sees or hears: text nodes (outside script and style) and the accessible
    names and hints in aria-label, title and placeholder, each stripped and with spaces collapsed."""

    ATTRIBUTES = ("aria-label", "title", "placeholder")

    def __init__(self):
        super().__init__()
        self.texts: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in self.ATTRIBUTES and value:
                self._add(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self._add(data)

    def _add(self, text):
        text = " ".join(text.split())
        if text:
            self.texts.add(text)


def visible_texts(response) -> set[str]:
    parser = VisibleTexts()
    parser.feed(response.content.decode())
    return parser.texts


@pytest.mark.parametrize("page", ["list", "create", "update", "deliveries", "delivery", "delete"])
def test_console_is_english_without_accept_language(console, pages, page):
    url, labels = pages[page]
    response = console.get(url)
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    texts = visible_texts(response)
    assert labels <= texts, labels - texts
    assert '<html lang="en">' in response.content.decode()


@pytest.mark.parametrize("page", ["list", "create", "update", "deliveries", "delivery", "delete"])
def test_console_is_swedish_with_accept_language_sv(console, pages, page):
    url, labels = pages[page]
    response = console.get(url, HTTP_ACCEPT_LANGUAGE="sv-SE,sv;q=0.9,en;q=0.5")
    assert response.status_code == 200
    assert response["Content-Language"] == "sv"
    texts = visible_texts(response)
    english = (CONTRACT_LABELS - SAME_IN_SWEDISH) & texts
    assert not english, f"English contract labels on the Swedish {page} page: {sorted(english)}"
    swedish = {SWEDISH[label] for label in labels - SAME_IN_SWEDISH}
    assert swedish <= texts, swedish - texts
    assert '<html lang="sv">' in response.content.decode()


def test_swedish_form_errors_scripts_and_messages(console, pages):
    sv = {"HTTP_ACCEPT_LANGUAGE": "sv"}
    # A refused form: the model's and the form's messages.
    response = console.post(reverse("webhooks_app:webhook-create"), {"name": "", "url": "ftp://x"}, **sv)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Rätta fälten som är markerade nedan; inget sparades." in body
    assert "Ge webhooken ett namn." in body
    assert "URL:en måste börja med http:// eller https://." in body
    assert "Välj minst en händelse, eller Alla händelser." in body
    # The scripts' texts, rendered for console.js and editors.js.
    assert 'data-dismiss="Stäng"' in body
    assert 'data-op-eq="är lika med"' in body
    # A flash message after an action.
    hook = pages["update"][0].rstrip("/").split("/")[-1]
    response = console.post(
        reverse("webhooks_app:webhook-toggle", args=[hook]), {"enabled": "0"}, follow=True, **sv
    )
    assert "Webhooken ”CRM sync” inaktiverades." in response.content.decode()


def test_swedish_refusal_and_validation_messages():
    with translation.override("sv"):
        assert denied_message("webhook_send_test") == (
            "Du behöver behörigheterna webhooks_app.view_webhook och webhooks_app.change_webhook "
            "för att skicka testhändelser."
        )
        with pytest.raises(Exception) as exc:
            validate_webhook_url("ftp://example.com/")
        assert exc.value.messages == ["URL:en måste börja med http:// eller https://."]
        assert str(Delivery.Status.SUCCEEDED.label) == "Lyckades"
    assert (
        denied_message("webhook_view") == "You need the permission webhooks_app.view_webhook to see webhooks."
    )


# The catalog ------------------------------------------------------------------------------


def po_entries(path: Path) -> list[dict]:
    """The entries of a .po file: flags, msgctxt, msgid, msgid_plural and msgstr (a list, one
    per plural form), with the strings unescaped. Standard library only."""
    entries, entry, key = [], None, None

    def finish():
        if entry is not None and "msgid" in entry:
            entries.append(entry)

    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            if entry is not None and "msgid" in entry:
                finish()
                entry = None
            if entry is None:
                entry = {"flags": set(), "msgstr": {}}
            if line.startswith("#,"):
                entry["flags"] |= {f.strip() for f in line[2:].split(",")}
            continue
        match = re.match(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")$", line)
        if match:
            keyword, index, literal = match.groups()
            if keyword == "msgctxt" or (keyword == "msgid" and entry is not None and "msgid" in entry):
                finish()
                entry = None
            if entry is None:
                entry = {"flags": set(), "msgstr": {}}
            value = ast.literal_eval(literal)
            if keyword.startswith("msgstr"):
                key = ("msgstr", int(index or 0))
                entry["msgstr"][key[1]] = value
            else:
                key = (keyword, None)
                entry[keyword] = value
            continue
        assert line.startswith('"'), f"unexpected line in {path.name}: {line!r}"
        continuation = ast.literal_eval(line)
        if key[0] == "msgstr":
            entry["msgstr"][key[1]] += continuation
        else:
            entry[key[0]] += continuation
    finish()
    for e in entries:
        e["msgstr"] = [e["msgstr"][i] for i in sorted(e["msgstr"])]
    return entries


def test_swedish_catalog_is_complete():
    entries = po_entries(PO)
    messages = [e for e in entries if e["msgid"]]
    assert len(messages) > 300  # every console text, not a sample
    header = next(e for e in entries if not e["msgid"])
    assert "Language: sv\n" in header["msgstr"][0]
    assert "Plural-Forms: nplurals=2; plural=(n != 1);" in header["msgstr"][0]
    problems = []
    for e in entries:
        if "fuzzy" in e["flags"]:
            problems.append(("fuzzy", e["msgid"]))
        if e["msgid"] and (not e["msgstr"] or not all(e["msgstr"])):
            problems.append(("untranslated", e["msgid"]))
        if e["msgid"] and len(e["msgstr"]) != (2 if "msgid_plural" in e else 1):
            problems.append(("plural forms", e["msgid"]))
    assert not problems, problems
    assert "#, fuzzy" not in PO.read_text(encoding="utf-8")


def test_swedish_translations_keep_placeholders():
    placeholder = re.compile(r"%\([a-z_]+\)[sd]|\{\{ *\w+ *\}\}")
    for e in po_entries(PO):
        if not e["msgid"]:
            continue
        wanted = sorted(placeholder.findall(e.get("msgid_plural", e["msgid"])))
        for text in e["msgstr"]:
            assert sorted(placeholder.findall(text)) == wanted, (e["msgid"], text)


def test_no_other_catalog_changes_a_console_text():
    """Django merges the catalogs of every installed app, the first listed winning: a msgid that
    django.contrib.admin (listed before webhooks_app) also translates must read the same in ours,
    or the console would show the other app's word."""
    with MO.open("rb") as fp:
        ours = gettext.GNUTranslations(fp)._catalog
    with translation.override("sv"):
        differ = {
            msgid: (text, translation.gettext(msgid))
            for msgid, text in ours.items()
            if msgid and isinstance(msgid, str) and translation.gettext(msgid) != text
        }
    assert not differ, differ


def po_catalog(path: Path) -> dict:
    """What msgfmt would put in the .mo, as gettext.GNUTranslations reads it back: msgid -> msgstr,
    (msgid, n) -> msgstr[n] for plurals, fuzzy and untranslated entries left out."""
    catalog = {}
    for e in po_entries(path):
        if "fuzzy" in e["flags"] and e["msgid"]:
            continue
        msgid = e["msgid"] if "msgctxt" not in e else f"{e['msgctxt']}\x04{e['msgid']}"
        if "msgid_plural" in e:
            if all(e["msgstr"]):
                for n, text in enumerate(e["msgstr"]):
                    catalog[(msgid, n)] = text
        elif e["msgstr"][0] or not msgid:
            catalog[msgid] = e["msgstr"][0]
    return catalog


def test_compiled_catalog_matches_the_po_file():
    with MO.open("rb") as fp:
        compiled = gettext.GNUTranslations(fp)
    expected = po_catalog(PO)
    # msgfmt leaves the template's creation date out of the compiled header.
    expected[""] = re.sub(r"^POT-Creation-Date: .*\n", "", expected[""], flags=re.M)
    assert compiled._catalog == expected, "django.mo is stale: run compilemessages and commit it"


def test_templates_literals_are_in_the_catalog():
    """Every {% translate "..." %} and _("...") of the templates has an entry (makemessages was run)."""
    msgids = {e["msgid"] for e in po_entries(PO)}
    literal = re.compile(r"""\{% translate (["'])(.*?)\1|_\((["'])(.*?)\3\)""")
    missing = []
    for template in (APP_DIR / "templates").rglob("*.html"):
        for match in literal.finditer(template.read_text(encoding="utf-8")):
            text = match.group(2) if match.group(2) is not None else match.group(4)
            if text not in msgids:
                missing.append((template.name, text))
    assert not missing, missing

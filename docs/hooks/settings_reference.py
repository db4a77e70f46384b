"""MkDocs hook: the settings reference on docs/configuration.md, built from webhooks_app/conf.py.

Each key of conf.py's ``DEFAULTS`` becomes a section with its default, as the source
writes it, and the comment lines directly above the key, so a key added to DEFAULTS
with a comment is documented without touching the docs. A key with no comment
above it is a build warning, which ``mkdocs build --strict`` (``make test``) turns
into a failure; tests/test_docs.py checks the same without a build.

conf.py is read with ``ast``, not imported: the build needs neither Django nor
settings.
"""

import ast
import logging
import re
from dataclasses import dataclass
from pathlib import Path

CONF = Path(__file__).resolve().parents[2] / "webhooks_app" / "conf.py"
PAGE = "configuration.md"
MARKER = "<!-- settings-reference -->"

log = logging.getLogger("mkdocs.hooks.settings_reference")


@dataclass(frozen=True)
class Setting:
    name: str
    default: str  # the default's source text, on one line
    comment: str  # the comment lines directly above the key, joined; "" when there are none
    line: int  # of the key in conf.py

    @property
    def anchor(self) -> str:
        return self.name.lower()


def settings_from_source(source: str) -> list[Setting]:
    """Every key of the module-level ``DEFAULTS = {...}`` in source, in order, with its comment."""
    tree = ast.parse(source)
    found = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [getattr(target, "id", None) for target in node.targets] == ["DEFAULTS"]
        and isinstance(node.value, ast.Dict)
    ]
    if len(found) != 1:
        raise ValueError("webhooks_app/conf.py must assign DEFAULTS = {...} once, as a dict literal.")
    lines = source.splitlines()
    settings = []
    for key, value in zip(found[0].keys, found[0].values, strict=True):
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
            where = getattr(key, "lineno", getattr(value, "lineno", "?"))
            raise ValueError(
                f"conf.py line {where}: a DEFAULTS key must be a string literal (no ** or expressions)."
            )
        comment, index = [], key.lineno - 2
        while index >= 0 and lines[index].strip().startswith("#"):
            comment.insert(0, lines[index].strip().lstrip("#").strip())
            index -= 1
        default = " ".join((ast.get_source_segment(source, value) or "").split())
        settings.append(Setting(key.value, default, " ".join(c for c in comment if c), key.lineno))
    return settings


def settings_from_conf() -> list[Setting]:
    return settings_from_source(CONF.read_text(encoding="utf-8"))


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _prose(text: str, names: set[str]) -> str:
    """A comment as Markdown: literal outside `code spans`, other settings' names as links."""
    pieces = re.split(r"(`[^`]*`)", text)
    out = []
    for piece in pieces:
        if piece.startswith("`") and piece.endswith("`") and len(piece) > 1:
            out.append(piece)
            continue
        piece = re.sub(r"([\\*_\[\]<>#|])", r"\\\1", piece)
        for name in sorted(names, key=len, reverse=True):
            escaped = re.escape(name.replace("_", "\\_"))
            piece = re.sub(rf"(?<![\w\\]){escaped}(?!\w)", f"[`{name}`](#{name.lower()})", piece)
        out.append(piece)
    return "".join(out)


def render(settings: list[Setting]) -> str:
    """The reference as Markdown: an index of the keys, then one section per key."""
    names = {s.name for s in settings}
    parts = [" · ".join(f"[`{s.name}`](#{s.anchor})" for s in settings), ""]
    for setting in settings:
        parts += [
            f"### `{setting.name}` {{#{setting.anchor}}}",
            "",
            f"Default: {_code(setting.default)}",
            "",
            _prose(setting.comment, names - {setting.name})
            if setting.comment
            else "*(no comment in conf.py)*",
            "",
        ]
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        log.warning("%s has no %s line for the settings reference", PAGE, MARKER)
        return markdown
    settings = settings_from_conf()
    for setting in settings:
        if not setting.comment:
            log.warning(
                "webhooks_app/conf.py line %s: DEFAULTS[%r] has no comment directly above it; "
                "the settings reference is built from that comment",
                setting.line,
                setting.name,
            )
    return markdown.replace(MARKER, render(settings))

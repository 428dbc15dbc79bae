"""Turning what users type into HTML that is safe to store and show.

Every user-authored body is stored twice: the source (markdown or the
original HTML) and the sanitized HTML rendered from it. Templates then show
the sanitized HTML; nothing else is ever marked safe.
"""

from __future__ import annotations

import re
import unicodedata

import nh3
from markdown_it import MarkdownIt

# Raw HTML inside markdown is disabled: what the user typed as HTML shows as text.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable(
    ["table", "strikethrough"]
)

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup",
    "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "abbr": {"title"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto", "tel"}


_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")


def _drop_disguised_schemes(tag: str, attribute: str, value: str) -> str | None:
    """Drops URLs whose scheme is hidden behind invisible characters.

    The sanitizer already allows only http(s), mailto and tel, but it reads
    "\u2028javascript:..." as a relative URL. Browsers do too today; removing
    such values costs nothing and keeps us safe from parsers that disagree.
    """
    if attribute not in {"href", "src"}:
        return value
    visible = "".join(
        ch for ch in value if not ch.isspace() and unicodedata.category(ch) not in {"Cc", "Cf"}
    ).lower()
    match = _SCHEME.match(visible)
    if match and match.group(1) not in ALLOWED_URL_SCHEMES:
        return None
    return value


def sanitize_html(html: str) -> str:
    """Returns ``html`` with only harmless tags, attributes and URL schemes left."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=_drop_disguised_schemes,
    )


def render_markdown(text: str) -> str:
    """Renders user markdown to sanitized HTML."""
    return sanitize_html(_markdown.render(text))


def plain_text(text: str, limit: int = 200) -> str:
    """A one-line preview of a body: tags removed, whitespace collapsed, cut at ``limit``."""
    stripped = nh3.clean(text, tags=set())
    collapsed = " ".join(stripped.split())
    return collapsed if len(collapsed) <= limit else collapsed[: limit - 1] + "…"

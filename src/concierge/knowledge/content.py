"""Article text: markdown to safe HTML with heading anchors, a table of contents, slugs.

The body goes through ``core.sanitize`` like every user-authored text; the
anchors are added afterwards, from the headings' own (already sanitized)
text passed through ``slugify``, so they can only hold ``[a-z0-9-]``. They
carry a ``section-`` prefix so that a heading can never take the id of an
element the page relies on (DOM clobbering).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape

import nh3
from django.utils.text import slugify

from concierge.core.sanitize import plain_text, render_markdown

HEADING = re.compile(r"<h([23])>(.*?)</h\1>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")
MARKDOWN_NOISE = re.compile(r"[#*_`>\[\]()!|~-]+")


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class RenderedBody:
    html: str
    headings: list[Heading]


def render_article_body(source: str) -> RenderedBody:
    """Sanitized HTML of ``source`` with ``id`` anchors on its h2 / h3 headings."""
    html = render_markdown(source)
    headings: list[Heading] = []
    used: set[str] = set()

    def add_anchor(match: re.Match[str]) -> str:
        level, inner = int(match.group(1)), match.group(2)
        text = " ".join(unescape(TAG.sub("", inner)).split())
        base = "section-" + (slugify(text)[:60] or str(len(headings) + 1))
        anchor, counter = base, 2
        while anchor in used:
            anchor, counter = f"{base}-{counter}", counter + 1
        used.add(anchor)
        headings.append(Heading(level=level, text=text, anchor=anchor))
        return f'<h{level} id="{anchor}">{inner}</h{level}>'

    return RenderedBody(html=HEADING.sub(add_anchor, html), headings=headings)


def table_of_contents(body_html: str) -> list[Heading]:
    """The h2 / h3 headings of an already rendered body, with their anchors."""
    pattern = re.compile(r'<h([23]) id="([a-z0-9-]+)">(.*?)</h\1>', re.DOTALL)
    return [
        Heading(level=int(level), text=" ".join(unescape(TAG.sub("", inner)).split()), anchor=a)
        for level, a, inner in pattern.findall(body_html)
    ]


def article_slug(title: str) -> str:
    return slugify(title)[:200] or "article"


# Where a rendered body's blocks end: each becomes a line of its plain text.
BLOCK_END = re.compile(r"(</(?:p|li|h[1-6]|tr|blockquote|pre|dd|dt)>|<br\s*/?>)", re.IGNORECASE)
# A table row's cells stay on its line, whatever whitespace the renderer put between them.
CELL_START = re.compile(r"\s*(<t[dh][\s>])", re.IGNORECASE)


def plain_body(body_html: str, limit: int = 100_000) -> str:
    """The text of a rendered body for the search index: one line per block.

    Paragraphs, list items, headings and table rows each end a line (and so
    do the body's own line breaks), because the index embeds an article's
    lines as passages (``search.text.passages``): flattened, a heading ran
    into the next step ("Start a return Open My orders") and the items of a
    "people also ask" list, which seldom end with a full stop, into one
    passage.
    """
    marked = BLOCK_END.sub(r"\1\n", CELL_START.sub(r" \1", body_html))
    text = unescape(nh3.clean(marked, tags=set()))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)[:limit]


def excerpt(body_html: str, limit: int = 160) -> str:
    return unescape(plain_text(body_html, limit=limit))

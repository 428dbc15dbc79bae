"""User markdown becomes safe HTML; the public XSS payloads never survive as markup."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from concierge.core.sanitize import plain_text, render_markdown, sanitize_html

DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "style", "svg", "math", "form", "input",
                  "base", "meta", "link", "frame", "frameset", "applet", "template"}  # fmt: skip


class ExecutableMarkupFinder(HTMLParser):
    """Collects what in a piece of HTML could run script once it is in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.findings: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DANGEROUS_TAGS:
            self.findings.append(f"<{tag}>")
        for name, value in attrs:
            compact = "".join((value or "").split()).lower()
            if name.startswith("on") or name in {"style", "formaction", "srcdoc"}:
                self.findings.append(f"{tag}[{name}]")
            if compact.startswith(("javascript:", "vbscript:", "data:text/html")):
                self.findings.append(f"{tag}[{name}={value}]")


def executable_markup(html: str) -> list[str]:
    finder = ExecutableMarkupFinder()
    finder.feed(html)
    return finder.findings


def test_markdown_renders_formatting_and_links_with_safe_rel():
    html = render_markdown("**bold** and [docs](https://example.com)")

    assert "<strong>bold</strong>" in html
    assert 'href="https://example.com"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_raw_html_in_markdown_is_shown_as_text():
    html = render_markdown("<b>hi</b><script>alert(1)</script>")

    assert "<script" not in html
    assert "&lt;script&gt;" in html


def test_javascript_links_are_dropped():
    html = render_markdown("[click](javascript:alert(1))")

    assert "href" not in html


def test_sanitize_html_strips_event_handlers_and_scripts():
    html = sanitize_html('<p onclick="x()">hi<img src=x onerror=alert(1)><script>y()</script></p>')

    assert html == '<p>hi<img src="x"></p>'


def test_public_xss_payloads_leave_no_executable_markup(shared_data):
    lines = (shared_data / "security" / "xss" / "payloads.jsonl").read_text().split("\n")
    payloads = [json.loads(line)["payload"] for line in lines if line.strip()]
    assert len(payloads) > 100

    for payload in payloads:
        for html in (render_markdown(payload), sanitize_html(payload)):
            assert executable_markup(html) == [], (payload, html)


def test_plain_text_preview_collapses_and_cuts():
    assert plain_text("<p>Hello</p>\n\n<p>world</p>", limit=8) == "Hello w…"

from __future__ import annotations

import pytest

from concierge.core.sanitize import render_markdown
from concierge.mail.replies import as_markdown_text, extract_reply


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        # Gmail
        (
            "Thanks, that worked.\n\nOn Tue, Jun 3, 2025 at 9:12 AM Acme Support <help@acme.test>"
            " wrote:\n> Please restart the router.\n> Best, Acme\n",
            "Thanks, that worked.",
        ),
        # Thunderbird
        (
            "Still broken.\n\nOn 03/06/2025 09:12, Acme Support wrote:\n> Please restart.\n",
            "Still broken.",
        ),
        # Apple Mail, reply quoted inside
        (
            "Ok!\n\n> On 3 Jun 2025, at 09:12, Acme Support <help@acme.test> wrote:\n>\n> Hi\n",
            "Ok!",
        ),
        # Outlook desktop: no '>' quoting, a header block under a rule
        (
            "Please cancel it.\n\n________________________________\nFrom: Acme Support "
            "<help@acme.test>\nSent: Tuesday, June 3, 2025 9:12 AM\nTo: Pat\nSubject: RE: Order\n\n"
            "Your order shipped.\n",
            "Please cancel it.",
        ),
        # Outlook in German
        (
            "Danke!\n\nVon: Acme Support <help@acme.test>\nGesendet: Dienstag, 3. Juni 2025\n"
            "An: Pat\nBetreff: Bestellung\n\nIhre Bestellung ist unterwegs.\n",
            "Danke!",
        ),
        # Spanish Gmail
        (
            "Gracias.\n\nEl mar, 3 jun 2025 a las 9:12, Acme <help@acme.test> escribió:\n> Hola\n",
            "Gracias.",
        ),
        # Original-message separator
        ("Yes.\n\n-----Original Message-----\nFrom: help@acme.test\n\nOld\n", "Yes."),
        # A sign-off below the quote is kept
        (
            "New text\n\nOn 3 Jun 2025, Acme wrote:\n> old\n> older\n\nCheers, Pat",
            "New text\n\nCheers, Pat",
        ),
    ],
)
def test_extract_reply_removes_quoted_history(text: str, reply: str) -> None:
    assert extract_reply(text).reply == reply


def test_inline_answers_between_quotes_are_kept_whole() -> None:
    text = "> Which model?\nThe X200.\n> Which colour?\nRed.\n"
    assert extract_reply(text).reply == text.strip()


def test_forwarded_mail_is_not_cut() -> None:
    text = (
        "FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Bob <b@x.test>\n"
        "Date: Mon, 2 Jun 2025\nSubject: Broken\nTo: pat@customers.test\n\nIt broke.\n"
    )
    assert extract_reply(text).reply == text.strip()


def test_a_message_that_is_all_quote_is_kept() -> None:
    text = "From: Bob <b@x.test>\nSent: Monday\nTo: Pat\n\nBody"
    parts = extract_reply(text)
    assert parts.reply == text and parts.quoted == ""


def test_quoted_history_is_returned_separately() -> None:
    parts = extract_reply("Hi\n\nOn Mon, 2 Jun 2025 at 10:00, Ann <a@x.test> wrote:\n> Old\n")
    assert parts.quoted == "On Mon, 2 Jun 2025 at 10:00, Ann <a@x.test> wrote:\n> Old"


@pytest.mark.parametrize(
    ("text", "signature"),
    [
        ("Fixed, thanks\n\nSent from my iPhone", "Sent from my iPhone"),
        ("Fixed\n-- \nPat Doe\nACME Corp", "-- \nPat Doe\nACME Corp"),
        ("Sent from my desk, which is easier than my phone.", ""),
    ],
)
def test_signature_is_found_but_kept_in_the_reply(text: str, signature: str) -> None:
    parts = extract_reply(text)
    assert parts.signature == signature
    assert parts.reply == text
    if signature:
        assert parts.body_without_signature == text[: -len(signature)].rstrip()


def test_markdown_escaping_renders_the_same_text() -> None:
    text = "# not a heading\n1. not a list\n> not a quote\n<b>not bold</b> *x* [a](b) & c"
    html = render_markdown(as_markdown_text(text))
    assert "<h1>" not in html and "<ol>" not in html and "<blockquote>" not in html
    assert "&lt;b&gt;not bold&lt;/b&gt; *x* [a](b) &amp; c" in html
    assert "<a " not in html and "<em>" not in html

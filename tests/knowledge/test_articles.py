"""Articles: versions, diff, restore, translations and fallback, sanitizing, slugs."""

from __future__ import annotations

import pytest

from concierge.core.errors import PermissionDenied, ValidationFailed
from concierge.knowledge import actions, services
from concierge.knowledge.content import render_article_body
from concierge.knowledge.models import Article, ArticleVersion
from tests.factories import make_customer_user
from tests.knowledge.helpers import make_article, make_structure

pytestmark = pytest.mark.django_db


def test_every_save_of_the_text_is_a_version(admin_user, agent_user):
    _, section = make_structure(admin_user)
    article = make_article(agent_user, section, body="First text.")

    actions.update_article(actor=agent_user, article=article, changes={"body": "Second text."})
    actions.update_article(actor=agent_user, article=article, changes={"title": "New title"})
    actions.update_article(actor=agent_user, article=article, changes={"status": "draft"})

    versions = list(article.versions.order_by("number"))
    assert [(v.number, v.title, v.body_source) for v in versions] == [
        (1, "Reset your password", "First text."),
        (2, "Reset your password", "Second text."),
        (3, "New title", "Second text."),
    ]
    assert all(v.author_id == agent_user.pk for v in versions)


def test_diff_of_two_versions_shows_removed_and_added_lines_as_text(admin_user, agent_user):
    _, section = make_structure(admin_user)
    article = make_article(agent_user, section, body="Line one\n<script>alert(1)</script>")
    actions.update_article(
        actor=agent_user, article=article, changes={"body": "Line one\nLine two"}
    )
    older, newer = article.versions.order_by("number")

    lines = services.diff_versions(older=older, newer=newer)

    assert ("removed", "<script>alert(1)</script>") in [(line.kind, line.text) for line in lines]
    assert ("added", "Line two") in [(line.kind, line.text) for line in lines]
    assert ("same", "Line one") in [(line.kind, line.text) for line in lines]


def test_restoring_a_version_adds_a_new_version_with_the_old_text(admin_user, agent_user):
    _, section = make_structure(admin_user)
    article = make_article(agent_user, section, body="Original.")
    actions.update_article(actor=agent_user, article=article, changes={"body": "Broken edit."})
    first = article.versions.get(number=1)

    restored = actions.restore_version(actor=agent_user, version=first)

    assert restored.number == 3 and restored.restored_from_id == first.pk
    assert article.translations.get(locale="en").body_source == "Original."
    assert article.versions.count() == 3


def test_light_agents_and_customers_cannot_edit_or_restore(
    admin_user, agent_user, light_agent_user
):
    _, section = make_structure(admin_user)
    article = make_article(agent_user, section, body="Original.")
    customer = make_customer_user()

    for outsider in (light_agent_user, customer):
        with pytest.raises(PermissionDenied):
            actions.update_article(actor=outsider, article=article, changes={"body": "Hacked"})
        with pytest.raises(PermissionDenied):
            actions.restore_version(actor=outsider, version=article.versions.get())

    assert article.translations.get().body_source == "Original."
    assert ArticleVersion.objects.count() == 1


def test_translation_is_chosen_by_locale_with_fallback_to_the_default(admin_user, agent_user):
    _, section = make_structure(admin_user)
    article = make_article(agent_user, section, title="Reset your password")
    actions.update_article(
        actor=agent_user,
        article=article,
        locale="fr",
        changes={"title": "Réinitialiser le mot de passe", "body": "Ouvrez les réglages."},
    )

    def shown(locale: str) -> str:
        found = services.get_localized_article(user=None, article_id=article.pk, locale=locale)
        return f"{found.text.locale}:{found.is_fallback}"

    assert shown("fr") == "fr:False"
    assert shown("fr-ca") == "fr:True"
    assert shown("de") == "en:True"
    assert article.versions.filter(locale="fr").count() == 1


def test_markdown_is_sanitized_and_headings_get_safe_anchors():
    rendered = render_article_body(
        "## Start <img src=x onerror=alert(1)>\n\n<script>alert(1)</script>\n\n"
        "[click](javascript:alert(1))\n\n### Start\n\n![logo](/portal/help/files/1/logo.png)"
    )

    # What was typed as HTML shows as text; no tag or attribute of it survives.
    assert "<script" not in rendered.html and "<img src=x" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert 'href="javascript' not in rendered.html
    assert '<img src="/portal/help/files/1/logo.png" alt="logo">' in rendered.html
    assert [h.anchor for h in rendered.headings] == [
        "section-start-img-srcx-onerroralert1",
        "section-start",
    ]


def test_the_indexed_text_keeps_one_line_per_block_and_snippets_set_them_apart(admin_user):
    from concierge.knowledge.search_source import load_articles
    from concierge.search.text import highlight, passages

    _, section = make_structure(admin_user)
    article = make_article(
        admin_user,
        section,
        title="Returns",
        body=(
            "Returns are free within 30 days.\n\n## Start a return\n\n"
            "1. Open **My orders**.\n2. Choose *Return items*\n\n"
            "| Carrier | Days |\n|---|---|\n| UPS | 3 |\n\n"
            "People also ask:\n\n- Can I return a gift\n- Where is my refund"
        ),
    )
    body = load_articles([article.pk])[article.pk].body  # type: ignore[union-attr]

    assert body.splitlines() == [
        "Returns are free within 30 days.", "Start a return", "Open My orders.",
        "Choose Return items", "Carrier Days", "UPS 3", "People also ask:",
        "Can I return a gift", "Where is my refund",
    ]  # fmt: skip
    # Each question of the list is a passage of its own (embedded with the title).
    assert "Can I return a gift" in passages(body, limit=20)
    # A snippet reads on one line; a line with no closing punctuation is set off.
    assert "Start a return · Open My orders. Choose Return items · Carrier Days" in highlight(
        body, ["gift"], length=400
    )


def test_changing_the_title_keeps_the_old_slug_for_redirects(admin_user, agent_user):
    _, section = make_structure(admin_user)
    article = make_article(agent_user, section, title="Old name")

    actions.update_article(actor=agent_user, article=article, changes={"title": "New name"})

    assert article.translations.get().slug == "new-name"
    assert services.old_slug_redirects_to(article=article, slug="old-name")


def test_title_and_body_are_required_and_limits_are_named(admin_user, agent_user):
    _, section = make_structure(admin_user)
    with pytest.raises(ValidationFailed) as missing:
        make_article(agent_user, section, title="  ", body="")
    assert set(missing.value.field_errors) == {"title", "body"}
    assert Article.objects.count() == 0


def test_draft_from_a_ticket_answer(admin_user, agent_user):
    from tests.factories import EntryFactory, TicketFactory

    make_structure(admin_user)
    ticket = TicketFactory(subject="Printer jams")
    entry = EntryFactory(
        ticket=ticket, kind="reply", author_user=agent_user, body_source="Pull the tray."
    )

    article = actions.create_draft_from_entry(actor=agent_user, entry=entry)

    assert article.status == "draft" and article.created_from_ticket_id == ticket.pk
    assert article.visibility == "internal"  # written to one customer: publishing is a choice
    assert article.translations.get().title == "Printer jams"
    assert article.translations.get().body_source == "Pull the tray."


def test_a_draft_from_an_answer_drops_the_greeting_and_the_sign_off(admin_user, agent_user):
    from tests.factories import EntryFactory, TicketFactory

    make_structure(admin_user)
    first_name = agent_user.name.split()[0]
    reply = (
        "Hi Noah,\r\n\r\nOpen **My orders** and pick the order.\r\n"
        f"Thanks for your patience.\r\n\r\nThanks,\r\n{first_name}\r\n"
    )
    entry = EntryFactory(
        ticket=TicketFactory(subject="Where is my order?"), kind="reply",
        author_user=agent_user, body_source=reply,
    )  # fmt: skip

    article = actions.create_draft_from_entry(actor=agent_user, entry=entry)

    assert article.translations.get().body_source == (
        "Open **My orders** and pick the order.\nThanks for your patience."
    )


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        ("Hello there! The tray pulls out.", "Hello there! The tray pulls out."),  # one line
        ("Dear customer,\nPull the tray.\nBest regards", "Pull the tray."),
        ("Pull the tray.\n\nSam", "Pull the tray."),
        ("Hi,\nThanks,", "Hi,\nThanks,"),  # nothing else: kept as it was
        ("Highlights first.\nPull the tray.", "Highlights first.\nPull the tray."),
    ],
)
def test_answer_as_article_text_drops_only_whole_letter_lines(reply: str, kept: str) -> None:
    assert actions.answer_as_article_text(reply, ["Sam Rivera", "Sam"]) == kept

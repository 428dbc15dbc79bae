"""Knowledge pages of the workspace: authoring, history, structure, branding, reports, composer."""

from __future__ import annotations

import pytest

from concierge.knowledge.models import Article, ArticleStatus, Category, HelpCenterSettings
from concierge.tickets.models import EntryKind
from tests.conftest import signed_in_client
from tests.factories import EntryFactory, TicketFactory
from tests.knowledge.helpers import make_article, make_structure

pytestmark = pytest.mark.django_db


def test_agent_writes_an_article_then_a_translation(admin_user, agent_user):
    _, section = make_structure(admin_user)
    client = signed_in_client(agent_user)

    created = client.post(
        "/knowledge/articles/new/",
        {"title": "Export invoices", "body": "## How\n\nClick export.", "section_id": section.pk,
         "status": "published", "visibility": "public", "tags": "billing, export", "position": 0},
    )  # fmt: skip
    article = Article.objects.get()
    translated = client.post(
        f"/knowledge/articles/{article.pk}/?locale=fr",
        {"title": "Exporter les factures", "body": "Cliquez sur exporter."},
    )

    assert created.status_code == 302 and translated.status_code == 302
    assert sorted(article.translations.values_list("locale", flat=True)) == ["en", "fr"]
    assert sorted(article.tags.values_list("name", flat=True)) == ["billing", "export"]
    page = client.get(f"/knowledge/articles/{article.pk}/").content.decode()
    assert "Export invoices" in page and "?locale=fr" in page


def test_history_page_shows_an_escaped_diff_and_restores(admin_user, agent_user):
    _, section = make_structure(admin_user)
    article = make_article(agent_user, section, body="<b>bold?</b> first")
    client = signed_in_client(agent_user)
    client.post(f"/knowledge/articles/{article.pk}/", {
        "title": "Reset your password", "body": "second", "section_id": section.pk,
        "status": "published", "visibility": "public", "position": 0,
    })  # fmt: skip
    first = article.versions.get(number=1)

    history = client.get(f"/knowledge/articles/{article.pk}/versions/").content.decode()
    restored = client.post(f"/knowledge/articles/{article.pk}/versions/{first.pk}/restore/")

    assert "&lt;b&gt;bold?&lt;/b&gt; first" in history and "<b>bold?</b>" not in history
    assert restored.status_code == 302
    assert article.translations.get().body_source == "<b>bold?</b> first"
    assert article.versions.count() == 3


def test_history_diff_has_one_line_per_changed_line_and_browser_line_ends_make_no_version(
    admin_user, agent_user
):
    _, section = make_structure(admin_user)
    article = make_article(agent_user, section, body="Step one.\n\nStep two.")
    client = signed_in_client(agent_user)
    form = {"title": article.translations.get().title, "section_id": section.pk,
            "status": "published", "visibility": "public", "position": 0}  # fmt: skip
    # What a browser posts for the unchanged text: CRLF line ends.
    client.post(
        f"/knowledge/articles/{article.pk}/", {**form, "body": "Step one.\r\n\r\nStep two."}
    )
    assert article.versions.count() == 1
    client.post(f"/knowledge/articles/{article.pk}/", {**form, "body": "Step one.\r\n\r\nStep 2."})
    assert article.versions.count() == 2
    assert article.translations.get().body_source == "Step one.\n\nStep 2."

    history = client.get(f"/knowledge/articles/{article.pk}/versions/").content.decode()
    diff = history.split('<pre class="kb-diff">', 1)[1].split("</pre>", 1)[0]
    # Each line is a block of its own: no newline between them (it showed as a blank line).
    assert "</span>\n" not in diff
    assert '<span class="kb-diff__removed">- Step two.</span>' in diff
    assert '<span class="kb-diff__added">+ Step 2.</span>' in diff


def test_editor_says_when_a_translation_is_in_a_language_the_help_center_does_not_offer(
    admin_user, agent_user
):
    from concierge.knowledge.services import help_center_settings

    _, section = make_structure(admin_user)
    article = make_article(agent_user, section)
    client = signed_in_client(agent_user)
    offered = help_center_settings().offered_locales
    unoffered = next(code for code in ("de", "it", "nl", "pl") if code not in offered)

    source = client.get(f"/knowledge/articles/{article.pk}/").content.decode()
    other = client.get(f"/knowledge/articles/{article.pk}/?locale={unoffered}").content.decode()

    assert "data-locale-not-offered" not in source
    assert "data-locale-not-offered" in other and f"does not offer “{unoffered}”" in other


def test_light_agent_reads_but_cannot_write(admin_user, agent_user, light_agent_user):
    _, section = make_structure(admin_user)
    article = make_article(agent_user, section)
    client = signed_in_client(light_agent_user)

    assert client.get("/knowledge/").status_code == 200
    refused = client.post(f"/knowledge/articles/{article.pk}/delete/")

    assert refused.status_code == 403 and Article.objects.filter(pk=article.pk).exists()


def test_admin_organizes_and_brands_the_help_center(admin_user):
    client = signed_in_client(admin_user)

    client.post("/knowledge/structure/", {"kind": "category", "name": "Shipping", "position": 0})
    category = Category.objects.get()
    client.post(
        "/knowledge/structure/",
        {"kind": "section", "name": "Returns", "category_id": category.pk, "position": 1},
    )
    branded = client.post(
        "/knowledge/branding/",
        {"name": "Acme Help", "tagline": "Hi", "primary_color": "#112233",
         "accent_color": "#445566", "text_color": "#000000", "background_color": "#ffffff",
         "default_locale": "en", "locales": "fr"},
    )  # fmt: skip

    assert category.sections.get().name == "Returns"
    assert branded.status_code == 302
    assert HelpCenterSettings.objects.get().locales == ["fr"]
    assert signed_in_client(admin_user).get("/knowledge/reports/").status_code == 200
    # Admins are told how to bring a help center over from Zendesk or Help Scout.
    structure_page = client.get("/knowledge/structure/").content.decode()
    assert 'href="/knowledge/import/"' in structure_page and "import_help_center" in structure_page


def test_agents_cannot_change_structure_or_branding(agent_user):
    client = signed_in_client(agent_user)

    assert (
        client.post(
            "/knowledge/structure/", {"kind": "category", "name": "X", "position": 0}
        ).status_code
        == 403
    )
    assert client.get("/knowledge/reports/").status_code == 403
    assert Category.objects.count() == 0
    structure_page = client.get("/knowledge/structure/").content.decode()
    assert "import_help_center" not in structure_page and "/knowledge/import/" not in structure_page


def test_composer_search_returns_insertable_articles(
    admin_user, agent_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _, section = make_structure(admin_user)
        make_article(agent_user, section, title="Refund policy", body="Refunds take **5 days**.")
        make_article(
            agent_user,
            section,
            title="Refund internal notes",
            body="Approve refunds.",
            visibility="internal",
        )

    page = (
        signed_in_client(agent_user)
        .get("/knowledge/composer-search/", {"kb_q": "refund"})
        .content.decode()
    )

    assert 'data-kb-url="http://testserver/portal/help/articles/' in page
    assert "Refunds take **5 days**." in page and "Agents only" in page


def test_ticket_page_has_the_picker_and_the_draft_action(admin_user, agent_user):
    make_structure(admin_user)
    ticket = TicketFactory()
    entry = EntryFactory(
        ticket=ticket, kind=EntryKind.PUBLIC_REPLY, author_user=agent_user, body_source="Do X."
    )
    client = signed_in_client(agent_user)

    page = client.get(f"/tickets/{ticket.pk}/").content.decode()
    created = client.post(f"/tickets/{ticket.pk}/entries/{entry.pk}/article/")

    assert 'x-data="kbPicker"' in page and "Save as a draft article" in page
    article = Article.objects.get()
    assert created["Location"] == f"/knowledge/articles/{article.pk}/"
    assert article.status == ArticleStatus.DRAFT


def test_the_picker_suggests_articles_for_the_ticket_before_any_typing(
    admin_user, agent_user, django_capture_on_commit_callbacks
):
    from tests.factories import TicketFactory

    with django_capture_on_commit_callbacks(execute=True):
        _, section = make_structure(admin_user)
        make_article(agent_user, section, title="Refund policy", body="Refunds take 5 days.")
        make_article(agent_user, section, title="Reset your password", body="Open settings.")
    ticket = TicketFactory(subject="Where is my refund?")
    client = signed_in_client(agent_user)

    picker = client.get(f"/tickets/{ticket.pk}/").content.decode()
    suggested = client.get(f"/knowledge/composer-search/?ticket={ticket.pk}").content.decode()
    typed = client.get(f"/knowledge/composer-search/?kb_q=password&ticket={ticket.pk}")

    assert f'hx-get="/knowledge/composer-search/?ticket={ticket.pk}"' in picker
    assert "Suggested for this ticket" in suggested
    assert suggested.index("Refund policy") < suggested.find("Reset your password") or (
        "Reset your password" not in suggested
    )
    assert "Suggested for this ticket" not in typed.content.decode()
    assert client.get("/knowledge/composer-search/?ticket=999999").status_code == 404

"""The public help center: pages, visibility, language, search, sitemap, files."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from concierge.knowledge import actions
from concierge.knowledge.models import HelpEvent
from concierge.tickets.actions import NewAttachment
from tests.conftest import signed_in_client
from tests.factories import make_customer_user
from tests.knowledge.helpers import article_url, make_article, make_structure

pytestmark = pytest.mark.django_db

HOME = "/portal/help/"


@pytest.fixture
def content(admin_user, agent_user, django_capture_on_commit_callbacks):
    # Executing the after-commit callbacks runs the search indexing tasks (inline in tests).
    with django_capture_on_commit_callbacks(execute=True):
        return _content(admin_user, agent_user)


def _content(admin_user, agent_user):
    category, section = make_structure(admin_user)
    public = make_article(
        agent_user, section, title="Reset your password",
        body="## Open settings\n\nChoose **Reset**.\n\n## Check your mail\n\nA link arrives.",
        tags=["password"],
    )  # fmt: skip
    related = make_article(agent_user, section, title="Change your email", tags=["password"])
    internal = make_article(
        agent_user, section, title="Refund override secret", visibility="internal"
    )
    draft = make_article(agent_user, section, title="Upcoming pricing draft", status="draft")
    archived = make_article(agent_user, section, title="Old archived fax guide", status="archived")
    return {
        "category": category, "section": section, "public": public, "related": related,
        "internal": internal, "draft": draft, "archived": archived,
    }  # fmt: skip


HIDDEN_TITLES = ("Refund override secret", "Upcoming pricing draft", "Old archived fax guide")


@pytest.mark.parametrize("who", ["anonymous", "customer"])
def test_internal_draft_and_archived_articles_never_reach_customers_or_visitors(content, who):
    client = Client() if who == "anonymous" else signed_in_client(make_customer_user())
    pages = [
        client.get(HOME),
        client.get(f"/portal/help/categories/{content['category'].pk}-{content['category'].slug}/"),
        client.get(f"/portal/help/sections/{content['section'].pk}-{content['section'].slug}/"),
        client.get("/portal/help/search/?q=secret+draft+archived+fax+pricing+refund"),
        client.get("/portal/help/suggest/?subject=refund+override&description=pricing+fax"),
        client.get("/portal/help/sitemap.xml"),
        client.get(article_url(content["public"])),
    ]
    for response in pages:
        assert response.status_code == 200
        text = response.content.decode()
        assert not any(title in text for title in HIDDEN_TITLES)
    for key in ("internal", "draft", "archived"):
        assert client.get(article_url(content[key])).status_code == 404
        assert (
            client.post(
                f"/portal/help/articles/{content[key].pk}/vote/", {"helpful": "yes"}
            ).status_code
            == 404
        )


def test_staff_read_internal_articles_and_preview_drafts_that_are_never_listed(
    content, light_agent_user
):
    client = signed_in_client(light_agent_user)
    assert client.get(article_url(content["internal"])).status_code == 200
    preview = client.get(article_url(content["draft"])).content.decode()
    assert "Preview of a draft" in preview
    assert "Upcoming pricing draft" not in client.get(HOME).content.decode()
    assert "Refund override secret" not in client.get("/portal/help/sitemap.xml").content.decode()


def test_home_lists_categories_and_popular_articles(content):
    page = Client().get(HOME).content.decode()

    assert "Billing" in page and "Reset your password" in page
    assert 'href="/portal/requests/new/"' in page  # contact support from every page
    assert 'rel="stylesheet" href="/portal/help/theme.css' in page


def test_article_page_has_toc_breadcrumbs_related_and_canonical(content):
    response = Client().get(article_url(content["public"]))
    page = response.content.decode()

    assert '<h2 id="section-open-settings">Open settings</h2>' in page
    assert 'href="#section-check-your-mail"' in page
    assert 'aria-label="Breadcrumb"' in page and "Billing basics" in page
    assert "Change your email" in page  # related by tag
    canonical = r"/portal/help/articles/\d+-reset-your-password/\?lang=en"
    assert re.search(rf'<link rel="canonical" href="http[^"]+{canonical}">', page)
    assert re.search(rf'<link rel="alternate" hreflang="en" href="http[^"]+{canonical}">', page)
    assert '<meta name="description" content="Open settings Choose Reset.' in page
    assert "style=" not in page and "<script>" not in page  # strict CSP: no inline anything


def test_old_slugs_and_bare_ids_redirect_to_the_canonical_address(content, agent_user):
    article = content["public"]
    actions.update_article(actor=agent_user, article=article, changes={"title": "Reset a password"})
    canonical = f"/portal/help/articles/{article.pk}-reset-a-password/"

    old = Client().get(f"/portal/help/articles/{article.pk}-reset-your-password/")
    bare = Client().get(f"/portal/help/articles/{article.pk}/")

    assert (old.status_code, old["Location"]) == (301, canonical)
    assert (bare.status_code, bare["Location"]) == (302, canonical)


def test_visitor_language_from_accept_language_query_and_cookie_with_fallback(
    content, admin_user, agent_user
):
    actions.save_branding(actor=admin_user, changes={"locales": "fr de"})
    article = content["public"]
    actions.update_article(
        actor=agent_user, article=article, locale="fr",
        changes={"title": "Réinitialiser le mot de passe", "body": "Ouvrez les réglages."},
    )  # fmt: skip
    french_url = f"/portal/help/articles/{article.pk}-reinitialiser-le-mot-de-passe/"
    client = Client()

    by_header = client.get(article_url(article), headers={"accept-language": "fr-CH, en;q=0.5"})
    assert by_header.status_code == 301 and by_header["Location"] == french_url
    assert (
        "Réinitialiser"
        in client.get(french_url, headers={"accept-language": "fr"}).content.decode()
    )

    picked = client.get(HOME + "?lang=de")
    assert picked.cookies["hc_lang"].value == "de"
    german = client.get(article_url(article)).content.decode()  # no German text: English
    assert "Reset your password" in german and "not available in your language" in german


def test_search_page_finds_published_articles_and_carries_a_signed_search_event(content):
    page = Client().get("/portal/help/search/?q=password").content.decode()

    assert "Reset your password" in page
    assert 'data-help-event="' in page and HelpEvent.objects.count() == 0  # a GET writes nothing


def test_search_results_filter_by_category_with_counts(
    content, admin_user, agent_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        accounts, section = make_structure(admin_user, name="Accounts")
        make_article(agent_user, section, title="Password rules", body="Twelve characters.")
        hidden, secret = make_structure(admin_user, name="Staff")
        make_article(
            agent_user, secret, title="Password resets by phone", visibility="internal"
        )  # an agents-only category is never counted for visitors
    billing = content["category"]

    page = Client().get("/portal/help/search/?q=password").content.decode()
    only = Client().get(f"/portal/help/search/?q=password&category={accounts.pk}")
    bogus = Client().get(f"/portal/help/search/?q=password&category={hidden.pk}").content.decode()

    assert 'aria-label="Filter by category"' in page
    assert f"category={accounts.pk}" in page and "Accounts (1)" in page
    assert f"category={billing.pk}" in page and "Staff" not in page
    filtered = only.content.decode()
    assert "Password rules" in filtered and "Reset your password" not in filtered
    assert "1 result" in filtered
    # Filtering is the same search: no second search event to record.
    assert 'data-help-event="' not in filtered
    assert "Reset your password" in bogus and "Password resets by phone" not in bogus


def test_a_search_over_the_limit_is_cut_and_says_so(content):
    from concierge.knowledge.services import SEARCH_QUERY_MAX_CHARS

    long_search = "password " + "x" * SEARCH_QUERY_MAX_CHARS
    page = Client().get("/portal/help/search/", {"q": long_search}).content.decode()
    short = Client().get("/portal/help/search/?q=password").content.decode()

    assert "Reset your password" in page
    assert f"limited to {SEARCH_QUERY_MAX_CHARS} characters" in page
    assert "limited to" not in short


def test_sitemap_and_robots(content):
    sitemap = Client().get("/portal/help/sitemap.xml")
    robots = Client().get("/robots.txt").content.decode()

    assert sitemap["Content-Type"].startswith("application/xml")
    assert (
        f"/portal/help/articles/{content['public'].pk}-reset-your-password/?lang=en"
        in sitemap.content.decode()
    )
    assert "Sitemap: " in robots and "Allow: /portal/help/" in robots


def test_theme_stylesheet_prints_the_branding_colours(admin_user):
    actions.save_branding(actor=admin_user, changes={"primary_color": "#AA3300"})

    css = Client().get("/portal/help/theme.css")

    assert css["Content-Type"].startswith("text/css")
    assert "--portal-brand: #aa3300;" in css.content.decode()


def test_branding_refuses_colours_that_are_not_hex(admin_user):
    from concierge.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as error:
        actions.save_branding(actor=admin_user, changes={"primary_color": "red;}body{x:y"})
    assert "primary_color" in error.value.field_errors


def test_article_images_show_inline_and_files_download_for_readers_only(content, agent_user):
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
    )
    files = [
        NewAttachment("shot.png", png, "image/png"),
        NewAttachment("guide.pdf", b"%PDF", "application/pdf"),
    ]
    image, document = actions.add_attachments(
        actor=agent_user, article=content["public"], attachments=files
    )
    (hidden,) = actions.add_attachments(
        actor=agent_user, article=content["internal"], attachments=[NewAttachment("x.pdf", b"%PDF")]
    )

    shown = Client().get(f"/portal/help/files/{image.pk}/shot.png")
    downloaded = Client().get(f"/portal/help/files/{document.pk}/guide.pdf")

    assert shown["Content-Type"] == "image/png" and "attachment" not in shown.get(
        "Content-Disposition", ""
    )
    assert downloaded["Content-Disposition"].startswith("attachment")
    assert Client().get(f"/portal/help/files/{hidden.pk}/x.pdf").status_code == 404


def test_executable_attachments_are_refused_like_ticket_attachments(content, agent_user):
    from concierge.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        actions.add_attachments(
            actor=agent_user,
            article=content["public"],
            attachments=[NewAttachment("x.svg", b"<svg/>")],
        )


def test_search_falls_back_to_the_database_when_the_search_service_is_missing(content, monkeypatch):
    from concierge.knowledge import services

    monkeypatch.setattr(services, "_search_service", lambda: None)
    page = Client().get("/portal/help/search/?q=reset+password").content.decode()
    hidden = Client().get("/portal/help/search/?q=secret").content.decode()

    assert "Reset your password" in page
    assert "Refund override secret" not in hidden and "0 results" in hidden


def test_logo_is_served_at_an_address_naming_the_file(admin_user):
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
    )
    branding = actions.save_branding(
        actor=admin_user, changes={}, logo=NewAttachment("brand.png", png, "image/png")
    )

    page = Client().get(HOME).content.decode()
    logo = Client().get(f"/portal/help/logo/{branding.logo_filename}")

    assert f'src="/portal/help/logo/{branding.logo_filename}"' in page
    assert logo["Content-Type"] == "image/png" and b"".join(logo.streaming_content) == png
    assert Client().get("/portal/help/logo/other.png").status_code == 404


def test_script_in_an_article_title_body_or_search_never_runs(admin_user, agent_user):
    _, section = make_structure(admin_user)
    evil = "<script>alert(1)</script>"
    article = make_article(
        agent_user,
        section,
        title=f"Evil {evil} title",
        body=f"Body {evil} <img src=x onerror=alert(2)> [x](javascript:alert(3))",
    )

    page = Client().get(article_url(article)).content.decode()
    results = Client().get("/portal/help/search/?q=evil+<script>").content.decode()

    for html in (page, results):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert 'href="javascript' not in html
    assert "Evil &lt;script&gt;alert(1)&lt;/script&gt; title" in page


def test_help_center_pages_do_not_query_per_article(admin_user, agent_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _, section = make_structure(admin_user)
    first = make_article(agent_user, section, title="Article zero", tags=["x"])
    make_article(agent_user, section, title="Article one", tags=["x"])  # a related article

    def queries() -> list[int]:
        counts = []
        for url in (HOME, article_url(first), "/portal/help/sitemap.xml"):
            with CaptureQueriesContext(connection) as captured:
                assert Client().get(url).status_code == 200
            counts.append(len(captured.captured_queries))
        return counts

    few = queries()
    for number in range(15):
        make_article(agent_user, section, title=f"Article {number}", tags=["x"])

    # Related articles may need one query fewer once enough share a tag; never more.
    assert all(many <= before for many, before in zip(queries(), few, strict=True))

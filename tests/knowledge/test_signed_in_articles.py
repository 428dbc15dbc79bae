"""Articles for signed-in customers: hidden from visitors and crawlers, read after signing in."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import PASSWORD, signed_in_client
from tests.factories import make_customer_user
from tests.knowledge.helpers import article_url, make_article, make_structure

pytestmark = pytest.mark.django_db

HOME = "/portal/help/"
TITLE = "Export your account statements"


@pytest.fixture
def articles(admin_user, agent_user, django_capture_on_commit_callbacks):
    # After-commit callbacks run the search indexing tasks (inline in tests).
    with django_capture_on_commit_callbacks(execute=True):
        _, public_section = make_structure(admin_user, name="Getting started")
        category, section = make_structure(admin_user, name="Your account")
        public = make_article(agent_user, public_section, title="Open an account")
        signed_in = make_article(
            agent_user,
            section,
            title=TITLE,
            body="## Statements\n\nChoose **Statements**, then *Export as CSV*.",
            visibility="signed_in",
        )
    return {"category": category, "section": section, "public": public, "signed_in": signed_in}


def _visitor_pages(client: Client, content: dict) -> list[str]:  # type: ignore[type-arg]
    category, section = content["category"], content["section"]
    responses = [
        client.get(HOME),
        client.get(f"/portal/help/categories/{category.pk}-{category.slug}/"),
        client.get(f"/portal/help/sections/{section.pk}-{section.slug}/"),
        client.get("/portal/help/search/?q=export+account+statements"),
        client.get("/portal/help/suggest/?subject=export+statements&description=csv"),
        client.get("/portal/help/sitemap.xml"),
        client.get(article_url(content["public"])),
    ]
    return [
        response.content.decode() if response.status_code == 200 else "" for response in responses
    ]


def test_visitors_never_see_it_and_are_asked_to_sign_in_at_its_address(articles) -> None:
    visitor = Client()
    for page in _visitor_pages(visitor, articles):
        assert TITLE not in page and "Export as CSV" not in page

    response = visitor.get(article_url(articles["signed_in"]))
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/login/?next=")
    assert TITLE not in response.content.decode()
    vote = visitor.post(
        f"/portal/help/articles/{articles['signed_in'].pk}/vote/", {"helpful": "yes"}
    )
    assert vote.status_code == 404
    listed = Client().get("/api/v1/kb/articles")
    assert TITLE not in listed.content.decode()
    # Signing in there comes back to the article.
    customer = make_customer_user()
    signed_in = visitor.post(
        response["Location"], {"email": customer.email, "password": PASSWORD}, follow=True
    )
    assert signed_in.redirect_chain[-1][0] == article_url(articles["signed_in"])
    assert "Export as CSV" in signed_in.content.decode()


def test_signed_in_customers_list_read_and_find_it(articles) -> None:
    customer = signed_in_client(make_customer_user())

    assert "Your account" in customer.get(HOME).content.decode()  # its category shows
    section = articles["section"]
    assert (
        TITLE
        in customer.get(f"/portal/help/sections/{section.pk}-{section.slug}/").content.decode()
    )
    page = customer.get(article_url(articles["signed_in"]))
    assert page.status_code == 200
    assert (
        "Export as CSV" in page.content.decode()
        and "For signed-in customers" in page.content.decode()
    )
    assert (
        TITLE in customer.get("/portal/help/search/?q=export+account+statements").content.decode()
    )
    # Still not for crawlers, whoever fetches the sitemap.
    assert TITLE not in customer.get("/portal/help/sitemap.xml").content.decode()


def test_a_draft_for_signed_in_customers_is_not_found_for_visitors(admin_user, agent_user) -> None:
    _, section = make_structure(admin_user)
    draft = make_article(agent_user, section, title=TITLE, status="draft", visibility="signed_in")

    assert Client().get(article_url(draft)).status_code == 404  # nothing to read: not "sign in"
    assert signed_in_client(make_customer_user()).get(article_url(draft)).status_code == 404


def test_unknown_visibility_is_refused_naming_the_choices(admin_user, agent_user) -> None:
    from concierge.core.errors import ValidationFailed

    _, section = make_structure(admin_user)
    with pytest.raises(ValidationFailed) as refused:
        make_article(agent_user, section, visibility="members")
    assert "public, signed_in, organizations, internal" in str(
        refused.value.field_errors["visibility"]
    )


def test_agents_filter_the_article_list_by_who_may_read(articles, agent_user) -> None:
    client = signed_in_client(agent_user)

    signed_in_only = client.get("/knowledge/?visibility=signed_in").content.decode()
    assert TITLE in signed_in_only and "Open an account" not in signed_in_only
    everyone = client.get("/knowledge/?visibility=public").content.decode()
    assert "Open an account" in everyone and TITLE not in everyone
    unknown = client.get("/knowledge/?visibility=members").content.decode()
    assert TITLE in unknown and "Open an account" in unknown  # an unknown value filters nothing

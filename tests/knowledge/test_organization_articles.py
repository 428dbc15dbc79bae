"""Articles for chosen organizations (Zendesk Guide's user segments by organization).

Only customers of the organizations named on the article read it, list it and
find it; visitors are asked to sign in; customers of any other organization,
or of none, are told there is no such article; agents see all of it.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from concierge.core import policy
from concierge.core.errors import LimitExceeded, NotFound, ValidationFailed
from concierge.knowledge import actions, services
from concierge.knowledge.actions import ARTICLE_ORGANIZATIONS_MAX
from tests.conftest import signed_in_client
from tests.factories import (
    CustomerFactory,
    EntryFactory,
    OrganizationFactory,
    TicketFactory,
    make_customer_user,
)
from tests.knowledge.helpers import article_url, make_article, make_structure

pytestmark = pytest.mark.django_db

TITLE = "Single sign-on setup for company logins"
BODY = "## Your identity provider\n\nAcme signs in through **Okta**: choose *Company login*."


@pytest.fixture
def content(admin_user, agent_user, django_capture_on_commit_callbacks):
    acme, globex, initech = (
        OrganizationFactory(name="Acme"),
        OrganizationFactory(name="Globex"),
        OrganizationFactory(name="Initech"),
    )
    # After-commit callbacks run the search indexing tasks (inline in tests).
    with django_capture_on_commit_callbacks(execute=True):
        category, section = make_structure(admin_user, name="Company accounts")
        public = make_article(agent_user, section, title="Company accounts explained")
        restricted = make_article(
            agent_user,
            section,
            title=TITLE,
            body=BODY,
            visibility="organizations",
            organization_ids=[acme.pk, initech.pk],
        )
    return {
        "acme": acme,
        "globex": globex,
        "initech": initech,
        "category": category,
        "section": section,
        "public": public,
        "article": restricted,
    }


def _pages(client: Client, content: dict) -> str:  # type: ignore[type-arg]
    """Every help center page an article may be listed or found on, as one text."""
    category, section = content["category"], content["section"]
    responses = [
        client.get("/portal/help/"),
        client.get(f"/portal/help/categories/{category.pk}-{category.slug}/"),
        client.get(f"/portal/help/sections/{section.pk}-{section.slug}/"),
        client.get("/portal/help/search/?q=single+sign-on+okta+company+login"),
        client.get("/portal/help/suggest/?subject=single+sign-on&description=okta+login"),
        client.get("/portal/help/sitemap.xml"),
        client.get("/api/v1/kb/articles"),
        client.get("/api/v1/search?q=single+sign-on+okta&kinds=article"),
    ]
    return "\n".join(r.content.decode() for r in responses if r.status_code == 200)


def test_customers_of_a_chosen_organization_list_read_and_find_it(content) -> None:
    for organization in (content["acme"], content["initech"]):
        client = signed_in_client(make_customer_user(organization=organization))
        pages = _pages(client, content)
        assert pages.count(TITLE) >= 4, organization.name  # section, search, suggest, API
        page = client.get(article_url(content["article"]))
        assert page.status_code == 200
        assert "Okta" in page.content.decode() and "For your organization" in page.content.decode()
    # Never for crawlers, whoever fetches the sitemap.
    acme = signed_in_client(make_customer_user(organization=content["acme"]))
    assert TITLE not in acme.get("/portal/help/sitemap.xml").content.decode()


def test_other_customers_find_nothing_and_get_not_found(content) -> None:
    for organization in (content["globex"], None):
        client = signed_in_client(make_customer_user(organization=organization))
        pages = _pages(client, content)
        assert TITLE not in pages and "Okta" not in pages
        assert "Company accounts explained" in pages  # the same pages list the public one
        page = client.get(article_url(content["article"]))
        assert page.status_code == 404  # not "sign in": signing in would not help
        assert TITLE not in page.content.decode()
        vote = client.post(
            f"/portal/help/articles/{content['article'].pk}/vote/", {"helpful": "yes"}
        )
        assert vote.status_code == 404


def test_visitors_are_asked_to_sign_in_and_then_read_it_if_it_is_for_them(content) -> None:
    visitor = Client()
    assert TITLE not in _pages(visitor, content)
    response = visitor.get(article_url(content["article"]))
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/login/?next=")
    # What the sign-in asks never says whose article it is.
    login = visitor.get(response["Location"]).content.decode()
    assert "Acme" not in login and "Initech" not in login and TITLE not in login


def test_an_article_in_two_organizations_is_listed_once(content) -> None:
    reader = make_customer_user(organization=content["acme"])
    listed = services.published_for(reader, content["section"].articles.all())
    assert sorted(article.title_for_test for article in _titled(listed)) == sorted(
        ["Company accounts explained", TITLE]
    )


def _titled(articles):  # type: ignore[no-untyped-def]
    for article in articles:
        article.title_for_test = article.translations.get().title
        yield article


def test_agents_and_identified_chat_visitors(content, agent_user, light_agent_user) -> None:
    for staff in (agent_user, light_agent_user):
        assert services.get_article(user=staff, article_id=content["article"].pk)
    page = signed_in_client(agent_user).get(article_url(content["article"])).content.decode()
    assert "For chosen organizations" in page and "For your organization" not in page
    acme_customer = CustomerFactory(organization=content["acme"])
    globex_customer = CustomerFactory(organization=content["globex"])
    # A chat visitor the host site identified reads what their organization reads.
    visitor = policy.IdentifiedVisitor(customer_id=acme_customer.pk)
    assert services.get_article(user=visitor, article_id=content["article"].pk)
    titles = [hit.title for hit in services_search(visitor, "single sign-on okta")]
    assert TITLE in titles
    stranger = policy.IdentifiedVisitor(customer_id=globex_customer.pk)
    with pytest.raises(NotFound):
        services.get_article(user=stranger, article_id=content["article"].pk)
    assert TITLE not in [hit.title for hit in services_search(stranger, "single sign-on okta")]


def services_search(user, text):  # type: ignore[no-untyped-def]
    from concierge.search import services as search_services

    return search_services.search(user=user, query=text, kinds=("article",), limit=10)


def test_a_customer_who_changes_organization_loses_it(content) -> None:
    user = make_customer_user(organization=content["acme"])
    assert services.can_read_article(user=user, article_id=content["article"].pk)
    customer = user.customer
    customer.organization = content["globex"]
    customer.save()
    user.refresh_from_db()
    assert not services.can_read_article(user=user, article_id=content["article"].pk)


def test_the_choice_is_checked(admin_user, agent_user) -> None:
    _, section = make_structure(admin_user)
    acme = OrganizationFactory(name="Acme")
    with pytest.raises(ValidationFailed) as missing:
        make_article(agent_user, section, visibility="organizations")
    assert "Choose at least one organization." in missing.value.field_errors["organization_ids"]
    with pytest.raises(ValidationFailed) as empty:
        make_article(agent_user, section, visibility="organizations", organization_ids=[])
    assert "organization_ids" in empty.value.field_errors
    with pytest.raises(ValidationFailed) as unknown:
        make_article(
            agent_user, section, visibility="organizations", organization_ids=[acme.pk, 999_999]
        )
    assert "Unknown organizations: 999999." == unknown.value.message
    with pytest.raises(ValidationFailed):
        make_article(agent_user, section, visibility="organizations", organization_ids="1,2")
    with pytest.raises(LimitExceeded) as too_many:
        make_article(
            agent_user,
            section,
            visibility="organizations",
            organization_ids=list(range(1, ARTICLE_ORGANIZATIONS_MAX + 2)),
        )
    assert f"at most {ARTICLE_ORGANIZATIONS_MAX} organizations" in too_many.value.message


def test_other_visibilities_clear_the_list_and_other_edits_keep_it(content, agent_user) -> None:
    article = content["article"]
    actions.update_article(actor=agent_user, article=article, changes={"title": "SSO for you"})
    assert set(article.organizations.values_list("name", flat=True)) == {"Acme", "Initech"}

    actions.update_article(actor=agent_user, article=article, changes={"visibility": "public"})
    assert not article.organizations.exists()
    # Restricted again, it asks for a fresh choice instead of reviving a forgotten one.
    with pytest.raises(ValidationFailed):
        actions.update_article(
            actor=agent_user, article=article, changes={"visibility": "organizations"}
        )


def test_the_editor_sets_and_shows_the_organizations(content, agent_user) -> None:
    client = signed_in_client(agent_user)
    article = content["article"]
    page = client.get(f"/knowledge/articles/{article.pk}/").content.decode()
    assert 'data-shown-with="id_visibility:organizations"' in page
    assert f'<option value="{content["acme"].pk}" selected>Acme</option>' in page

    translation = article.translations.get()
    form = {
        "title": translation.title,
        "body": translation.body_source,
        "section_id": content["section"].pk,
        "status": "published",
        "visibility": "organizations",
        "organization_ids": [content["globex"].pk],
        "position": 0,
    }
    saved = client.post(f"/knowledge/articles/{article.pk}/", form)
    assert saved.status_code == 302
    assert list(article.organizations.values_list("name", flat=True)) == ["Globex"]

    refused = client.post(f"/knowledge/articles/{article.pk}/", {**form, "organization_ids": []})
    assert refused.status_code == 422
    assert "Choose at least one organization." in refused.content.decode()
    # Made public, the hidden list is not read and the article's list is cleared.
    client.post(f"/knowledge/articles/{article.pk}/", {**form, "visibility": "public"})
    article.refresh_from_db()
    assert article.visibility == "public" and not article.organizations.exists()


def test_the_api_takes_and_shows_the_organizations_to_staff_only(content, agent_user) -> None:
    staff = signed_in_client(agent_user)
    created = staff.post(
        "/api/v1/kb/articles",
        json.dumps(
            {
                "section_id": content["section"].pk,
                "title": "Globex's invoices",
                "body": "Globex is billed monthly.",
                "status": "published",
                "visibility": "organizations",
                "organization_ids": [content["globex"].pk],
            }
        ),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="org-article-1",
    )
    assert created.status_code == 201, created.content
    assert created.json()["organization_ids"] == [content["globex"].pk]
    public = staff.get(f"/api/v1/kb/articles/{content['public'].pk}").json()
    assert public["organization_ids"] == []

    refused = staff.patch(
        f"/api/v1/kb/articles/{content['public'].pk}",
        json.dumps({"visibility": "organizations"}),
        content_type="application/json",
    )
    assert refused.status_code == 422
    assert "organization_ids" in refused.content.decode()

    reader = signed_in_client(make_customer_user(organization=content["acme"]))
    shown = reader.get(f"/api/v1/kb/articles/{content['article'].pk}").json()
    assert shown["title"] == TITLE and shown["organization_ids"] is None  # whose it is: staff's


def test_the_composer_warns_when_the_customer_could_not_open_a_link(
    content, agent_user, django_capture_on_commit_callbacks
) -> None:
    client = signed_in_client(agent_user)
    ticket_for = {}
    for name in ("acme", "globex"):
        ticket = TicketFactory(requester=CustomerFactory(organization=content[name]))
        EntryFactory(ticket=ticket, author_customer=ticket.requester, body_html="<p>Okta</p>")
        ticket_for[name] = ticket

    def picker(ticket):  # type: ignore[no-untyped-def]
        return client.get(
            f"/knowledge/composer-search/?kb_q=single+sign-on+okta&ticket={ticket.pk}"
        ).content.decode()

    acme_view, globex_view = picker(ticket_for["acme"]), picker(ticket_for["globex"])
    assert TITLE in acme_view and TITLE in globex_view  # agents find it either way
    assert "Chosen organizations" in acme_view
    assert "data-requester-cannot-read" not in acme_view
    assert "data-requester-cannot-read" in globex_view

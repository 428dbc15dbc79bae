"""An agent writes an article for one client organization; only that client's customers read it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from concierge.knowledge.models import Article
from tests.e2e.conftest import PageWatch, assert_clean, sign_in_agent, sign_in_customer
from tests.factories import OrganizationFactory, make_customer_user
from tests.knowledge.helpers import make_structure, reset_search_caches

TITLE = "Single sign-on for your company"


@pytest.fixture(autouse=True)
def _fresh_search_caches() -> Iterator[None]:
    # The live server's database is flushed after the test: so must its cached vectors be.
    reset_search_caches()
    yield
    reset_search_caches()


def test_an_article_for_one_organization_reaches_its_customers_only(
    new_page: Any, watch: PageWatch, admin_user: Any, agent_user: Any, password: str
) -> None:
    make_structure(admin_user, name="Company accounts")
    acme, globex = OrganizationFactory(name="Acme"), OrganizationFactory(name="Globex")
    acme_reader = make_customer_user(organization=acme, email="ana@acme.test")
    globex_reader = make_customer_user(organization=globex, email="gus@globex.test")

    # The agent writes it: the organizations list shows only for "Chosen organizations".
    agent = new_page()
    sign_in_agent(agent, agent_user.email, password)
    agent.goto("/knowledge/articles/new/")
    agent.get_by_label("Title").fill(TITLE)
    agent.get_by_label("Body").fill("## Okta\n\nChoose **Company login** and sign in with Okta.")
    agent.get_by_label("Status").select_option("published")
    organizations = agent.get_by_label("For the customers of")
    expect(organizations).to_be_hidden()
    agent.get_by_label("Visible to").select_option("organizations")
    expect(organizations).to_be_visible()
    # A filter by name narrows a long list; the count says how many are chosen.
    name_filter = agent.get_by_label("Filter organizations by name")
    expect(agent.locator("[data-chosen-count]")).to_have_text("0 chosen")
    name_filter.fill("glob")
    expect(organizations.locator("option", has_text="Acme")).to_be_hidden()
    name_filter.fill("acm")
    expect(organizations.locator("option", has_text="Globex")).to_be_hidden()
    organizations.select_option(label="Acme")
    expect(agent.locator("[data-chosen-count]")).to_have_text("1 chosen")
    name_filter.fill("glob")
    expect(organizations.locator("option", has_text="Acme")).to_be_attached()
    assert organizations.locator("option", has_text="Acme").evaluate("o => !o.hidden")
    agent.get_by_role("button", name="Save").click()
    expect(agent.get_by_role("heading", name="Edit article")).to_be_visible()
    article = Article.objects.get()
    assert article.visibility == "organizations"
    assert list(article.organizations.values_list("name", flat=True)) == ["Acme"]
    address = agent.get_by_role("link", name=re.compile("View in help center")).get_attribute(
        "href"
    )
    assert address

    # Acme's customer finds it and reads it.
    reader = new_page()
    sign_in_customer(reader, acme_reader.email, password)
    reader.goto("/portal/help/")
    reader.get_by_label("Search the help center").fill("company login okta")
    reader.get_by_role("button", name="Search").click()
    reader.get_by_role("link", name=TITLE).click()
    expect(reader.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    expect(reader.get_by_text("For your organization")).to_be_visible()

    # Globex's customer neither finds it nor opens it.
    stranger = new_page()
    sign_in_customer(stranger, globex_reader.email, password)
    stranger.goto("/portal/help/search/?q=company+login+okta")
    expect(stranger.get_by_role("link", name=TITLE)).to_have_count(0)
    response = stranger.goto(address)
    assert response is not None and response.status == 404
    # That "not found" is what the browser reports as the one console error.
    expected = [error for error in watch.console_errors if "404" in error and address in error]
    assert len(expected) == 1
    watch.console_errors.remove(expected[0])
    assert_clean(watch)

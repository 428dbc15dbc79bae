"""A customer helps themselves in the help center, and gets suggestions while writing a request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from concierge.knowledge.models import ArticleVote, EventKind, HelpEvent
from tests.e2e.conftest import PageWatch, assert_clean, sign_in_agent, sign_in_customer
from tests.factories import TicketFactory, make_customer_user
from tests.knowledge.helpers import make_article, make_structure, reset_search_caches


@pytest.fixture(autouse=True)
def _fresh_search_caches() -> Iterator[None]:
    # The live server's database is flushed after the test: so must its cached vectors be.
    reset_search_caches()
    yield
    reset_search_caches()


def _is_event_post(response: Any) -> bool:
    return "/portal/help/events/" in response.url and response.request.method == "POST"


def test_customer_browses_searches_reads_votes_and_sees_suggestions(
    new_page: Any, watch: PageWatch, admin_user: Any, agent_user: Any, password: str
) -> None:
    _, section = make_structure(admin_user, name="Account")
    make_article(
        agent_user,
        section,
        title="Reset your password",
        body="## Reset it yourself\n\nChoose **Forgot password?**\n\n## No email?\n\nCheck spam.",
    )
    make_article(agent_user, section, title="Delete your account", body="Ask support.")
    customer = make_customer_user(name="Hana Helpme", email="hana@customers.test")
    page = new_page()

    # Browse: home -> category.
    page.goto("/portal/help/")
    expect(page.get_by_role("heading", name="How can we help?")).to_be_visible()
    page.get_by_role("link", name="Account", exact=True).click()
    expect(page.get_by_role("link", name="Reset your password")).to_be_visible()

    # Search from the header's box; the search is recorded with its result count.
    page.get_by_label("Search the help center").fill("reset password")
    with page.expect_response(_is_event_post):
        page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="Results for “reset password”")).to_be_visible()

    # Open the article: table of contents, then vote.
    with page.expect_response(_is_event_post):
        page.get_by_role("link", name="Reset your password").first.click()
    expect(page.get_by_role("heading", name="Reset your password", level=1)).to_be_visible()
    page.get_by_role("navigation", name="In this article").get_by_role(
        "link", name="No email?"
    ).click()
    assert page.url.endswith("#section-no-email")
    page.get_by_label("Anything we should add or fix?").fill("Clear, thanks")
    page.get_by_role("button", name="Yes").click()
    expect(page.get_by_text("Thank you for your feedback!")).to_be_visible()

    vote = ArticleVote.objects.get()
    assert vote.is_helpful and vote.comment == "Clear, thanks"
    search = HelpEvent.objects.get(kind=EventKind.SEARCH)
    assert search.query == "reset password" and search.result_count is not None
    assert search.result_count >= 1
    assert HelpEvent.objects.filter(kind=EventKind.VIEW, article=vote.article).count() == 1

    # Signed in, the customer starts a request: a matching article is suggested while typing.
    page.goto("/portal/login/")
    page.get_by_label("Email address").fill(customer.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/portal/requests/")
    page.goto("/portal/requests/new/")
    page.get_by_label("Subject").press_sequentially("I forgot my password", delay=20)
    suggestions = page.locator("#help-suggestions")
    expect(suggestions.get_by_role("link", name="Reset your password")).to_be_visible()

    assert_clean(watch)


def test_agent_inserts_an_article_link_from_the_reply_composer(
    new_page: Any, watch: PageWatch, admin_user: Any, agent_user: Any, password: str
) -> None:
    _, section = make_structure(admin_user, name="Orders")
    make_article(agent_user, section, title="Track your parcel", body="Use the tracking link.")
    ticket = TicketFactory(subject="Where is my parcel?")
    page = new_page()
    sign_in_agent(page, agent_user.email, password)

    page.goto(f"/tickets/{ticket.pk}/")
    page.get_by_role("button", name="Insert article").click()
    # Before any typing, the articles that may answer the ticket.
    results = page.locator("#kb-picker-results")
    expect(results).to_contain_text("Suggested for this ticket")
    expect(results).to_contain_text("Track your parcel")
    page.get_by_label("Search the knowledge base").fill("parcel")
    expect(results).not_to_contain_text("Suggested for this ticket")
    page.get_by_role("button", name="Insert link").first.click()

    body = page.locator('#composer textarea[name="body"]')
    link = r"^\[Track your parcel\]\(http://[^)]+/portal/help/articles/\d+-track-your-parcel/\)$"
    expect(body).to_have_value(re.compile(link))
    assert_clean(watch)


def test_an_admin_checks_then_imports_a_zendesk_export_and_the_old_address_leads_there(
    page: Any, watch: PageWatch, admin_user: Any, password: str, tmp_path: Any
) -> None:
    from tests.knowledge.test_import_page import _zip
    from tests.knowledge.test_imports import zendesk_payloads

    export = tmp_path / "zendesk-export.zip"
    export.write_bytes(_zip(zendesk_payloads()))
    sign_in_agent(page, admin_user.email, password)
    page.goto("/knowledge/structure/")
    page.get_by_role("navigation", name="Knowledge base").get_by_role("link", name="Import").click()

    page.get_by_label("From", exact=True).select_option("zendesk")
    page.get_by_label("Export (a ZIP").set_input_files(str(export))
    expect(page.get_by_label("Check only")).to_be_checked()
    page.get_by_role("button", name="Start").click()

    runs = page.locator("#import-runs")
    expect(runs).to_contain_text("Check of zendesk-export.zip")
    expect(runs).to_contain_text("Would import from Zendesk Guide: 1 new / 0 updated categories")
    expect(runs).to_contain_text("VIP pricing")  # held back: for some customers only
    expect(runs).to_contain_text("1 image(s) are still on another address")
    page.get_by_role("button", name="Import this export").click()

    expect(runs.locator("article").first).to_contain_text("Imported from Zendesk Guide")
    expect(page.get_by_role("button", name="Import this export")).to_have_count(0)
    page.goto("/hc/en-us/articles/406-Scripted")  # an article without the external image
    expect(page.get_by_role("heading", name="Scripted", level=1)).to_be_visible()
    assert_clean(watch)


def test_an_agent_flags_an_article_from_the_reply_composer_and_its_owner_resolves_it(
    new_page: Any, watch: PageWatch, admin_user: Any, agent_user: Any, password: str
) -> None:
    _, section = make_structure(admin_user, name="Orders")
    article = make_article(
        agent_user, section, title="Track your parcel", body="Use the tracking link.",
        owner_id=admin_user.pk,
    )  # fmt: skip
    ticket = TicketFactory(subject="Parcel stuck in customs")
    page = new_page()
    sign_in_agent(page, agent_user.email, password)

    page.goto(f"/tickets/{ticket.pk}/")
    page.get_by_role("button", name="Insert article").click()
    page.get_by_label("Search the knowledge base").fill("parcel")
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Flag Track your parcel for an update").click()
    article_page = opened.value
    article_page.get_by_label(f"Flag for an update (from ticket #{ticket.pk})").fill(
        "Say what to do when a parcel is stuck in customs."
    )
    article_page.get_by_role("button", name="Flag", exact=True).click()

    flags = article_page.locator("#flags")
    expect(flags).to_contain_text("1 open")
    expect(flags).to_contain_text(f"while answering #{ticket.pk}")

    owner = new_page()
    sign_in_agent(owner, admin_user.email, password)
    owner.goto("/notifications/")
    notice = re.compile("flagged “Track your parcel” for an update")
    owner.get_by_role("button", name=notice).click()
    expect(owner).to_have_url(re.compile(rf"/knowledge/articles/{article.pk}/#flags$"))
    owner.locator("#flags").get_by_role("button", name="Resolve").click()
    expect(owner.locator("#flags")).not_to_contain_text("open")
    expect(owner.locator("#flags")).to_contain_text("resolved by")
    assert_clean(watch)


def test_a_signed_in_customer_follows_an_article_and_unfollows_it(
    page: Any, watch: PageWatch, admin_user: Any, agent_user: Any, password: str
) -> None:
    _, section = make_structure(admin_user, name="Orders")
    article = make_article(agent_user, section, title="Track your parcel", body="Use the link.")
    customer = make_customer_user(name="Fran Follower", email="follower@example.com")

    page.goto(f"/portal/help/articles/{article.pk}/")
    expect(page.get_by_role("link", name="Sign in to follow this article")).to_be_visible()
    sign_in_customer(page, customer.email, password)
    page.goto(f"/portal/help/articles/{article.pk}/")
    page.locator("#follow").get_by_role("button", name="Follow").click()

    expect(page.locator("#follow")).to_contain_text("You follow this article.")
    page.locator("#follow").get_by_role("button", name="Unfollow").click()
    expect(page.locator("#follow").get_by_role("button", name="Follow")).to_be_visible()
    assert_clean(watch)
